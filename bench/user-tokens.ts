import { SignJWT, importJWK } from 'jose';
import type { LocalKeys } from '../platform/local-env.js';

/**
 * Signs user access tokens with the local users key, as the users subgraph would issue them, so a
 * benchmark can act as many users without logging each one in.
 */
export async function createUserTokenSigner(keys: LocalKeys) {
  const key = await importJWK(keys.userTokenKey, 'ES256');
  return (sub: string, role: 'CUSTOMER' | 'ADMIN' = 'CUSTOMER', expiresIn = '2h') =>
    new SignJWT({ role, scope: role === 'ADMIN' ? 'admin' : '' })
      .setProtectedHeader({ alg: 'ES256', kid: keys.userTokenKey.kid! })
      .setSubject(sub)
      .setIssuer('urn:supergraph:users')
      .setAudience('urn:supergraph')
      .setIssuedAt()
      .setExpirationTime(expiresIn)
      .sign(key);
}
