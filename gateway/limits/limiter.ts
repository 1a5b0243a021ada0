import { HeaderMap } from '@apollo/server';
import type { GraphQLError } from 'graphql';
import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import { ErrorCode, appError } from '../../platform/errors.js';

export interface LimiterOptions {
  /** Part of the Redis key: `<namespace>limit:<name>:<key>`. */
  name: string;
  points: number;
  durationSeconds: number;
}

export interface Limiter {
  /** Takes `points` for key; refused when that goes over the window's points (the counter still grows). */
  consume(key: string, points?: number): Promise<Outcome>;
  /** Gives points back (an attempt that turned out not to count). */
  refund(key: string, points?: number): Promise<void>;
  reset(key: string): Promise<void>;
  readonly points: number;
}

export type Outcome =
  | { allowed: true; remaining: number; resetSeconds: number }
  | { allowed: false; retryAfterSeconds: number };

/**
 * A fixed-window counter from rate-limiter-flexible, in Redis when the gateway has one (every
 * instance counts together: one Lua INCR+EXPIRE per call), in memory in embedded mode. When Redis
 * is unreachable the same limits are kept per instance in memory (the library's insurance
 * limiter) rather than failing every request or letting everything through.
 */
export function createLimiter(redis: Redis | null, namespace: string, opts: LimiterOptions): Limiter {
  const keyPrefix = `${namespace}limit:${opts.name}`;
  const memory = new RateLimiterMemory({ keyPrefix, points: opts.points, duration: opts.durationSeconds });
  const limiter: RateLimiterAbstract = redis
    ? new RateLimiterRedis({
        storeClient: redis,
        keyPrefix,
        points: opts.points,
        duration: opts.durationSeconds,
        // Fail over to memory at once instead of queueing behind a reconnect.
        rejectIfRedisNotReady: true,
        insuranceLimiter: memory,
      })
    : memory;
  return {
    points: opts.points,
    async consume(key, points = 1) {
      try {
        const res = await limiter.consume(key, points);
        return { allowed: true, remaining: res.remainingPoints, resetSeconds: seconds(res.msBeforeNext) };
      } catch (rejection) {
        if (rejection instanceof RateLimiterRes) return { allowed: false, retryAfterSeconds: seconds(rejection.msBeforeNext) };
        throw rejection;
      }
    },
    async refund(key, points = 1) {
      await limiter.reward(key, points);
    },
    async reset(key) {
      await limiter.delete(key);
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
export function createLimiterSet(redis: Redis | null, namespace: string, opts: Omit<LimiterOptions, 'points'>): (points: number) => Limiter {
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
    http: { status: 429, headers: new HeaderMap([['retry-after', String(retryAfterSeconds)], ['cache-control', 'no-store']]) },
  });
}
