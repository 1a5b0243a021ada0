import type { RedisGuard } from '../../platform/redis-guard.js';
import type { Logger } from '../../platform/logger.js';

/** One cap a stream counts against: every gateway's streams under `key` together, at most `max`. */
export interface SharedCap {
  key: string;
  max: number;
}

export interface SharedCaps {
  /** One slot under every cap, all or none; null when one of them is full. */
  take(caps: SharedCap[]): Promise<{ release(): void } | null>;
  close(): void;
}

/**
 * Each cap is a Redis sorted set of slots scored by lease expiry (Redis's own clock, so gateways'
 * clocks need not agree): a slot is a member until released, or until its lease runs out because
 * its gateway died without releasing it. Expired members are dropped before counting.
 */
const TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZCARD', key) >= tonumber(ARGV[i + 2]) then return 0 end
end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now + lease, ARGV[1])
  redis.call('PEXPIRE', key, lease)
end
return 1`;

const RENEW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', now + tonumber(ARGV[2]), ARGV[1])
  redis.call('PEXPIRE', key, ARGV[2])
end
return 1`;

/** A slot lives this long without renewal (its gateway renews every third of it). */
export const SHARED_CAP_LEASE_MS = 30_000;
/** A Redis answer slower than this counts as Redis unavailable: the stream is counted in memory instead. */
const REDIS_WAIT_MS = 250;

/**
 * Caps held across gateways, counted in Redis as the request rate limits are; when Redis is
 * unavailable (none, not ready, an error, too slow) each gateway counts its own streams in memory,
 * so the cap then holds per gateway, never not at all.
 */
export function createSharedCaps(opts: { redis: RedisGuard | null; prefix: string; log: Logger }): SharedCaps {
  const { log } = opts;
  // Calls go through the connection's breaker: while Redis is known to be away, memory at once.
  const guard = opts.redis;
  const redis = guard?.client;
  const local = new Map<string, number>();
  const shared = new Map<string, string[]>(); // open Redis slots: member -> keys
  let seq = 0;
  const memberPrefix = `${process.pid}-${Date.now().toString(36)}-`;

  const takeLocal = (caps: SharedCap[]) => {
    if (caps.some((c) => (local.get(c.key) ?? 0) >= c.max)) return null;
    for (const c of caps) local.set(c.key, (local.get(c.key) ?? 0) + 1);
    return once(() => {
      for (const c of caps) {
        const n = (local.get(c.key) ?? 1) - 1;
        if (n <= 0) local.delete(c.key);
        else local.set(c.key, n);
      }
    });
  };

  const takeShared = async (caps: SharedCap[]) => {
    const member = `${memberPrefix}${seq++}`;
    const keys = caps.map((c) => opts.prefix + c.key);
    const taken = await withDeadline(
      guard!.run((r) => r.eval(TAKE, keys.length, ...keys, member, SHARED_CAP_LEASE_MS, ...caps.map((c) => c.max))),
    );
    if (taken !== 1) return null;
    shared.set(member, keys);
    return once(() => {
      shared.delete(member);
      void Promise.all(keys.map((k) => redis!.zrem(k, member))).catch((err: unknown) =>
        log.warn({ err: (err as Error).message }, 'subscription cap: slot not released in Redis; its lease ends it'),
      );
    });
  };

  const renew = setInterval(() => {
    for (const [member, keys] of shared) void redis?.eval(RENEW, keys.length, ...keys, member, SHARED_CAP_LEASE_MS).catch(() => undefined);
  }, SHARED_CAP_LEASE_MS / 3);
  renew.unref();

  return {
    async take(caps) {
      if (!caps.length) return { release: () => {} };
      if (!guard?.available()) return takeLocal(caps);
      try {
        return await takeShared(caps);
      } catch (err) {
        log.warn({ err: (err as Error).message }, 'subscription cap: Redis unavailable, counting this gateway in memory');
        return takeLocal(caps);
      }
    },
    close: () => clearInterval(renew),
  };
}

const once = (fn: () => void) => {
  let done = false;
  return {
    release() {
      if (done) return;
      done = true;
      fn();
    },
  };
};

async function withDeadline<T>(promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${REDIS_WAIT_MS} ms`)), REDIS_WAIT_MS);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
