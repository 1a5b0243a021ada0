import { LRUCache } from 'lru-cache';

/**
 * Tokens already verified, so the same token is not verified again on every request (an ES256
 * verify costs ~0.1 ms of CPU; an account page carries six service tokens). Keyed by the whole
 * token string, signature included, so only the very bytes that passed verification hit; any
 * other token (forged, altered, re-signed) misses and is verified in full. Bounded (LRU), and an
 * entry dies at the token's `exp`: a hit is re-checked against the clock, so a token is never
 * accepted at or past its expiry (the same rule as jose: valid while now < exp). `maxTtlMs` caps
 * an entry's life below `exp` where the verification itself depends on something that can change
 * (a remote JWKS from which a key may be withdrawn). Only successes are cached.
 */
export interface VerifiedTokens<T extends object> {
  get(token: string): T | undefined;
  /** `expiresAtMs`: the token's exp claim in ms. */
  set(token: string, value: T, expiresAtMs: number): void;
}

export function createVerifiedTokens<T extends object>(opts: { max: number; maxTtlMs?: number }): VerifiedTokens<T> {
  const cache = new LRUCache<string, { value: T; expiresAtMs: number }>({ max: opts.max });
  return {
    get(token) {
      const hit = cache.get(token);
      if (!hit) return undefined;
      if (Date.now() >= hit.expiresAtMs) {
        cache.delete(token);
        return undefined;
      }
      return hit.value;
    },
    set(token, value, expiresAtMs) {
      const now = Date.now();
      const until = Math.min(expiresAtMs, opts.maxTtlMs === undefined ? Number.POSITIVE_INFINITY : now + opts.maxTtlMs);
      if (!(until > now)) return;
      cache.set(token, { value, expiresAtMs: until });
    },
  };
}
