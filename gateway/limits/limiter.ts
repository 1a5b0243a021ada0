import { HeaderMap } from '@apollo/server';
import type { GraphQLError } from 'graphql';
import type { RedisGuard } from '../../platform/redis-guard.js';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import { ErrorCode, appError } from '../../platform/errors.js';

export interface LimiterOptions {
  /** Part of the Redis key: `<namespace>limit:<name>:<key>`. */
  name: string;
  points: number;
  durationSeconds: number;
  /** Above 1 (and with Redis): points taken from the shared counter at a time (createLeasedLimiter). */
  lease?: number;
}

export interface Limiter {
  /** Takes `points` for key; refused when that goes over the window's points (the counter still grows). */
  consume(key: string, points?: number): Promise<Outcome>;
  /** Gives points back (an attempt that turned out not to count). */
  refund(key: string, points?: number): Promise<void>;
  reset(key: string): Promise<void>;
  readonly points: number;
}

export type Outcome = { allowed: true; remaining: number; resetSeconds: number } | { allowed: false; retryAfterSeconds: number };

/**
 * A fixed-window counter from rate-limiter-flexible, in Redis when the gateway has one (every
 * instance counts together: one Lua INCR+EXPIRE per call), and always also in this gateway's
 * memory. A key is refused when either count is over the limit: a Redis call that is slow (past
 * REDIS_COMMAND_TIMEOUT_MS), frozen or refused (the connection's breaker then skips Redis at once)
 * loses nothing locally, so each gateway on its own never admits more than the limit per window,
 * and N gateways together at most N × the limit while Redis is away (exactly the limit while it
 * answers). Redis never sees the counts it missed.
 */
export function createLimiter(redis: RedisGuard | null, namespace: string, opts: LimiterOptions): Limiter {
  if (redis && opts.lease && opts.lease > 1) return createLeasedLimiter(redis, namespace, { ...opts, lease: opts.lease });
  const keyPrefix = `${namespace}limit:${opts.name}`;
  const memory = new RateLimiterMemory({ keyPrefix, points: opts.points, duration: opts.durationSeconds });
  const shared = redis
    ? new RateLimiterRedis({ storeClient: redis.client, keyPrefix, points: opts.points, duration: opts.durationSeconds })
    : null;
  const outcome = (res: RateLimiterRes | Error): Outcome | null => {
    if (!(res instanceof RateLimiterRes)) return null; // Redis did not answer: memory decides
    if (res.consumedPoints > opts.points) return { allowed: false, retryAfterSeconds: seconds(res.msBeforeNext) };
    return { allowed: true, remaining: res.remainingPoints, resetSeconds: seconds(res.msBeforeNext) };
  };
  const settle = <T>(p: Promise<T>) =>
    p.then(
      (v) => v,
      (err: unknown) => err as T,
    );
  // Redis when it answers in time (behind the guard); failures are swallowed, memory always counts.
  const both = (use: (limiter: RateLimiterAbstract) => Promise<unknown>) =>
    Promise.all([settle(use(memory)), shared && redis ? settle(redis.run(() => use(shared))) : Promise.resolve(null)]);
  return {
    points: opts.points,
    async consume(key, points = 1) {
      const [local, global] = (await both((l) => l.consume(key, points))) as [RateLimiterRes | Error, RateLimiterRes | Error | null];
      const mine = outcome(local);
      if (!mine) throw new Error('in-memory rate limiter failed', { cause: local });
      const all = global ? outcome(global) : null;
      if (!mine.allowed) return mine;
      return all ?? mine;
    },
    async refund(key, points = 1) {
      await both((l) => l.reward(key, points));
    },
    async reset(key) {
      await both((l) => l.delete(key));
    },
  };
}

/**
 * Limiters of one name that differ only in their points (per-partner limits): one instance per
 * distinct value, made on first use and kept. They share the Redis key prefix, so a partner whose
 * limit changes keeps its count for the current window (a lowered limit applies at once, it does
 * not hand out a fresh window). The in-memory fallback counts per instance, so there a change of
 * limit starts that partner's count afresh.
 */
export function createLimiterSet(
  redis: RedisGuard | null,
  namespace: string,
  opts: Omit<LimiterOptions, 'points'>,
): (points: number) => Limiter {
  const byPoints = new Map<number, Limiter>();
  return (points) => {
    let limiter = byPoints.get(points);
    if (!limiter) byPoints.set(points, (limiter = createLimiter(redis, namespace, { ...opts, points })));
    return limiter;
  };
}

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/** The GraphQL error for a refused request; Apollo turns `extensions.http` into the 429 and its Retry-After. */
export function rateLimitedError(message: string, retryAfterSeconds: number): GraphQLError {
  return appError(ErrorCode.RATE_LIMITED, message, {
    retryAfterSeconds,
    http: {
      status: 429,
      headers: new HeaderMap([
        ['retry-after', String(retryAfterSeconds)],
        ['cache-control', 'no-store'],
      ]),
    },
  });
}

/** One Redis round trip: add `want` to the window's counter (starting the window on its first points), and say what it holds now. */
const LEASE_SCRIPT = `
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
if total == tonumber(ARGV[1]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]); ttl = tonumber(ARGV[2]) end
return {total, ttl}`;

interface Lease {
  /** Points this instance took from the window and has not handed out yet. */
  left: number;
  /** The window's counter in Redis after this instance's last lease (every instance's leases). */
  total: number;
  resetAt: number;
}

/** Above this many keys, leases of ended windows are dropped (one sweep, on the next consume). */
const LEASE_SWEEP_AT = 10_000;

/**
 * The same fixed-window limit, counted in memory and synchronised with Redis in batches: an
 * instance takes `lease` points at a time from the window's shared counter (one Redis call) and
 * hands them out locally, so a busy key costs one Redis call per `lease` requests instead of one
 * each. A lease is only ever granted from what the window has left, so the instances together
 * never admit more than the limit; the error is the other way: points leased but not yet used sit
 * at the other instances, so a key may be refused after at least `limit - N × (lease - 1)`
 * admitted requests in a window (N gateway instances). Once the window is spent, the instance
 * refuses locally until it ends. Without Redis (or while it fails or its breaker is open) it counts in memory.
 */
export function createLeasedLimiter(redis: RedisGuard, namespace: string, opts: LimiterOptions & { lease: number }): Limiter {
  const fallback = createLimiter(null, namespace, { ...opts, lease: 1 });
  const keyPrefix = `${namespace}limit:${opts.name}:`;
  const windowMs = opts.durationSeconds * 1000;
  const leases = new Map<string, Lease>();
  const pending = new Map<string, Promise<Lease>>();

  const take = async (key: string, want: number): Promise<Lease> => {
    const [total, ttl] = (await redis.run((r) => r.eval(LEASE_SCRIPT, 1, keyPrefix + key, want, windowMs))) as [number, number];
    const granted = Math.max(0, Math.min(want, opts.points - (total - want)));
    const held = leases.get(key);
    const lease = { left: (held && held.resetAt > Date.now() ? held.left : 0) + granted, total, resetAt: Date.now() + ttl };
    leases.set(key, lease);
    return lease;
  };
  const leaseFor = (key: string, want: number) => {
    let inFlight = pending.get(key);
    if (!inFlight) pending.set(key, (inFlight = take(key, want).finally(() => pending.delete(key))));
    return inFlight;
  };
  const sweep = (now: number) => {
    if (leases.size > LEASE_SWEEP_AT) for (const [key, lease] of leases) if (lease.resetAt <= now) leases.delete(key);
  };
  const handOut = (lease: Lease, points: number, now: number): Outcome => {
    const allowed = lease.left >= points;
    // A refused consume counts too, as rate-limiter-flexible's does (Limiter.consume): a refund gives it back.
    lease.left -= points;
    if (!allowed) return { allowed: false, retryAfterSeconds: seconds(lease.resetAt - now) };
    return {
      allowed: true,
      remaining: Math.max(0, lease.left) + Math.max(0, opts.points - lease.total),
      resetSeconds: seconds(lease.resetAt - now),
    };
  };

  return {
    points: opts.points,
    async consume(key, points = 1) {
      const now = Date.now();
      sweep(now);
      let lease = leases.get(key);
      if (lease && lease.resetAt <= now) lease = undefined;
      // Enough left here, or the window is spent everywhere: decided without Redis.
      if (lease && (lease.left >= points || lease.total >= opts.points)) return handOut(lease, points, now);
      // Many may wait for one lease: those it does not cover take another, until the window is spent.
      for (;;) {
        try {
          lease = await leaseFor(key, Math.max(opts.lease, points));
        } catch {
          return fallback.consume(key, points);
        }
        if (lease.left >= points || lease.total >= opts.points) return handOut(lease, points, Date.now());
      }
    },
    async refund(key, points = 1) {
      const lease = leases.get(key);
      if (lease) lease.left += points;
    },
    async reset(key) {
      leases.delete(key);
      await redis.run((r) => r.del(keyPrefix + key)).catch(() => undefined);
    },
  };
}
