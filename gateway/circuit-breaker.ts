import { BrokenCircuitError, CircuitState, ConsecutiveBreaker, SamplingBreaker, circuitBreaker, handleWhen } from 'cockatiel';
import type { CircuitBreakerPolicy, IBreaker } from 'cockatiel';

/**
 * One circuit breaker per subgraph, on cockatiel (typed, no dependencies, and its breakers, retry
 * and jittered backoff are small composable policies; opossum would wrap each call in its own
 * timeout and event machinery that the fetcher already has).
 *
 * Closed: fetches go through; a failure (see `isBreakerFailure`) counts. It opens after
 * `consecutiveFailures` failures in a row, or when `failureRate` of the fetches over `windowMs`
 * failed (cockatiel's SamplingBreaker, which only judges at 2 fetches/s or more). Open: every fetch
 * fails at once with `BrokenCircuitError`. Every `halfOpenAfterMs` the breaker runs `probe` (the
 * subgraph's /health/ready) as its half-open test, so no client request is ever the guinea pig
 * and every client fetch fails fast until the probe succeeds; then it closes.
 */
export interface BreakerSettings {
  consecutiveFailures: number;
  failureRate: number;
  windowMs: number;
  halfOpenAfterMs: number;
}

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface SubgraphBreaker {
  /** Runs one fetch through the breaker; throws BrokenCircuitError at once while open or probing. */
  execute<T>(fetch: () => Promise<T>): Promise<T>;
  state(): BreakerState;
  /** Stops the probe timer (gateway shutdown). */
  close(): void;
}

/** Opens on whichever trips first: a run of consecutive failures, or the failure rate over a window. */
function eitherBreaker(a: IBreaker, b: IBreaker): IBreaker {
  return {
    get state() {
      return [a.state, b.state];
    },
    set state(value: unknown) {
      [a.state, b.state] = value as [unknown, unknown];
    },
    success(state) {
      a.success(state);
      b.success(state);
    },
    failure(state) {
      // Both must see every failure, so no short-circuit.
      const tripA = a.failure(state);
      const tripB = b.failure(state);
      return tripA || tripB;
    },
  };
}

const STATES: Record<CircuitState, BreakerState> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half-open',
  [CircuitState.Isolated]: 'open',
};

export function createSubgraphBreaker(opts: {
  settings: BreakerSettings;
  isFailure: (err: unknown) => boolean;
  probe: () => Promise<void>;
  onStateChange?: (state: BreakerState) => void;
}): SubgraphBreaker {
  const { settings } = opts;
  const policy: CircuitBreakerPolicy = circuitBreaker(handleWhen(opts.isFailure), {
    halfOpenAfter: settings.halfOpenAfterMs,
    breaker: eitherBreaker(
      new ConsecutiveBreaker(settings.consecutiveFailures),
      new SamplingBreaker({ threshold: settings.failureRate, duration: settings.windowMs, minimumRps: 2 }),
    ),
  });
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  // After the open interval, the probe is the half-open test call: success closes, failure re-opens.
  const scheduleProbe = () => {
    clearTimeout(timer);
    if (closed) return;
    timer = setTimeout(() => {
      policy.execute(opts.probe).catch(() => undefined);
    }, settings.halfOpenAfterMs + 5);
    timer.unref();
  };
  policy.onBreak(scheduleProbe);
  policy.onStateChange((state) => opts.onStateChange?.(STATES[state]));
  return {
    execute(fetch) {
      // cockatiel would let the first request after the interval be the test and make concurrent
      // ones wait for it; here only the probe tests, and client fetches never wait on a dead subgraph.
      if (policy.state !== CircuitState.Closed) return Promise.reject(new BrokenCircuitError());
      return policy.execute(fetch);
    },
    state: () => STATES[policy.state],
    close() {
      closed = true;
      clearTimeout(timer);
    },
  };
}
