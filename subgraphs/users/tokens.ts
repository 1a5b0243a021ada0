import express from 'express';
import { SignJWT, importJWK } from 'jose';
import type { CryptoKey, JWK } from 'jose';
import type { Role } from '../../platform/auth/identity.js';
import type { SubgraphConfig } from '../../platform/config.js';

type TokenConfig = Pick<
  SubgraphConfig<'users'>,
  'JWT_PRIVATE_JWK' | 'JWT_PREVIOUS_PUBLIC_JWKS' | 'JWT_ISSUER' | 'JWT_AUDIENCE' | 'JWT_TTL_SECONDS'
>;

export interface TokenIssuer {
  /** A signed access token for the user (ES256, `sub`, `role`, `scope`, lifetime JWT_TTL_SECONDS). */
  issue(user: { id: string; role: Role }): Promise<string>;
  /** The public JWKS: the current key plus any previous keys still published during a rotation. */
  jwks(): { keys: JWK[] };
}

/** JWK members that hold private key material (EC `d`, RSA CRT values, symmetric `k`). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

/** The public half of a JWK, ready to publish: private members dropped whatever key type it is. */
export function publicJwk(jwk: JWK): JWK {
  const isPrivate = (member: string) => (PRIVATE_MEMBERS as readonly string[]).includes(member);
  const pub: Record<string, unknown> = Object.fromEntries(Object.entries(jwk).filter(([member]) => !isPrivate(member)));
  // key_ops of a private key say "sign"; a published key is only ever used to verify.
  delete pub.key_ops;
  return { alg: 'ES256', use: 'sig', ...pub };
}

/** Imports the signing key once, at start-up, so a bad key stops the service instead of the first sign-up. */
export async function createTokenIssuer(config: TokenConfig): Promise<TokenIssuer> {
  const privateJwk = config.JWT_PRIVATE_JWK as JWK;
  const kid = privateJwk.kid;
  if (!kid) throw new Error('JWT_PRIVATE_JWK needs a kid');
  if (privateJwk.kty !== 'EC' || privateJwk.crv !== 'P-256' || !privateJwk.d) {
    throw new Error('JWT_PRIVATE_JWK must be a private EC P-256 key (ES256)');
  }
  const key = (await importJWK(privateJwk, 'ES256')) as CryptoKey;
  const current = publicJwk(privateJwk);
  const previous = (config.JWT_PREVIOUS_PUBLIC_JWKS?.keys ?? []).map((k) => publicJwk(k as JWK)).filter((k) => k.kid !== kid);
  const document = Object.freeze({ keys: [current, ...previous] });

  return {
    issue: (user) =>
      new SignJWT({ role: user.role, scope: user.role === 'ADMIN' ? 'admin' : '' })
        .setProtectedHeader({ alg: 'ES256', kid })
        .setSubject(user.id)
        .setIssuer(config.JWT_ISSUER)
        .setAudience(config.JWT_AUDIENCE)
        .setIssuedAt()
        .setExpirationTime(`${config.JWT_TTL_SECONDS}s`)
        .sign(key),
    jwks: () => document,
  };
}

/**
 * GET /.well-known/jwks.json for the gateway and anyone else verifying our tokens. Five minutes of
 * caching keeps verifiers off this endpoint yet lets a newly published key spread well before the
 * signer switches to it (publish first, switch later).
 */
export function createJwksRouter(issuer: TokenIssuer): express.Router {
  const router = express.Router();
  router.get('/.well-known/jwks.json', (_req, res) => {
    res.set('Cache-Control', 'public, max-age=300');
    res.json(issuer.jwks());
  });
  return router;
}
