import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConsistency } from '../gateway/consistency.js';
import { eventually, startStack } from './support/stack.js';
import type { Stack, TestUser } from './support/stack.js';

/**
 * What a client can make the gateway's caches do (issue 23): a consistency token skips both caches
 * only when the gateway signed it; a @defer request never meets an answer stored in another form.
 * Real gateway, subgraphs and Redis.
 */

let stack: Stack;
let customer: TestUser;
let productId: string;

beforeAll(async () => {
  stack = await startStack();
  customer = await stack.customer();
  productId = (await stack.product({ stock: 40 })).id;
}, 120_000);
afterAll(() => stack?.close());

const PRODUCT = 'query EdgeProduct($id: ID!) { product(id: $id) { id name stock } }';

async function lookups(kind: 'response' | 'entity', metricsUrl = stack.supergraph.metricsUrls.gateway) {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const sum = (result: string) =>
    text
      .split('\n')
      .filter((l) => l.startsWith(`gateway_${kind}_cache_total{`) && l.includes(`result="${result}"`))
      .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
  return { hit: sum('hit'), miss: sum('miss') };
}

/** Asks until an answer comes from the cache (the 2 s rule may refuse the first writes). */
async function untilCached(kind: 'response' | 'entity', ask: () => Promise<unknown>) {
  await eventually(async () => {
    const before = (await lookups(kind)).hit;
    await ask();
    return (await lookups(kind)).hit > before ? true : undefined;
  });
}

/** A token body as the gateway wrote it before tokens were signed: what a forger can make. */
const unsignedToken = () => Buffer.from(JSON.stringify({ catalog: ['0/FFFFFFF', Math.floor(Date.now() / 1000)] })).toString('base64url');

/** A token signed with this deployment's key, as any of its gateways hands one out after a write. */
function signedToken(): string {
  const gatewayConfig = {
    CONSISTENCY_COOKIE: 'false',
    CONSISTENCY_TOKEN_TTL_SECONDS: 300,
    NODE_ENV: 'test',
    CONSISTENCY_TOKEN_SECRETS: [],
    SERVICE_PRIVATE_JWK: stack.keys.services.gateway,
  } as const;
  const state = createConsistency(gatewayConfig as never).fromRequest({ header: () => undefined } as never);
  state.absorb('catalog:0/1');
  return state.newToken!;
}

describe('x-consistency-token', () => {
  it('a forged or malformed token is ignored: the response cache and the entity cache still answer', async () => {
    const ask = (headers: Record<string, string> = {}) => stack.gql(PRODUCT, { id: productId }, { headers });
    await untilCached('response', () => ask());
    for (const token of [unsignedToken(), `${unsignedToken()}.AAAA`, 'garbage', '.']) {
      const before = await lookups('response');
      const res = await ask({ 'x-consistency-token': token });
      expect(res.data.product.stock).toBe(40);
      expect((await lookups('response')).hit, token).toBe(before.hit + 1);
    }
    // Signed in (no response cache): the catalog fetch is still an entity-cache hit with a forged token.
    const signedIn = (headers: Record<string, string> = {}) => stack.gql(PRODUCT, { id: productId }, { token: customer.token, headers });
    await untilCached('entity', () => signedIn());
    const before = await lookups('entity');
    await signedIn({ 'x-consistency-token': unsignedToken() });
    expect((await lookups('entity')).hit).toBe(before.hit + 1);
  });

  it('a token signed by the deployment skips both caches on every gateway; a tampered one does not', async () => {
    const other = await stack.extraGateway();
    const token = signedToken();
    for (const [url, metricsUrl] of [
      [stack.url, stack.supergraph.metricsUrls.gateway],
      [other.url, other.metricsUrl],
    ] as const) {
      const before = await lookups('response', metricsUrl);
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-consistency-token': token },
        body: JSON.stringify({ query: PRODUCT, variables: { id: productId } }),
      });
      expect(res.status).toBe(200);
      const after = await lookups('response', metricsUrl);
      expect(after.hit + after.miss).toBe(before.hit + before.miss);
    }
    const [body, signature] = token.split('.');
    const tampered = `${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(body!, 'base64url').toString()), orders: ['0/2', Math.floor(Date.now() / 1000)] })).toString('base64url')}.${signature}`;
    const before = await lookups('response');
    await stack.gql(PRODUCT, { id: productId }, { headers: { 'x-consistency-token': tampered } });
    expect((await lookups('response')).hit).toBe(before.hit + 1);
  });
});
