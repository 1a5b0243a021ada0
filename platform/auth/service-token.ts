import { createPrivateKey, sign as cryptoSign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { createLocalJWKSet, importJWK, exportJWK, generateKeyPair } from 'jose';
import type { JWK } from 'jose';
import type { Identity, Role } from './identity.js';
import { createVerifiedTokens } from './verified-tokens.js';
import { verifyJwt } from './jwt-verify.js';

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
  // jose checks the key is an ES256 (P-256) private key; the signing itself is node:crypto's (signJwt).
  await importJWK(privateJwk, 'ES256');
  const key = createPrivateKey({ key: privateJwk, format: 'jwk' });
  const header = base64url(JSON.stringify({ alg: 'ES256', kid }));
  const cache = new Map<string, { token: string; refreshAt: number }>();

  return {
    service,
    async sign(identity) {
      const cacheKey = `${identity.userId ?? ''}|${identity.role ?? ''}|${identity.scopes.join(' ')}`;
      const now = Date.now();
      const hit = cache.get(cacheKey);
      if (hit && hit.refreshAt > now) return hit.token;
      const iat = Math.floor(now / 1000);
      const token = signJwt(header, key, {
        ...(identity.role ? { role: identity.role } : {}),
        scope: identity.scopes.join(' '),
        iss: service,
        aud: AUDIENCE,
        iat,
        exp: iat + TTL_SECONDS,
        sub: identity.userId ?? 'anonymous',
      });
      if (cache.size > 10_000) cache.clear();
      cache.set(cacheKey, { token, refreshAt: now + (TTL_SECONDS / 2) * 1000 });
      return token;
    },
  };
}

const base64url = (text: string) => Buffer.from(text).toString('base64url');

/**
 * A compact ES256 JWS, the same token jose's SignJWT makes, signed synchronously by node:crypto: a
 * first-visit caller costs the gateway one signature, and WebCrypto's promise job around it (jose's
 * path) cost ~3x the signature itself in the bench. `ieee-p1363` is JWS's r||s form (RFC 7518 §3.4).
 */
function signJwt(header: string, key: KeyObject, claims: Record<string, unknown>): string {
  const input = `${header}.${base64url(JSON.stringify(claims))}`;
  return `${input}.${cryptoSign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
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
        const { payload, protectedHeader } = await verifyJwt(token, (header) => jwks(header), {
          audience: AUDIENCE,
          algorithms: ['ES256'],
          requiredClaims: ['exp'],
        });
        const { kid } = protectedHeader;
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
