import { createPrivateKey, generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { SignJWT, createLocalJWKSet, exportJWK, generateKeyPair } from 'jose';
import { describe, expect, it } from 'vitest';
import { verifyJwt } from '../../platform/auth/jwt-verify.js';

/**
 * platform/auth/jwt-verify.ts checks signatures with node:crypto instead of jose's WebCrypto path:
 * every token jose's jwtVerify would refuse, it refuses, and the algorithms our issuers use pass.
 */
const enc = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);
const CLAIMS = { iss: 'urn:test', aud: 'urn:test:aud', sub: 'u-1' };
const OPTIONS = { issuer: 'urn:test', audience: 'urn:test:aud', requiredClaims: ['sub', 'exp'] };

async function issuer(alg: 'ES256' | 'RS256' | 'EdDSA') {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = `k-${alg}`;
  const jwks = createLocalJWKSet({ keys: [{ ...(await exportJWK(publicKey)), kid, alg }] });
  const sign = (claims: object = {}, header: object = {}) =>
    new SignJWT({ ...CLAIMS, iat: now(), exp: now() + 600, ...claims }).setProtectedHeader({ alg, kid, ...header }).sign(privateKey);
  return { kid, jwks, sign, privateJwk: await exportJWK(privateKey) };
}

const verify = (token: string, jwks: ReturnType<typeof createLocalJWKSet>, algorithms = ['ES256', 'RS256', 'EdDSA']) =>
  verifyJwt(token, (header) => jwks(header), { ...OPTIONS, algorithms }).then((v) => v.payload);

describe('verifyJwt', () => {
  it('accepts ES256, RS256 and EdDSA tokens from their JWKS, and returns their claims', async () => {
    for (const alg of ['ES256', 'RS256', 'EdDSA'] as const) {
      const { jwks, sign } = await issuer(alg);
      await expect(verify(await sign({ role: 'ADMIN' }), jwks)).resolves.toMatchObject({ ...CLAIMS, role: 'ADMIN' });
    }
  });

  it('refuses an algorithm the issuer is not pinned to, alg none, and HS256 keyed with the public key', async () => {
    const es = await issuer('ES256');
    const token = await es.sign();
    await expect(verify(token, es.jwks, ['RS256'])).rejects.toThrow(/not allowed/);
    const [, payload] = token.split('.');
    await expect(verify(`${enc({ alg: 'none', kid: es.kid })}.${payload}.`, es.jwks)).rejects.toThrow();
    await expect(verify(`${enc({ alg: 'none', kid: es.kid })}.${payload}.x`, es.jwks)).rejects.toThrow(/not allowed/);
    await expect(verify(`${enc({ alg: 'HS256', kid: es.kid })}.${payload}.AAAA`, es.jwks, ['ES256', 'HS256'])).rejects.toThrow(
      /not allowed/,
    );
    // Names an object's prototype carries are no algorithm either.
    for (const alg of ['constructor', '__proto__', 'toString'])
      await expect(verify(`${enc({ alg, kid: es.kid })}.${payload}.AAAA`, es.jwks, [alg])).rejects.toThrow(/not allowed/);
  });

  it('refuses a changed payload, a signature from another key, and characters outside base64url', async () => {
    const a = await issuer('ES256');
    const b = await issuer('ES256');
    const token = await a.sign();
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const forged = enc({ ...CLAIMS, sub: 'u-admin', exp: now() + 600 });
    await expect(verify(`${header}.${forged}.${signature}`, a.jwks)).rejects.toThrow(/signature verification failed/);
    const other = (await b.sign()).split('.')[2];
    await expect(verify(`${header}.${payload}.${other}`, a.jwks)).rejects.toThrow(/signature verification failed/);
    // Node's base64url decoder skips characters it does not know: such a token must not pass.
    await expect(verify(`${header}.${payload}.${signature.slice(0, 10)}*${signature.slice(10)}`, a.jwks)).rejects.toThrow(
      /Invalid Compact JWS/,
    );
    await expect(verify(`${token}.`, a.jwks)).rejects.toThrow(/Invalid Compact JWS/);
  });

  it('refuses a header with crit or b64, even when the signature holds', async () => {
    const es = await issuer('ES256');
    const key = createPrivateKey({ key: es.privateJwk, format: 'jwk' });
    for (const extra of [{ crit: ['exp'] }, { b64: true }]) {
      const input = `${enc({ alg: 'ES256', kid: es.kid, ...extra })}.${enc({ ...CLAIMS, exp: now() + 600 })}`;
      const signature = cryptoSign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
      await expect(verify(`${input}.${signature}`, es.jwks)).rejects.toThrow(/Unsupported JWS header/);
    }
  });

  it('checks the claims as jose does: exp, nbf, issuer, audience, required claims', async () => {
    const es = await issuer('ES256');
    await expect(verify(await es.sign({ exp: now() - 1 }), es.jwks)).rejects.toThrow(/"exp" claim timestamp check failed/);
    await expect(verify(await es.sign({ nbf: now() + 600 }), es.jwks)).rejects.toThrow(/"nbf" claim timestamp check failed/);
    await expect(verify(await es.sign({ iss: 'urn:other' }), es.jwks)).rejects.toThrow(/unexpected "iss" claim value/);
    await expect(verify(await es.sign({ aud: 'urn:other' }), es.jwks)).rejects.toThrow(/unexpected "aud" claim value/);
    await expect(verify(await es.sign({ sub: undefined }), es.jwks)).rejects.toThrow(/"sub" claim/);
  });

  it('refuses an RSA key under 2048 bits and a key of another type than the algorithm', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const input = `${enc({ alg: 'RS256', kid: 'weak' })}.${enc({ ...CLAIMS, exp: now() + 600 })}`;
    const token = `${input}.${cryptoSign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
    await expect(verifyJwt(token, () => publicKey, { ...OPTIONS, algorithms: ['RS256'] })).rejects.toThrow(/does not fit RS256/);
    const ed = generateKeyPairSync('ed25519');
    await expect(verifyJwt(token, () => ed.publicKey, { ...OPTIONS, algorithms: ['RS256'] })).rejects.toThrow(/does not fit RS256/);
  });
});
