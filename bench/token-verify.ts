import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, importJWK } from 'jose';
import type { JWK } from 'jose';
import { createClientAuth } from '../gateway/identity/user-token.js';
import { createServiceTokenSigner, createServiceTokenVerifier, generateServiceKey } from '../platform/auth/service-token.js';
import type { GatewayConfig } from '../platform/config.js';

/**
 * `npx tsx bench/token-verify.ts`: CPU per verification of a token, as a subgraph (service token)
 * and the gateway (user JWT) do it on every request. "seen before": six distinct tokens in
 * rotation, as an account page's subgraph fetches carry them (answered by the verified-token
 * cache); "first seen": every token new (a first visit: the signature is checked). CPU from
 * process.cpuUsage(), which counts libuv's threads too (WebCrypto runs its jobs there).
 */
const N = Number(process.env.TOKENS_N ?? 3_000);
const WARM = 600;

async function perCall(label: string, call: (i: number) => Promise<unknown>) {
  for (let i = 0; i < WARM; i++) await call(i); // warm-up (JIT, the JWKS fetch)
  const before = process.cpuUsage();
  for (let i = 0; i < N; i++) await call(WARM + i);
  const used = process.cpuUsage(before);
  console.log(`${label}: ${((used.user + used.system) / 1000 / N).toFixed(4)} CPU ms per verification`);
}

const TOKENS = WARM + N;
const service = await generateServiceKey('gateway');
const verifier = createServiceTokenVerifier({ keys: [service.publicJwk] });
const signer = await createServiceTokenSigner(service.privateJwk);
const serviceTokens = await Promise.all(
  Array.from({ length: TOKENS }, (_, i) => signer.sign({ userId: `u${i}`, role: 'CUSTOMER', scopes: [] })),
);
const verifyService = async (token: string | undefined) => {
  if (!(await verifier.verify(token))) throw new Error('rejected');
};
await perCall('service token (subgraph), seen before', (i) => verifyService(serviceTokens[i % 6]));
await perCall('service token (subgraph), first seen', (i) => verifyService(serviceTokens[i]));

const userKey = (await generateServiceKey('users')).privateJwk;
const { d: _d, ...publicKey } = userKey as JWK & { d?: string };
const jwks = http.createServer((_req, res) => res.setHeader('content-type', 'application/json').end(JSON.stringify({ keys: [publicKey] })));
await new Promise<void>((resolve) => jwks.listen(0, '127.0.0.1', resolve));
const auth = createClientAuth({
  USERS_JWKS_URL: `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks`,
  JWT_ISSUER: 'urn:supergraph:users',
  JWT_AUDIENCE: 'urn:supergraph',
} as GatewayConfig);
const key = await importJWK(userKey, 'ES256');
const userTokens = await Promise.all(
  Array.from({ length: TOKENS }, (_, i) =>
    new SignJWT({ role: 'CUSTOMER', scope: '' })
      .setProtectedHeader({ alg: 'ES256', kid: userKey.kid! })
      .setSubject(`u${i}`)
      .setIssuer('urn:supergraph:users')
      .setAudience('urn:supergraph')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(key),
  ),
);
await perCall('user JWT (gateway), seen before', (i) => auth.identify(`Bearer ${userTokens[i % 6]}`));
await perCall('user JWT (gateway), first seen', (i) => auth.identify(`Bearer ${userTokens[i]}`));
jwks.close();
