import { SignJWT, createLocalJWKSet, decodeProtectedHeader, importJWK, jwtVerify, exportJWK, generateKeyPair } from 'jose';
import type { JWK, CryptoKey } from 'jose';
import type { Identity, Role } from './identity.js';
import { createVerifiedTokens } from './verified-tokens.js';

/**
 * Service-to-service trust. Every request a subgraph serves carries `x-internal-token`: a
 * 60-second ES256 JWT signed by the calling service (the gateway, or a subgraph calling another).
 * Key ids are "<service>.<version>", and a token is valid only when its issuer owns the key that
 * signed it, so one service's key cannot speak for another. Rotation: publish the new public key
 * in TRUSTED_SERVICE_JWKS next to the old one, then switch the signer, then drop the old key.
 */
export const INTERNAL_TOKEN_HEADER = 'x-internal-token';
const AUDIENCE = 'urn:supergraph:internal';
const TTL_SECONDS = 60;

export interface ServiceCaller {
  service: string;
  identity: Identity;
}

export const keyOwner = (kid: string) => kid.split('.')[0] ?? '';

export async function generateServiceKey(service: string, version = '1'): Promise<{ privateJwk: JWK; publicJwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = `${service}.${version}`;
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: 'ES256' };
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  return { privateJwk, publicJwk };
}

export interface ServiceTokenSigner {
  service: string;
  /** A token for one call; cached per identity for part of its lifetime (signing costs ~0.1 ms). */
  sign(identity: Identity): Promise<string>;
}

export async function createServiceTokenSigner(privateJwk: JWK): Promise<ServiceTokenSigner> {
  const kid = privateJwk.kid;
  if (!kid) throw new Error('SERVICE_PRIVATE_JWK needs a kid');
  const service = keyOwner(kid);
  const key = (await importJWK(privateJwk, 'ES256')) as CryptoKey;
  const cache = new Map<string, { token: string; refreshAt: number }>();

  return {
    service,
    async sign(identity) {
      const cacheKey = `${identity.userId ?? ''}|${identity.role ?? ''}|${identity.scopes.join(' ')}`;
      const now = Date.now();
      const hit = cache.get(cacheKey);
      if (hit && hit.refreshAt > now) return hit.token;
      const token = await new SignJWT({
        ...(identity.role ? { role: identity.role } : {}),
        scope: identity.scopes.join(' '),
      })
        .setProtectedHeader({ alg: 'ES256', kid })
        .setIssuer(service)
        .setAudience(AUDIENCE)
        .setIssuedAt()
        .setExpirationTime(`${TTL_SECONDS}s`)
        .setSubject(identity.userId ?? 'anonymous')
        .sign(key);
      if (cache.size > 10_000) cache.clear();
      cache.set(cacheKey, { token, refreshAt: now + (TTL_SECONDS / 2) * 1000 });
      return token;
    },
  };
}

export interface ServiceTokenVerifier {
  /** Resolves the caller, or null when the token is missing, expired, forged or from an untrusted key. */
  verify(token: string | undefined): Promise<ServiceCaller | null>;
}

/** Distinct service tokens remembered per process (signers reuse a token per identity for 30 s). */
const VERIFIED_TOKENS_MAX = 10_000;

export function createServiceTokenVerifier(trusted: { keys: JWK[] }): ServiceTokenVerifier {
  const jwks = createLocalJWKSet(trusted);
  // The trusted keys are fixed for the life of the process, so a verified token stays valid until its exp.
  const verified = createVerifiedTokens<ServiceCaller>({ max: VERIFIED_TOKENS_MAX });
  return {
    async verify(token) {
      if (!token) return null;
      const hit = verified.get(token);
      // A copy: callers own the identity they get (nothing may alter the cached one).
      if (hit) return { service: hit.service, identity: { ...hit.identity, scopes: [...hit.identity.scopes] } };
      try {
        const { kid } = decodeProtectedHeader(token);
        const { payload } = await jwtVerify(token, jwks, { audience: AUDIENCE, algorithms: ['ES256'], requiredClaims: ['exp'] });
        if (!kid || !payload.iss || keyOwner(kid) !== payload.iss) return null;
        const claimed = payload.role;
        const role: Role | null = claimed === 'ADMIN' || claimed === 'CUSTOMER' ? claimed : null;
        const userId = payload.sub && payload.sub !== 'anonymous' && role ? payload.sub : null;
        const scopes = typeof payload.scope === 'string' && payload.scope ? payload.scope.split(' ') : [];
        const caller = { service: payload.iss, identity: { userId, role: userId ? role : null, scopes } };
        verified.set(token, { service: caller.service, identity: { ...caller.identity, scopes: [...scopes] } }, payload.exp! * 1000);
        return caller;
      } catch {
        return null;
      }
    },
  };
}
