import { createHmac } from 'node:crypto';
import { SignJWT, base64url, generateKeyPair, importJWK } from 'jose';
import type { JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INTERNAL_TOKEN_HEADER, createServiceTokenSigner, generateServiceKey } from '../platform/auth/service-token.js';
import { codes, startStack } from './support/stack.js';
import type { Stack, TestUser } from './support/stack.js';

let stack: Stack;
let customer: TestUser;

beforeAll(async () => {
  stack = await startStack();
  customer = await stack.customer();
});
afterAll(() => stack?.close());

const ME = '{ me { id } }';
const publicPart = ({ d: _d, ...pub }: JWK) => pub;

async function userToken(key: JWK, claims: { exp?: number; alg?: string } = {}) {
  const jwt = new SignJWT({ role: 'ADMIN', scope: 'admin' })
    .setProtectedHeader({ alg: 'ES256', kid: key.kid! })
    .setSubject(customer.id)
    .setIssuer('urn:supergraph:users')
    .setAudience('urn:supergraph')
    .setIssuedAt()
    .setExpirationTime(claims.exp ?? '1h');
  return jwt.sign(await importJWK(key, 'ES256'));
}

describe('client tokens at the gateway', () => {
  it('a valid token identifies the user', async () => {
    const res = await stack.gql(ME, {}, { token: customer.token });
    expect(res.data.me).toEqual({ id: customer.id });
  });

  it('no token is anonymous', async () => {
    const res = await stack.gql(ME);
    expect(res.errors).toBeUndefined();
    expect(res.data.me).toBeNull();
  });

  const rejected: [string, () => Promise<string>][] = [
    ['expired', () => userToken(stack.keys.userTokenKey, { exp: Math.floor(Date.now() / 1000) - 60 })],
    [
      'signed by another key with the same kid',
      async () => {
        const { privateKey } = await generateKeyPair('ES256', { extractable: true });
        return new SignJWT({ role: 'ADMIN' })
          .setProtectedHeader({ alg: 'ES256', kid: stack.keys.userTokenKey.kid! })
          .setSubject(customer.id)
          .setIssuer('urn:supergraph:users')
          .setAudience('urn:supergraph')
          .setExpirationTime('1h')
          .sign(privateKey);
      },
    ],
    [
      'alg: none',
      async () => {
        const enc = (o: object) => base64url.encode(JSON.stringify(o));
        return `${enc({ alg: 'none', typ: 'JWT' })}.${enc({ sub: customer.id, role: 'ADMIN', iss: 'urn:supergraph:users', aud: 'urn:supergraph', exp: Math.floor(Date.now() / 1000) + 3600 })}.`;
      },
    ],
    [
      'HS256 keyed with the public key',
      async () => {
        const enc = (o: object) => base64url.encode(JSON.stringify(o));
        const header = enc({ alg: 'HS256', typ: 'JWT', kid: stack.keys.userTokenKey.kid });
        const body = enc({
          sub: customer.id,
          role: 'ADMIN',
          iss: 'urn:supergraph:users',
          aud: 'urn:supergraph',
          exp: Math.floor(Date.now() / 1000) + 3600,
        });
        const secret = JSON.stringify(publicPart(stack.keys.userTokenKey));
        const sig = createHmac('sha256', secret).update(`${header}.${body}`).digest('base64url');
        return `${header}.${body}.${sig}`;
      },
    ],
    ['garbage', async () => 'not-a-jwt'],
  ];
  for (const [name, make] of rejected) {
    it(`rejects a token that is ${name} with 401 UNAUTHENTICATED`, async () => {
      const res = await stack.gql(ME, {}, { token: await make() });
      expect(res.status).toBe(401);
      expect(codes(res)).toEqual(['UNAUTHENTICATED']);
      expect(res.data ?? null).toBeNull();
    });
  }
});

describe('subgraphs trust only services', () => {
  const direct = (url: string, headers: Record<string, string>) =>
    fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ query: '{ __typename }' }),
    });

  it('a direct call with forged identity headers and a real user token is 401', async () => {
    for (const name of ['users', 'catalog', 'orders', 'billing'] as const) {
      const res = await direct(stack.supergraph.urls[name], {
        authorization: `Bearer ${customer.token}`,
        'x-user-id': customer.id,
        'x-user-role': 'ADMIN',
        [INTERNAL_TOKEN_HEADER]: 'forged',
      });
      expect(res.status, name).toBe(401);
      expect((await res.json()).errors[0].extensions.code).toBe('UNAUTHENTICATED');
    }
  });

  it('a service token from an unknown key, or claiming another service, is 401; the real gateway key passes', async () => {
    const stranger = await createServiceTokenSigner((await generateServiceKey('gateway', '9')).privateJwk);
    const anonymous = { userId: null, role: null, scopes: [] };
    expect((await direct(stack.supergraph.urls.catalog, { [INTERNAL_TOKEN_HEADER]: await stranger.sign(anonymous) })).status).toBe(401);
    // The orders key is trusted, but only to speak as "orders": a token it signs claiming to be the gateway fails.
    const ordersKey = await importJWK(stack.keys.services.orders, 'ES256');
    const impostor = await new SignJWT({ scope: '' })
      .setProtectedHeader({ alg: 'ES256', kid: stack.keys.services.orders.kid! })
      .setIssuer('gateway')
      .setAudience('urn:supergraph:internal')
      .setSubject('anonymous')
      .setExpirationTime('1m')
      .sign(ordersKey);
    expect((await direct(stack.supergraph.urls.catalog, { [INTERNAL_TOKEN_HEADER]: impostor })).status).toBe(401);
    const gateway = await createServiceTokenSigner(stack.keys.services.gateway);
    expect((await direct(stack.supergraph.urls.catalog, { [INTERNAL_TOKEN_HEADER]: await gateway.sign(anonymous) })).status).toBe(200);
  });

  it('internal commands accept only the services they name', async () => {
    const gateway = await createServiceTokenSigner(stack.keys.services.gateway);
    const res = await fetch(`${stack.supergraph.urls.catalog}/internal/release-stock`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        [INTERNAL_TOKEN_HEADER]: await gateway.sign({ userId: null, role: null, scopes: [] }),
      },
      body: JSON.stringify({ reservationId: '00000000-0000-4000-8000-000000000000' }),
    });
    expect(res.status).toBe(403);
    const anonymous = await fetch(`${stack.supergraph.urls.catalog}/internal/release-stock`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(anonymous.status).toBe(401);
  });

  it("a subgraph's /graphql (plain node:http) refuses a bad body with a coded error and echoes the request id", async () => {
    const gateway = await createServiceTokenSigner(stack.keys.services.gateway);
    const token = await gateway.sign({ userId: null, role: null, scopes: [] });
    const url = `${stack.supergraph.urls.catalog}/graphql`;
    const send = (body: string, headers: Record<string, string> = {}) =>
      fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', [INTERNAL_TOKEN_HEADER]: token, ...headers }, body });
    const codeOf = async (res: Response) =>
      ((await res.json()) as { errors: { extensions: { code: string } }[] }).errors[0]?.extensions.code;
    const malformed = await send('{"query": ');
    expect(malformed.status).toBe(400);
    expect(await codeOf(malformed)).toBe('BAD_REQUEST');
    const huge = await send(JSON.stringify({ query: '{ __typename }', variables: { pad: 'x'.repeat(2 * 1024 * 1024 + 10) } }));
    expect(huge.status).toBe(413);
    expect(await codeOf(huge)).toBe('BAD_REQUEST');
    const scalar = await send('42');
    expect(scalar.status).toBe(400);
    const ok = await send(JSON.stringify({ query: '{ __typename }' }), { 'x-request-id': 'req-subgraph-http-1' });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-request-id')).toBe('req-subgraph-http-1');
    expect(await ok.json()).toEqual({ data: { __typename: 'Query' } });
    // With a query string too (Apollo reads it for GET; a POST simply ignores it).
    expect(
      (
        await fetch(`${url}?x=1`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', [INTERNAL_TOKEN_HEADER]: token },
          body: '{"query":"{ __typename }"}',
        })
      ).status,
    ).toBe(200);
    // Not JSON at all: Apollo's own 400, not a crash.
    const text = await send('{ __typename }', { 'content-type': 'text/plain' });
    expect(text.status).toBe(400);
  });

  it('health endpoints stay open and report readiness', async () => {
    for (const url of Object.values(stack.supergraph.urls)) {
      expect((await fetch(`${url}/health/live`)).status).toBe(200);
      const ready = await fetch(`${url}/health/ready`);
      expect(ready.status, url).toBe(200);
    }
    const gatewayReady = await (await fetch(`${stack.supergraph.urls.gateway}/health/ready`)).json();
    expect(gatewayReady.subgraphs).toEqual({ users: 'ready', catalog: 'ready', orders: 'ready', billing: 'ready' });
  });
});

describe('HTTP edge', () => {
  const post = (body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
    fetch(stack.url, { method: 'POST', headers, body });

  it('malformed JSON is a 400 with a clear error', async () => {
    const res = await post('{"query": ');
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body.errors[0].extensions.code).toBe('BAD_REQUEST');
  });

  it('a body over the limit is 413', async () => {
    const res = await post(JSON.stringify({ query: `{ __typename }`, variables: { pad: 'x'.repeat(2.5 * 1024 * 1024) } }));
    expect(res.status).toBe(413);
  });

  it('batched requests are refused', async () => {
    const res = await post(JSON.stringify([{ query: '{ __typename }' }, { query: '{ __typename }' }]));
    expect(res.status).toBe(400);
  });

  it('a simple cross-site GET without a preflight header is refused (CSRF prevention)', async () => {
    const res = await fetch(`${stack.url}?query=${encodeURIComponent('{ __typename }')}`);
    expect(res.status).toBe(400);
    const ok = await fetch(`${stack.url}?query=${encodeURIComponent('{ __typename }')}`, {
      headers: { 'apollo-require-preflight': 'true' },
    });
    expect(ok.status).toBe(200);
  });

  it('syntax errors and unknown fields get their standard codes', async () => {
    expect(codes(await stack.gql('{ products { '))).toEqual(['GRAPHQL_PARSE_FAILED']);
    expect(codes(await stack.gql('{ nope }'))).toEqual(['GRAPHQL_VALIDATION_FAILED']);
  });

  it('an unexpected failure is INTERNAL_SERVER_ERROR with a request id and no SQL, stack or host', async () => {
    await stack.sql.catalog`alter table categories rename to categories_hidden`;
    try {
      const res = await stack.gql('{ categories { id } }');
      const text = JSON.stringify(res.errors!.map(({ message, extensions }) => ({ message, extensions })));
      expect(codes(res)).toEqual(['INTERNAL_SERVER_ERROR']);
      expect(res.errors![0]!.message).toBe('Internal server error');
      expect(res.errors![0]!.extensions!.requestId).toBe(res.headers.get('x-request-id'));
      expect(text).not.toMatch(/categories|relation|select|127\.0\.0\.1|stack|at /i);
    } finally {
      await stack.sql.catalog`alter table categories_hidden rename to categories`;
    }
  });
});
