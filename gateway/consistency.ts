import type { ApolloServerPlugin } from '@apollo/server';
import type express from 'express';
import type { GatewayConfig } from '../platform/config.js';
import { MAX_LSN_ENTRIES, formatLsn, isSubgraphName, parseLsn, parseLsnList } from '../platform/lsn.js';
import type { GatewayContext } from './context.js';

/**
 * Read-your-writes across requests and subgraphs, the gateway's half (the subgraphs' half is
 * platform/consistency.ts). Every subgraph fetch may report WAL positions it wrote
 * (`x-consistency-lsn: orders:0/16B3748`); the gateway folds them into one opaque token, returned
 * as `x-consistency-token` (and, if configured, an HTTP-only cookie). A client that sends the
 * token back has each subgraph fetch carry that subgraph's position, and the subgraph reads from a
 * replica only once the replica has replayed it. Positions learnt mid-request count at once: the
 * entity fetches that follow a mutation in the same plan read what it wrote.
 *
 * The token is base64url JSON `{ "<subgraph>": ["<lsn>", <unix seconds written>] }`, unsigned: a
 * forged position can only send the forger's own reads to the primary, for at most the TTL.
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

/** One request's view: what the client had seen written, plus what this request wrote. */
export class ConsistencyState {
  private changed = false;

  constructor(private readonly entries: Map<string, Written>) {}

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
    const body = Object.fromEntries([...this.entries].map(([name, e]) => [name, [formatLsn(e.lsn), e.at]]));
    return Buffer.from(JSON.stringify(body)).toString('base64url');
  }
}

/** Garbage, oversized or expired parts of a token are ignored, never an error: it is only a hint. */
export function decodeToken(token: string | undefined, ttlSeconds: number, now = Date.now()): Map<string, Written> {
  const entries = new Map<string, Written>();
  if (!token || token.length > MAX_TOKEN_LENGTH || !/^[\w-]+$/.test(token)) return entries;
  let body: unknown;
  try {
    body = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
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

export function createConsistency(config: Pick<GatewayConfig, 'CONSISTENCY_COOKIE' | 'CONSISTENCY_TOKEN_TTL_SECONDS' | 'NODE_ENV'>) {
  const ttl = config.CONSISTENCY_TOKEN_TTL_SECONDS;
  const useCookie = config.CONSISTENCY_COOKIE === 'true';
  const cookieAttributes = `Path=/; Max-Age=${ttl}; HttpOnly; SameSite=Lax${config.NODE_ENV === 'production' ? '; Secure' : ''}`;

  return {
    /** The token the client sent (header, else cookie when cookies are on), as this request's state. */
    fromRequest(req: express.Request): ConsistencyState {
      const header = req.header(CONSISTENCY_TOKEN_HEADER);
      const token = header ?? (useCookie ? cookieValue(req.header('cookie'), CONSISTENCY_COOKIE) : undefined);
      return new ConsistencyState(decodeToken(token, ttl));
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
