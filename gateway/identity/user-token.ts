import { createRemoteJWKSet } from 'jose';
import type { JWTPayload } from 'jose';
import type { GatewayConfig } from '../../platform/config.js';
import { ANONYMOUS } from '../../platform/auth/identity.js';
import type { Identity } from '../../platform/auth/identity.js';
import { unauthenticated } from '../../platform/errors.js';
import { createVerifiedTokens } from '../../platform/auth/verified-tokens.js';
import { verifyJwt } from '../../platform/auth/jwt-verify.js';

interface Issuer {
  jwks: ReturnType<typeof createRemoteJWKSet>;
  issuer: string;
  audience?: string;
  /** Pinned per issuer: a token can never pick its own algorithm (no `none`, no HS256 with a public key). */
  algorithms: string[];
}

/**
 * Turns `Authorization: Bearer <jwt>` into an Identity. Tokens come from the users service (ES256,
 * its JWKS) or an external identity provider configured by JWKS URL. No header means anonymous; a
 * header with a bad token is an error, never a silent downgrade to anonymous.
 */
export type ClientAuth = ReturnType<typeof createClientAuth>;

/** How long a fetched JWKS is trusted before it is fetched again (jose's default is 10 minutes too). */
const JWKS_MAX_AGE_MS = 10 * 60_000;
/** Distinct user tokens remembered per gateway process (~1 KB each), and for how long at most. */
const VERIFIED_TOKENS_MAX = 20_000;
const VERIFIED_TTL_MS = 60_000;

export function createClientAuth(config: GatewayConfig) {
  const issuers: Issuer[] = [
    {
      jwks: createRemoteJWKSet(new URL(config.USERS_JWKS_URL), { cacheMaxAge: JWKS_MAX_AGE_MS, cooldownDuration: 30_000 }),
      issuer: config.JWT_ISSUER,
      audience: config.JWT_AUDIENCE,
      algorithms: ['ES256'],
    },
  ];
  if (config.EXTERNAL_JWKS_URL && config.EXTERNAL_JWT_ISSUER) {
    issuers.push({
      jwks: createRemoteJWKSet(new URL(config.EXTERNAL_JWKS_URL), { cacheMaxAge: JWKS_MAX_AGE_MS }),
      issuer: config.EXTERNAL_JWT_ISSUER,
      ...(config.EXTERNAL_JWT_AUDIENCE ? { audience: config.EXTERNAL_JWT_AUDIENCE } : {}),
      algorithms: ['ES256', 'RS256', 'EdDSA'],
    });
  }

  // Verified user tokens, until their exp but at most VERIFIED_TTL_MS after their verification: the
  // JWKS is remote and an issuer may withdraw a key, which then stops vouching for a cached token
  // at most one minute after the JWKS cache (JWKS_MAX_AGE_MS) would have dropped it.
  const verified = createVerifiedTokens<JWTPayload>({ max: VERIFIED_TOKENS_MAX, maxTtlMs: VERIFIED_TTL_MS });

  async function verify(token: string): Promise<JWTPayload> {
    const hit = verified.get(token);
    if (hit) return hit;
    const payload = await verifyWithIssuers(token);
    verified.set(token, Object.freeze(payload), payload.exp! * 1000);
    return payload;
  }

  async function verifyWithIssuers(token: string): Promise<JWTPayload> {
    for (const issuer of issuers) {
      try {
        const { payload } = await verifyJwt(token, (header) => issuer.jwks(header), {
          issuer: issuer.issuer,
          ...(issuer.audience ? { audience: issuer.audience } : {}),
          algorithms: issuer.algorithms,
          requiredClaims: ['sub', 'exp'],
        });
        return payload;
      } catch {
        // try the next issuer
      }
    }
    throw unauthenticated('The access token is invalid or expired.');
  }

  return {
    /** The caller behind an Authorization header value, and until when (ms) that holds. */
    async identify(authorization: string | undefined): Promise<{ identity: Identity; expiresAt: number }> {
      if (!authorization) return { identity: ANONYMOUS, expiresAt: Number.POSITIVE_INFINITY };
      const match = /^Bearer\s+(\S+)$/i.exec(authorization);
      if (!match) throw unauthenticated('Authorization must be "Bearer <token>".');
      const payload = await verify(match[1]!);
      const role = payload.role === 'ADMIN' ? 'ADMIN' : 'CUSTOMER';
      const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : [];
      return { identity: { userId: payload.sub!, role, scopes }, expiresAt: payload.exp! * 1000 };
    },
  };
}
