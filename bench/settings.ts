import { GATEWAYS } from './gateways.js';
import type { GatewayName } from './gateways.js';

/** A numeric knob of the benchmark, from its env variable (BENCH_*). */
export const envNumber = (name: string, fallback: number) => Number(process.env[name] ?? fallback);

export const SETTINGS = {
  durationS: envNumber('BENCH_DURATION_S', 8),
  warmupS: envNumber('BENCH_WARMUP_S', 2),
  reps: envNumber('BENCH_REPS', 3),
  connections: envNumber('BENCH_CONNECTIONS', 16),
  checkoutConcurrency: envNumber('BENCH_CHECKOUT_CONCURRENCY', 4),
  mixedReaders: envNumber('BENCH_MIXED_READERS', 8),
  mixedCategories: envNumber('BENCH_MIXED_CATEGORIES', 5),
  rotatedUsers: envNumber('BENCH_USERS', 2_000),
  firstVisitUsers: envNumber('BENCH_FIRST_VISIT_USERS', 10_000),
  /**
   * 0 (the default): the timed warm-up only, no key visited before it is timed (caches meet keys as
   * they come); 1: each HTTP run's warm-up is one pass over all its keys (a friendly, fully warm setup).
   */
  warmupPass: envNumber('BENCH_WARMUP_PASS', 0),
  scale: envNumber('BENCH_SCALE', 1), // < 1 shrinks the data set for quick trials
};
/** The gateways under test (BENCH_GATEWAYS) and the workloads run (BENCH_WORKLOADS), comma-separated. */
export const ONLY = (process.env.BENCH_GATEWAYS ?? GATEWAYS.join(',')).split(',') as GatewayName[];
/** checkout and dataloader are not run unless named (seven gateways make every workload seven times as long). */
export const WORKLOADS = (process.env.BENCH_WORKLOADS ?? 'storefront,partner,account,account-first-visit,mixed').split(',');
