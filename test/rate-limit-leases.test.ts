import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLimiter } from '../gateway/limits/limiter.js';
import { countRedisCalls } from './support/redis-monitor.js';
import { createLogger } from '../platform/logger.js';
import { createRedisGuard } from '../platform/redis-guard.js';
import { startStack } from './support/stack.js';
import type { Stack } from './support/stack.js';

/**
 * Request counts taken from Redis in leases (RATE_LIMIT_LEASE) and handed out in memory, through
 * two real gateways sharing one Redis: never more than the limit, at most gateways × (lease − 1)
 * fewer, and one Redis call per lease instead of one per request. The window's counter in Redis
 * is the sum of every lease taken, so `counter / lease` is the number of Redis calls for that key.
 */

const LIMIT = 100;
const LEASE = 20;
const GATEWAYS = 2;

let stack: Stack;
let other: { url: string };
let redis: Redis;

beforeAll(async () => {
  stack = await startStack({
    extra: { gateway: { RATE_LIMIT_ANONYMOUS: String(LIMIT), RATE_LIMIT_LEASE: String(LEASE), RATE_LIMIT_WINDOW_SECONDS: '60' } },
  });
  other = await stack.extraGateway();
  redis = new Redis(stack.redisUrl!);
}, 120_000);
afterAll(async () => {
  redis?.disconnect();
  await stack?.close();
});

const CATEGORIES = JSON.stringify({ query: '{ categories { id } }' });
const send = async (ip: string, url: string) =>
  (await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': ip }, body: CATEGORIES })).status;

/** `total` requests from ip, `parallel` at a time, alternating between the two gateways. */
async function burst(ip: string, total: number, parallel: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < total; i += parallel) {
    const wave = Array.from({ length: Math.min(parallel, total - i) }, (_, j) => send(ip, (i + j) % 2 ? other.url : stack.url));
    statuses.push(...(await Promise.all(wave)));
  }
  return statuses;
}

const counter = async (ip: string) => Number(await redis.get(`${stack.eventNamespace}limit:requests:ip:${ip}`));

const redisCallsOn = (key: string, run: () => Promise<unknown>) => countRedisCalls(stack.redisUrl!, redis, key, run);

describe('rate limits counted in leases', () => {
  it('two gateways together admit no more than the limit and at most gateways × (lease − 1) fewer, in a fraction of the Redis calls', async () => {
    const ip = '198.51.100.7';
    let statuses: number[] = [];
    const seen = await redisCallsOn(
      `${stack.eventNamespace}limit:requests:ip:${ip}`,
      async () => (statuses = await burst(ip, 2 * LIMIT, 4)),
    );
    const admitted = statuses.filter((s) => s === 200).length;
    expect(statuses.every((s) => s === 200 || s === 429)).toBe(true);
    expect(admitted).toBeLessThanOrEqual(LIMIT);
    expect(admitted).toBeGreaterThanOrEqual(LIMIT - GATEWAYS * (LEASE - 1));
    const calls = (await counter(ip)) / LEASE;
    expect(Number.isInteger(calls)).toBe(true);
    // Without leases every request is one Redis call; here one per lease, plus one per gateway to learn the window is spent.
    expect(calls).toBeLessThanOrEqual(Math.ceil(LIMIT / LEASE) + GATEWAYS);
    expect(seen).toBe(calls);
    // The same number of consumes through the unleased limiter (RATE_LIMIT_LEASE=1, rate-limiter-flexible): one call each.
    const plain = createLimiter(createRedisGuard(redis, 'test', createLogger('test', 'silent')), `${stack.eventNamespace}plain-`, {
      name: 'requests:ip',
      points: LIMIT,
      durationSeconds: 60,
      lease: 1,
    });
    const plainCalls = await redisCallsOn(`${stack.eventNamespace}plain-limit:requests:ip:${ip}`, async () => {
      for (const _ of statuses) await plain.consume(ip);
    });
    expect(plainCalls).toBeGreaterThanOrEqual(statuses.length);
    console.log(
      `rate-limit leases: ${statuses.length} requests over ${GATEWAYS} gateways, limit ${LIMIT}, lease ${LEASE}: ${admitted} admitted, ${calls} Redis calls (${(calls / statuses.length).toFixed(3)} per request); RATE_LIMIT_LEASE=1: ${plainCalls} calls for as many consumes`,
    );

    // The window is spent everywhere: both gateways now refuse locally, without asking Redis.
    const before = await counter(ip);
    const more = await burst(ip, 20, 2);
    expect(more.every((s) => s === 429)).toBe(true);
    expect(await counter(ip)).toBe(before);
  }, 120_000);

  it('a burst from one key larger than a lease is admitted: requests waiting for one lease that it does not cover take the next', async () => {
    const leased = createLimiter(createRedisGuard(redis, 'test', createLogger('test', 'silent')), `${stack.eventNamespace}burst-`, {
      name: 'requests:ip',
      points: 1_000,
      durationSeconds: 60,
      lease: 5,
    });
    // 50 at once (one tick): all wait for the first lease of 5; the 45 it does not cover must lease again, not be refused.
    const outcomes = await Promise.all(Array.from({ length: 50 }, () => leased.consume('198.51.100.9')));
    expect(outcomes.filter((o) => !o.allowed)).toEqual([]);
    expect(Number(await redis.get(`${stack.eventNamespace}burst-limit:requests:ip:198.51.100.9`))).toBeLessThanOrEqual(50 + 5);
  }, 60_000);

  it('a refused charge and its refund leave a lease as it was: what is left serves a cheaper one, never more (COST_BUDGET_LEASE)', async () => {
    const budget = createLimiter(createRedisGuard(redis, 'test', createLogger('test', 'silent')), `${stack.eventNamespace}cost-`, {
      name: 'cost',
      points: 100,
      durationSeconds: 60,
      lease: 40,
    });
    expect((await budget.consume('partner-1', 90)).allowed).toBe(true);
    // 10 points are left in the window: a charge of 30 is refused, and the cost plugin refunds it.
    expect((await budget.consume('partner-1', 30)).allowed).toBe(false);
    await budget.refund('partner-1', 30);
    expect((await budget.consume('partner-1', 10)).allowed).toBe(true);
    expect((await budget.consume('partner-1', 1)).allowed).toBe(false);
  });

  it('another client has its own window', async () => {
    expect(await send('198.51.100.8', stack.url)).toBe(200);
    expect(await send('198.51.100.8', other.url)).toBe(200);
  });
});
