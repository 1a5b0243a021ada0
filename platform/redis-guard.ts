import { BrokenCircuitError, CircuitState, ConsecutiveBreaker, circuitBreaker, handleWhen } from 'cockatiel';
import { ReplyError } from 'ioredis';
import type { Redis } from 'ioredis';
import { Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import type { Logger } from './logger.js';

/** After this many calls in a row that timed out or found no connection, the connection's breaker opens. */
const BREAKER_FAILURES = 3;
/** While open, one call is let through this often to see whether Redis answers again. */
const BREAKER_HALF_OPEN_MS = 1_000;

export type RedisState = 'ready' | 'breaker-open' | 'disconnected';

/** One connection's state, for readiness details and the `redis_connection_up` gauge. */
export interface RedisStatus {
  readonly name: string;
  state(): RedisState;
}

export interface RedisGuard extends RedisStatus {
  readonly client: Redis;
  /** Runs a call unless the connection is known to be away: then it rejects at once (the caller's fallback). */
  run<T>(call: (redis: Redis) => Promise<T>): Promise<T>;
  /** Whether calls would be tried now (connected, breaker not open). */
  available(): boolean;
}

/** Thrown by `run` without calling Redis: disconnected, or the breaker is open. */
export class RedisUnavailableError extends Error {
  constructor(name: string, why: string) {
    super(`redis ${name} unavailable: ${why}`);
  }
}

/** A connection without a breaker (subscriber, background): its state is ioredis's. */
export const connectionStatus = (client: Redis, name: string): RedisStatus => ({
  name,
  state: () => (client.status === 'ready' ? 'ready' : 'disconnected'),
});

/**
 * A per-connection breaker (cockatiel) in front of a `request` client: each call already has a
 * deadline (commandTimeout); after a few calls in a row time out or find no connection, the next
 * ones skip Redis without waiting at all, and one call a second checks whether it answers again.
 * Redis's own refusals (OOM, NOSCRIPT, a wrong type) are answers, not failures.
 */
export function createRedisGuard(client: Redis, name: string, log: Logger): RedisGuard {
  const policy = circuitBreaker(
    handleWhen((err) => err instanceof Error && !(err instanceof ReplyError)),
    { halfOpenAfter: BREAKER_HALF_OPEN_MS, breaker: new ConsecutiveBreaker(BREAKER_FAILURES) },
  );
  // A client made on first use is still connecting: its first calls wait for it, at most one command deadline.
  let everReady = client.status === 'ready';
  const firstConnect = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, client.options.commandTimeout ?? 0);
    client.once('ready', () => {
      everReady = true;
      clearTimeout(timer);
      resolve();
    });
  });
  let openedAt = 0;
  policy.onBreak(() => {
    openedAt = Date.now();
    log.warn({ connection: name }, 'redis breaker open: calls skip redis');
  });
  policy.onReset(() => log.info({ connection: name }, 'redis breaker closed'));
  // cockatiel moves to half-open only when a call is made: an open breaker past its wait counts as ready, so the next call is the probe.
  const state = (): RedisState => {
    if (client.status !== 'ready') return 'disconnected';
    const open = policy.state === CircuitState.Open || policy.state === CircuitState.Isolated;
    return open && Date.now() - openedAt < BREAKER_HALF_OPEN_MS ? 'breaker-open' : 'ready';
  };
  return {
    name,
    client,
    async run(call) {
      if (!everReady) await firstConnect;
      if (client.status !== 'ready') throw new RedisUnavailableError(name, client.status);
      try {
        return await policy.execute(() => call(client));
      } catch (err) {
        if (err instanceof BrokenCircuitError) throw new RedisUnavailableError(name, 'breaker open');
        throw err;
      }
    },
    available: () => state() === 'ready',
    state,
  };
}

/** For readiness details: `not configured`, `ready`, or each connection's state when one is not ready. */
export function redisDetails(statuses: RedisStatus[]): string | Record<string, string> {
  if (!statuses.length) return 'not configured';
  const states = Object.fromEntries(statuses.map((s) => [s.name, s.state()]));
  return Object.values(states).every((s) => s === 'ready') ? 'ready' : states;
}

/** `redis_connection_up{connection}`: 1 while a connection is usable, 0 while disconnected or its breaker is open. */
export function registerRedisMetrics(registry: Registry, statuses: () => RedisStatus[]): void {
  new Gauge({
    name: 'redis_connection_up',
    help: 'Whether each Redis connection of this process is usable (1) or disconnected / breaker open (0); requests are served either way.',
    labelNames: ['connection'] as const,
    registers: [registry],
    collect() {
      for (const s of statuses()) this.set({ connection: s.name }, s.state() === 'ready' ? 1 : 0);
    },
  });
}
