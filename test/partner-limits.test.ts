import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registryBadFiles, runPartner } from './support/partner.js';
import { eventually, startStack } from './support/stack.js';
import type { Stack } from './support/stack.js';

/**
 * Per-partner limits from the client registry, on two gateway instances sharing one Redis: each
 * partner is held to its own request count and cost budget, and a change of limits applies on
 * both gateways within the registry poll, without a restart.
 *
 * Counting is exact because a key the gateway does not know yet is refused (401) before the rate
 * limit counts anything: the first non-401 answer is the key's first counted request.
 */
const DEFAULT_REQUESTS = 8;
// High enough that the request-count test never meets the cost budget first.
const DEFAULT_COST = 100_000;
let stack: Stack;
let second: { url: string; close(): Promise<void> };
let registry: string;
let opsDir: string;

const partner = (...args: string[]) => runPartner(registry, args, { errors: true });
const newKey = async (...args: string[]) => (await partner('create', ...args)).split('\n').at(-1)!.trim();

beforeAll(async () => {
  registry = await mkdtemp(path.join(os.tmpdir(), 'client-registry-'));
  opsDir = await mkdtemp(path.join(os.tmpdir(), 'partner-ops-'));
  stack = await startStack({
    extra: {
      gateway: {
        CLIENT_REGISTRY_DIR: registry,
        CLIENT_REGISTRY_POLL_MS: '300',
        // One window for the whole file, so no count resets half-way.
        RATE_LIMIT_WINDOW_SECONDS: '3600',
        RATE_LIMIT_PARTNER: String(DEFAULT_REQUESTS),
        PARTNER_COST_BUDGET_PER_MINUTE: String(DEFAULT_COST),
      },
    },
  });
  second = await stack.extraGateway();
}, 120_000);
afterAll(async () => {
  await stack?.close();
});

interface Answer {
  status: number;
  policy: string | null;
  remaining: string | null;
  code?: string;
  budget?: { perMinute: number; remaining: number };
  estimated?: number;
}
async function call(url: string, key: string, id: string): Promise<Answer> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': key },
    body: JSON.stringify({ extensions: { persistedQuery: { version: 1, sha256Hash: id } } }),
  });
  const body = (await res.json()) as {
    errors?: { extensions?: { code?: string } }[];
    extensions?: { cost?: { estimated: number; budget?: { perMinute: number; remaining: number } } };
  };
  return {
    status: res.status,
    policy: res.headers.get('ratelimit-policy'),
    remaining: res.headers.get('ratelimit'),
    code: body.errors?.[0]?.extensions?.code,
    budget: body.extensions?.cost?.budget,
    estimated: body.extensions?.cost?.estimated,
  };
}
/** Polls until the gateway knows the key; the answer returned is the key's first counted request. */
const firstCounted = (url: string, key: string, id: string) =>
  eventually(
    async () => {
      const a = await call(url, key, id);
      return a.status === 401 ? undefined : a;
    },
    { timeoutMs: 15_000 },
  );

/**
 * A client (with the given limit flags on `create`) and its manifest of one cheap operation; the
 * key returned is minted after the manifest, so its first counted request is already allowed.
 */
async function onboard(client: string, ...flags: string[]): Promise<{ key: string; id: string }> {
  await partner('create', client, ...flags);
  const file = path.join(opsDir, 'categories.graphql');
  await writeFile(file, 'query Categories { categories { id } }\n');
  const id = /Categories\s+([0-9a-f]{64})/.exec(await partner('publish', client, '1.0', file))![1]!;
  return { key: await newKey(client), id };
}

describe('per-partner limits from the client registry', () => {
  it('each partner is held to its own request count, on both gateways; a change applies without restart', async () => {
    const gateways = [stack.url, second.url];
    const { key: lowKey, id } = await onboard('low', '--requests', '3');
    const { key: highKey } = await onboard('high', '--requests', '30');
    expect(await partner('list')).toMatch(/high: 1 operation\(s\) allowed; requests 30 per window, cost default per minute/);

    // low: its own 3, counted together across both instances; the 4th is refused.
    const lowAnswers = [
      await firstCounted(stack.url, lowKey, id),
      await firstCounted(second.url, lowKey, id),
      await call(stack.url, lowKey, id),
    ];
    expect(lowAnswers.map((a) => [a.status, a.policy])).toEqual(Array(3).fill([200, '"partner";q=3;w=3600']));
    const overLow = await call(second.url, lowKey, id);
    expect([overLow.status, overLow.code, overLow.policy]).toEqual([429, 'RATE_LIMITED', '"partner";q=3;w=3600']);

    // high: well past low's 3 and the default 8, on both gateways, and never refused.
    await firstCounted(stack.url, highKey, id);
    await firstCounted(second.url, highKey, id);
    let highCount = 2;
    for (; highCount < 13; highCount++) {
      const a = await call(gateways[highCount % 2]!, highKey, id);
      expect([a.status, a.policy]).toEqual([200, '"partner";q=30;w=3600']);
    }

    // Raised to 60 while running: both gateways apply it within a poll, counting what high already spent.
    await partner('limits', 'high', '--requests', '60');
    for (const url of gateways) {
      await eventually(
        async () => {
          const a = await call(url, highKey, id);
          highCount += 1;
          expect(a.status).toBe(200);
          return a.policy === '"partner";q=60;w=3600' ? true : undefined;
        },
        { timeoutMs: 15_000, intervalMs: 100 },
      );
    }
    expect(highCount).toBeLessThan(60);
    for (; highCount < 60; highCount++) {
      const a = await call(gateways[highCount % 2]!, highKey, id);
      expect([highCount, a.status, a.remaining]).toEqual([highCount, 200, expect.any(String)]);
    }
    const overHigh = await call(second.url, highKey, id);
    expect([overHigh.status, overHigh.code, overHigh.policy]).toEqual([429, 'RATE_LIMITED', '"partner";q=60;w=3600']);

    // Lowered, then back to the configured default: each shows on both gateways (still refused: 60+ counted).
    await partner('limits', 'high', '--requests', '10');
    for (const url of gateways)
      await eventually(async () => ((await call(url, highKey, id)).policy === '"partner";q=10;w=3600' ? true : undefined), {
        timeoutMs: 15_000,
      });
    await partner('limits', 'high', '--requests', 'default');
    for (const url of gateways) {
      const a = await eventually(
        async () => {
          const r = await call(url, highKey, id);
          return r.policy === `"partner";q=${DEFAULT_REQUESTS};w=3600` ? r : undefined;
        },
        { timeoutMs: 15_000 },
      );
      expect(a.status).toBe(429);
    }
    expect(JSON.parse(await readFile(path.join(registry, 'high', 'client.json'), 'utf8')).limits).toBeUndefined();
  }, 180_000);

  it('each partner is charged against its own cost budget', async () => {
    const { key: normalKey, id } = await onboard('normal');
    const first = await firstCounted(stack.url, normalKey, id);
    expect(first.status).toBe(200);
    expect(first.budget?.perMinute).toBe(DEFAULT_COST);
    const cost = first.estimated!;
    expect(cost).toBeGreaterThan(0);

    // thrifty may spend two operations a minute: the third is refused by the cost policy.
    const { key: thriftyKey } = await onboard('thrifty', '--cost', String(2 * cost));
    const one = await firstCounted(stack.url, thriftyKey, id);
    expect(one.budget).toEqual({ perMinute: 2 * cost, remaining: cost, resetSeconds: expect.any(Number) });
    expect((await firstCounted(second.url, thriftyKey, id)).budget?.remaining).toBe(0);
    const refused = await call(second.url, thriftyKey, id);
    expect(refused.status).toBe(429);
    expect(refused.code).toBe('RATE_LIMITED');
    expect(refused.policy).toBe(`"cost";q=${2 * cost};w=60`);
    // normal, on its default budget, is not affected.
    expect((await firstCounted(second.url, normalKey, id)).status).toBe(200);
  }, 180_000);

  it('a bad limit is refused by the command, and a bad file is reported naming it while the last good limits keep applying', async () => {
    const { key, id } = await onboard('strict', '--requests', '5');
    expect((await firstCounted(stack.url, key, id)).policy).toBe('"partner";q=5;w=3600');
    await expect(partner('limits', 'strict', '--requests', '-5')).rejects.toThrow(/bad --requests "-5": a positive whole number/);
    await expect(partner('limits', 'strict', '--cost', '1.5')).rejects.toThrow(/bad --cost "1.5"/);
    await expect(partner('create', 'other', '--requests', 'default')).rejects.toThrow(/bad --requests "default"/);
    await expect(partner('limits', 'strict')).rejects.toThrow(/nothing to change/);

    const file = path.join(registry, 'strict', 'client.json');
    const entry = JSON.parse(await readFile(file, 'utf8'));
    const badBefore = await registryBadFiles(stack.supergraph.metricsUrls.gateway);
    await writeFile(file, JSON.stringify({ ...entry, limits: { requestsPerWindow: 0, burst: 9 } }));
    expect(await partner('list')).toMatch(
      /strict: BAD ENTRY: .*strict\/client\.json: limits\.requestsPerWindow: .*; limits: Unrecognized key/,
    );
    // The gateway has read the bad file and skipped it (its gauge says so) before the key is used again.
    await eventually(async () => ((await registryBadFiles(stack.supergraph.metricsUrls.gateway)) === badBefore + 1 ? true : undefined), {
      timeoutMs: 30_000,
    });
    const still = await call(stack.url, key, id);
    expect([still.status, still.policy]).toEqual([200, '"partner";q=5;w=3600']);
  }, 60_000);
});
