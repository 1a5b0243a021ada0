import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, importJWK } from 'jose';
import type { JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClientAuth } from '../../gateway/identity/user-token.js';
import { createServiceTokenSigner, createServiceTokenVerifier, generateServiceKey } from '../../platform/auth/service-token.js';
import { createVerifiedTokens } from '../../platform/auth/verified-tokens.js';
import type { GatewayConfig } from '../../platform/config.js';
import { eventually } from '../support/eventually.js';

/**
 * Verified tokens are cached until their exp: a cached token keeps passing, is never accepted at
 * or past its exp, and a token that differs from a cached one by one byte is verified in full.
 */
const publicPart = ({ d: _d, ...pub }: JWK) => pub;
const tamper = (token: string) => {
  const i = token.length - 5; // inside the signature
  return `${token.slice(0, i)}${token[i] === 'A' ? 'B' : 'A'}${token.slice(i + 1)}`;
};

describe('the verified-token cache', () => {
  it('hits until exp, never at or past it; caps life at maxTtlMs; stays within max entries', async () => {
    const cache = createVerifiedTokens<{ n: number }>({ max: 2, maxTtlMs: 60_000 });
    cache.set('a', { n: 1 }, Date.now() + 300);
    expect(cache.get('a')).toEqual({ n: 1 });
    await eventually(async () => (cache.get('a') === undefined ? true : undefined), { timeoutMs: 5_000 });
    cache.set('past', { n: 2 }, Date.now() - 1);
    expect(cache.get('past')).toBeUndefined();
    const capped = createVerifiedTokens<{ n: number }>({ max: 10, maxTtlMs: 200 });
    capped.set('long', { n: 3 }, Date.now() + 3_600_000);
    expect(capped.get('long')).toEqual({ n: 3 });
    await eventually(async () => (capped.get('long') === undefined ? true : undefined), { timeoutMs: 5_000 });
    for (const k of ['x', 'y', 'z']) cache.set(k, { n: 0 }, Date.now() + 60_000);
    expect(['x', 'y', 'z'].filter((k) => cache.get(k) !== undefined)).toEqual(['y', 'z']);
  });
});

describe('service tokens', () => {
  it('a cached token is refused once expired; a tampered copy of a cached token is refused', async () => {
    const { privateJwk, publicJwk } = await generateServiceKey('gateway');
    const verifier = createServiceTokenVerifier({ keys: [publicJwk] });
    const key = await importJWK(privateJwk, 'ES256');
    const exp = Math.floor(Date.now() / 1000) + 2;
    const token = await new SignJWT({ role: 'CUSTOMER', scope: 'orders:read' })
      .setProtectedHeader({ alg: 'ES256', kid: privateJwk.kid! })
      .setIssuer('gateway')
      .setAudience('urn:supergraph:internal')
      .setSubject('u-1')
      .setIssuedAt()
      .setExpirationTime(exp)
      .sign(key);
    const first = await verifier.verify(token);
    expect(first).toEqual({ service: 'gateway', identity: { userId: 'u-1', role: 'CUSTOMER', scopes: ['orders:read'] } });
    first!.identity.scopes.push('admin'); // a caller altering its copy must not alter the cache
    expect(await verifier.verify(token)).toEqual({
      service: 'gateway',
      identity: { userId: 'u-1', role: 'CUSTOMER', scopes: ['orders:read'] },
    });
    expect(await verifier.verify(tamper(token))).toBeNull();
    await eventually(async () => (Date.now() >= exp * 1000 ? true : undefined), { timeoutMs: 5_000 });
    expect(await verifier.verify(token)).toBeNull();
  });

  it('tokens from the signer verify (and keep verifying from the cache); another key does not', async () => {
    const gateway = await generateServiceKey('gateway');
    const stranger = await generateServiceKey('gateway', '9');
    const verifier = createServiceTokenVerifier({ keys: [gateway.publicJwk] });
    const token = await (await createServiceTokenSigner(gateway.privateJwk)).sign({ userId: null, role: null, scopes: [] });
    expect((await verifier.verify(token))?.service).toBe('gateway');
    expect((await verifier.verify(token))?.service).toBe('gateway');
    expect(
      await verifier.verify(await (await createServiceTokenSigner(stranger.privateJwk)).sign({ userId: null, role: null, scopes: [] })),
    ).toBeNull();
  });
});

describe('service tokens speak only for the service whose key signed them', () => {
  it("a trusted key's token claiming another service as its issuer is refused", async () => {
    const catalog = await generateServiceKey('catalog');
    const verifier = createServiceTokenVerifier({ keys: [catalog.publicJwk] });
    const key = await importJWK(catalog.privateJwk, 'ES256');
    const signed = (iss: string) =>
      new SignJWT({ role: 'ADMIN', scope: '' })
        .setProtectedHeader({ alg: 'ES256', kid: catalog.privateJwk.kid! })
        .setIssuer(iss)
        .setAudience('urn:supergraph:internal')
        .setSubject('u-1')
        .setIssuedAt()
        .setExpirationTime('1m')
        .sign(key);
    expect((await verifier.verify(await signed('catalog')))?.service).toBe('catalog');
    expect(await verifier.verify(await signed('gateway'))).toBeNull();
  });
});

describe('user tokens at the gateway', () => {
  let server: http.Server;
  let userKey: JWK;
  let auth: ReturnType<typeof createClientAuth>;
  beforeAll(async () => {
    userKey = (await generateServiceKey('users')).privateJwk;
    server = http.createServer((_req, res) =>
      res.setHeader('content-type', 'application/json').end(JSON.stringify({ keys: [publicPart(userKey)] })),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    auth = createClientAuth({
      USERS_JWKS_URL: `http://127.0.0.1:${port}/jwks`,
      JWT_ISSUER: 'urn:supergraph:users',
      JWT_AUDIENCE: 'urn:supergraph',
    } as GatewayConfig);
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const sign = async (exp: number) =>
    new SignJWT({ role: 'CUSTOMER', scope: '' })
      .setProtectedHeader({ alg: 'ES256', kid: userKey.kid! })
      .setSubject('u-2')
      .setIssuer('urn:supergraph:users')
      .setAudience('urn:supergraph')
      .setIssuedAt()
      .setExpirationTime(exp)
      .sign(await importJWK(userKey, 'ES256'));

  it('a cached user token is UNAUTHENTICATED once expired; a tampered copy is UNAUTHENTICATED', async () => {
    const exp = Math.floor(Date.now() / 1000) + 2;
    const token = await sign(exp);
    expect((await auth.identify(`Bearer ${token}`)).identity).toEqual({ userId: 'u-2', role: 'CUSTOMER', scopes: [] });
    expect((await auth.identify(`Bearer ${token}`)).expiresAt).toBe(exp * 1000);
    await expect(auth.identify(`Bearer ${tamper(token)}`)).rejects.toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });
    await eventually(async () => (Date.now() >= exp * 1000 ? true : undefined), { timeoutMs: 5_000 });
    await expect(auth.identify(`Bearer ${token}`)).rejects.toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });
  });
});
