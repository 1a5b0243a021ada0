import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import type { ApolloServerPlugin } from '@apollo/server';
import type { IncomingMessage } from 'node:http';
import type { GatewayConfig } from '../platform/config.js';
import { headerOf } from '../platform/http.js';
import { MAX_LSN_ENTRIES, formatLsn, isSubgraphName, parseLsn, parseLsnList } from '../platform/lsn.js';
import type { GatewayContext, RequestConsistency } from './request.js';

/**
 * Read-your-writes across requests and subgraphs, the gateway's half (the subgraphs' half is
 * platform/consistency.ts). Every subgraph fetch may report WAL positions it wrote
 * (`x-consistency-lsn: orders:0/16B3748`); the gateway folds them into one opaque token, returned
 * as `x-consistency-token` (and, if configured, an HTTP-only cookie). A client that sends the
 * token back has each subgraph fetch carry that subgraph's position, and the subgraph reads from a
 * replica only once the replica has replayed it. Positions learnt mid-request count at once: the
 * entity fetches that follow a mutation in the same plan read what it wrote.
 *
 * The token is base64url JSON `{ "<subgraph>": ["<lsn>", <unix seconds written>] }`, a dot, and its
 * HMAC-SHA256. A token makes a request skip both caches and read from the primary, so an unsigned
 * one let any anonymous client turn every request into a full fan-out: a token whose signature does
 * not verify is ignored, as garbage is. The key is CONSISTENCY_TOKEN_SECRETS (the first signs, all
 * verify: rotation), else derived from the gateway's own signing key, which every gateway of one
 * deployment shares, so each accepts the others' tokens.
 * Expiry is safe because a replica further behind than DATABASE_REPLICA_MAX_LAG_MS is out of
 * rotation anyway, so keep the TTL above every subgraph's bound.
 */

export const CONSISTENCY_TOKEN_HEADER = 'x-consistency-token';
export const CONSISTENCY_COOKIE = 'consistency_token';
const MAX_TOKEN_LENGTH = 4096;
/** Clock skew between gateway instances we tolerate on "written at". */
const SKEW_SECONDS = 300;

interface Written {
  lsn: bigint;
  at: number;
}

/** Signs and verifies token bodies: HMAC-SHA256 under the first key; any key verifies. */
export interface TokenSigner {
  sign(body: string): string;
  verify(body: string, signature: string): boolean;
}

export function createTokenSigner(keys: Buffer[]): TokenSigner {
  const mac = (key: Buffer, body: string) => createHmac('sha256', key).update(body).digest();
  return {
    sign: (body) => mac(keys[0]!, body).toString('base64url'),
    verify(body, signature) {
      const given = Buffer.from(signature, 'base64url');
      return keys.some((key) => {
        const wanted = mac(key, body);
        return given.length === wanted.length && timingSafeEqual(given, wanted);
      });
    },
  };
}

/** CONSISTENCY_TOKEN_SECRETS, else a key derived (HKDF) from the gateway's private signing key. */
export function consistencyKeys(config: Pick<GatewayConfig, 'CONSISTENCY_TOKEN_SECRETS' | 'SERVICE_PRIVATE_JWK'>): Buffer[] {
  if (config.CONSISTENCY_TOKEN_SECRETS.length) return config.CONSISTENCY_TOKEN_SECRETS.map((s) => Buffer.from(s, 'utf8'));
  const d = (config.SERVICE_PRIVATE_JWK as { d?: unknown }).d;
  const secret = typeof d === 'string' ? d : JSON.stringify(config.SERVICE_PRIVATE_JWK);
  return [Buffer.from(hkdfSync('sha256', secret, 'supergraph-gateway', 'x-consistency-token', 32))];
}

/** One request's view: what the client had seen written, plus what this request wrote. */
export class ConsistencyState implements RequestConsistency {
  private changed = false;
  /** The client sent a valid token with positions: it reads its own writes (no cache may answer it). */
  readonly readsOwnWrites: boolean;

  constructor(
    private readonly entries: Map<string, Written>,
    private readonly signer: TokenSigner,
  ) {
    this.readsOwnWrites = entries.size > 0;
  }

  /** The position to forward to one subgraph. */
  lsnFor(subgraph: string): string | undefined {
    const entry = this.entries.get(subgraph);
    return entry && formatLsn(entry.lsn);
  }

  /** A subgraph's `x-consistency-lsn` response header. */
  absorb(header: string | null | undefined, now = Date.now()): void {
    for (const [name, lsn] of parseLsnList(header)) {
      const known = this.entries.get(name);
      if (known && known.lsn >= lsn) continue;
      this.entries.set(name, { lsn, at: Math.floor(now / 1000) });
      this.changed = true;
    }
  }

  /** A token to hand back: only when this request wrote something. */
  get newToken(): string | undefined {
    if (!this.changed) return undefined;
    const body = Buffer.from(
      JSON.stringify(Object.fromEntries([...this.entries].map(([name, e]) => [name, [formatLsn(e.lsn), e.at]]))),
    ).toString('base64url');
    return `${body}.${this.signer.sign(body)}`;
  }
}

/** Garbage, forged (unsigned, badly signed), oversized or expired tokens and parts are ignored, never an error: it is only a hint. */
export function decodeToken(token: string | undefined, ttlSeconds: number, signer: TokenSigner, now = Date.now()): Map<string, Written> {
  const entries = new Map<string, Written>();
  if (!token || token.length > MAX_TOKEN_LENGTH || !/^[\w-]+\.[\w-]+$/.test(token)) return entries;
  const [encoded, signature] = token.split('.') as [string, string];
  if (!signer.verify(encoded, signature)) return entries;
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8'));
  } catch {
    return entries;
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) return entries;
  const nowSeconds = Math.floor(now / 1000);
  for (const [name, value] of Object.entries(body).slice(0, MAX_LSN_ENTRIES)) {
    if (!isSubgraphName(name) || !Array.isArray(value) || value.length !== 2) continue;
    const lsn = parseLsn(typeof value[0] === 'string' ? value[0] : undefined);
    const at: unknown = value[1];
    if (lsn === undefined || typeof at !== 'number' || !Number.isInteger(at)) continue;
    if (at < nowSeconds - ttlSeconds || at > nowSeconds + SKEW_SECONDS) continue;
    entries.set(name, { lsn, at });
  }
  return entries;
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header || header.length > 16_384) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export function createConsistency(
  config: Pick<
    GatewayConfig,
    'CONSISTENCY_COOKIE' | 'CONSISTENCY_TOKEN_TTL_SECONDS' | 'NODE_ENV' | 'CONSISTENCY_TOKEN_SECRETS' | 'SERVICE_PRIVATE_JWK'
  >,
) {
  const ttl = config.CONSISTENCY_TOKEN_TTL_SECONDS;
  const signer = createTokenSigner(consistencyKeys(config));
  const useCookie = config.CONSISTENCY_COOKIE === 'true';
  const cookieAttributes = `Path=/; Max-Age=${ttl}; HttpOnly; SameSite=Lax${config.NODE_ENV === 'production' ? '; Secure' : ''}`;

  return {
    /** The token the client sent (header, else cookie when cookies are on), as this request's state. */
    fromRequest(req: IncomingMessage): ConsistencyState {
      const header = headerOf(req, CONSISTENCY_TOKEN_HEADER);
      const token = header ?? (useCookie ? cookieValue(headerOf(req, 'cookie'), CONSISTENCY_COOKIE) : undefined);
      return new ConsistencyState(decodeToken(token, ttl, signer), signer);
    },
    plugin: {
      async requestDidStart() {
        return {
          async willSendResponse({ contextValue, response }) {
            const token = contextValue.consistency?.newToken;
            if (!token) return;
            response.http.headers.set(CONSISTENCY_TOKEN_HEADER, token);
            if (useCookie) response.http.headers.set('set-cookie', `${CONSISTENCY_COOKIE}=${token}; ${cookieAttributes}`);
          },
        };
      },
    } satisfies ApolloServerPlugin<GatewayContext>,
  };
}
