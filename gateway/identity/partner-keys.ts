import { createHash, randomBytes } from 'node:crypto';
import type { GatewayConfig } from '../../platform/config.js';
import type { Logger } from '../../platform/logger.js';
import type { ClientInfo, PartnerLimits } from '../request.js';

export const API_KEY_HEADER = 'x-api-key';

/** A configured key, or a registry one, which may carry its client's own limits. */
export type PartnerKey = GatewayConfig['PARTNER_API_KEYS'][number] & { limits?: PartnerLimits };

/**
 * Keys are 32 random bytes, so sha256 is all the storage needs: a slow password hash defends
 * guessable secrets against brute force, and nothing can guess 256 random bits. A fast hash also
 * keeps the check per request cheap. Only the hash is ever configured, logged or compared.
 */
export const hashApiKey = (key: string): string => createHash('sha256').update(key).digest('hex');

/** A new key for client: the secret (shown once) and the entry for PARTNER_API_KEYS. */
export function mintPartnerKey(client: string, now = new Date()): { key: string; entry: PartnerKey } {
  if (!/^[\w.-]+$/.test(client)) throw new Error(`client name must be letters, digits, "_", "." or "-": ${client}`);
  const key = `pk_${randomBytes(32).toString('base64url')}`;
  const id = `${client}-${now.toISOString().slice(0, 10)}-${randomBytes(3).toString('hex')}`;
  return { key, entry: { id, client, sha256: hashApiKey(key), revoked: false } };
}

/**
 * What a first-party client says it is (headers, or the same names in a WebSocket's
 * connectionParams); never trusted for anything but its safelist mode and metrics. The one place
 * a ClientInfo is built from claims.
 */
export const declaredClient = (header: (name: string) => string | undefined): ClientInfo => ({
  name: header('apollographql-client-name') ?? null,
  version: header('apollographql-client-version') ?? null,
  partnerId: null,
});

/**
 * Who is calling, from the request's headers (HTTP) or the same names in a WebSocket's
 * connectionParams: a partner, when `x-api-key` is a known, unrevoked key; else the first-party
 * client its headers declare. null: a key was sent and is unknown or revoked.
 */
export type ClientResolver = (header: (name: string) => string | undefined, requestId?: string) => ClientInfo | null;

export function createClientResolver(keys: readonly PartnerKey[] | (() => readonly PartnerKey[]), log: Logger): ClientResolver {
  // Looked up by hash: comparing hashes leaks nothing usable about a key through timing.
  const current = typeof keys === 'function' ? keys : () => keys;
  let seen: readonly PartnerKey[] | undefined;
  let byHash = new Map<string, PartnerKey>();
  const lookup = (sha256: string) => {
    const list = current();
    // Rebuilt only when the list changes (the client registry hands out a new array on change).
    if (list !== seen) {
      seen = list;
      byHash = new Map(list.map((k) => [k.sha256, k]));
    }
    return byHash.get(sha256);
  };
  return (header, requestId) => {
    const key = header(API_KEY_HEADER);
    if (key === undefined) return declaredClient(header);
    const entry = lookup(hashApiKey(key));
    if (!entry || entry.revoked) {
      log.info({ keyId: entry?.id ?? null, requestId }, entry ? 'revoked API key used' : 'unknown API key');
      return null;
    }
    return {
      name: entry.client,
      version: header('apollographql-client-version') ?? null,
      partnerId: entry.id,
      ...(entry.limits ? { limits: entry.limits } : {}),
    };
  };
}
