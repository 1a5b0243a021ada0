import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTaggedStore } from '../gateway/cache/tagged-store.js';
import type { TaggedStore } from '../gateway/cache/tagged-store.js';
import { createRedisClient } from '../platform/redis-client.js';
import { createRedisGuard } from '../platform/redis-guard.js';
import { startRedisServer } from '../scripts/redis-server.js';
import type { RedisServerHandle } from '../scripts/redis-server.js';
import { freePort } from '../scripts/free-port.js';
import { eventually } from './support/stack.js';

/**
 * The cache's Redis refusing writes (maxmemory reached, noeviction: every INCR answered OOM) while
 * events keep coming: each event's invalidation fails, and the store turns the cache off until its
 * epoch is bumped. That is one state, so it is one warning when it begins and one line when the
 * cache is back on (with how many failures lay between), not a line per event: a backlog of events
 * once wrote ~1,500 warnings in 2 s, burying what an operator needed to read.
 */
let redis: RedisServerHandle;
let admin: Redis;
let store: TaggedStore;
const lines: { level: number; msg: string; failures?: number }[] = [];

beforeAll(async () => {
  redis = await startRedisServer(await freePort(), { dataDir: await mkdtemp(path.join(os.tmpdir(), 'supergraph-cache-logs-')) });
  admin = new Redis(redis.url, { lazyConnect: true });
  await admin.connect();
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as (typeof lines)[number]);
      done();
    },
  });
  const log = pino({ level: 'info' }, sink);
  const client = createRedisClient({ REDIS_URL: redis.url }, 'request', 'cache', log);
  store = createTaggedStore({
    redis: createRedisGuard(client, 'cache', log),
    prefix: 'logs:cache:',
    localMaxBytes: 0,
    eventSkewMs: 2_000,
    log,
  });
  await eventually(async () => (store.usable() ? true : undefined), { timeoutMs: 30_000 });
}, 60_000);

afterAll(async () => {
  await store?.close();
  admin?.disconnect();
  await redis?.stop();
});

const about = (pattern: RegExp) => lines.filter((l) => pattern.test(l.msg));

describe('cache outage logs', () => {
  it('Redis refusing writes under 200 events: one warning when the cache goes off, one line when it is back on', async () => {
    await admin.config('SET', 'maxmemory-policy', 'noeviction');
    await admin.config('SET', 'maxmemory', '1');
    await expect(admin.incr('logs:probe')).rejects.toThrow(/OOM/);

    for (let i = 0; i < 200; i++) await store.invalidate([`Product:${i}`]);
    expect(store.usable()).toBe(false);
    const warnings = lines.filter((l) => l.level >= 40);
    console.log(
      `[cache-outage-logs] 200 failed invalidations: ${warnings.length} warnings: ${JSON.stringify([...new Set(warnings.map((w) => w.msg))])}`,
    );
    expect(about(/invalidation not written/)).toHaveLength(1);
    expect(about(/epoch not bumped/)).toHaveLength(1);
    expect(warnings.length).toBeLessThanOrEqual(2);

    // Space back: the store's own retry bumps the epoch and says so once, counting what failed.
    await admin.config('SET', 'maxmemory', '0');
    await eventually(async () => (store.usable() ? true : undefined), { timeoutMs: 30_000, intervalMs: 100 });
    const back = about(/back on/);
    expect(back).toHaveLength(1);
    expect(back[0]!.failures).toBeGreaterThanOrEqual(200);
  }, 120_000);
});
