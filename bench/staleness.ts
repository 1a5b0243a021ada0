import type { Seen } from './load-worker.js';

/**
 * Staleness of the mixed workload's reads, from the catalog's own record of every stock change:
 * its outbox rows (StockChanged, in `position` order, which per product is commit order: the row
 * lock serialises the writers) and `occurred_at`, the change's transaction start. A transaction
 * commits after it starts and after the previous change of the same product committed, so
 * `committedAfter` = max(occurred_at, previous committedAfter) is a lower bound of the commit:
 * staleness measured from it can only come out too large, never too small.
 *
 * - staleness of a change: from its commit to the first response that shows it (or a later change
 *   of the product); changes committed in the last second of the window are not scored.
 * - a product view is stale by X when it missed a change that committed X before the read was sent.
 */
export interface StockChange {
  productId: string;
  stock: number;
  occurredAt: number;
}

export interface StalenessReport {
  /** Changes committed inside the scored window. */
  changes: number;
  /** Of those, shown by no response before the window ended. */
  unobserved: number;
  stalenessMs: { p50: number; p99: number; max: number } | null;
  /** Product views: one per product per response. */
  views: number;
  /** Views that missed a change committed more than 100 ms before they were sent. */
  staleOver100Ms: number;
  /** Views that missed a change committed more than 1 s before they were sent (the figure compared across gateways). */
  staleOver1S: number;
  /** Views that missed a change committed more than the field's max-age before they were sent. */
  staleOverMaxAge: number;
  /** The mean time between two reads of the same product (the floor of staleness without caches). */
  readIntervalMs: number;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

interface Step {
  stock: number;
  committedAfter: number;
}

function stepsOf(changes: StockChange[]): Step[] {
  const steps: Step[] = [];
  let bound = 0;
  for (const c of changes) {
    bound = Math.max(bound, c.occurredAt);
    steps.push({ stock: c.stock, committedAfter: bound });
  }
  return steps;
}

/** The newest change a response can have shown: the latest step with its stock, committed before it arrived. */
function shownIndex(steps: Step[], [, receivedAt, stock]: Seen): number {
  for (let i = steps.length - 1; i >= 0; i--) {
    if (steps[i]!.stock === stock && steps[i]!.committedAfter <= receivedAt) return i;
  }
  return -1; // the state before every recorded change
}

export function analyseStaleness(
  changes: StockChange[],
  seen: Record<string, Seen[]>,
  window: { start: number; end: number },
  maxAgeMs: number,
): StalenessReport {
  const byProduct = new Map<string, StockChange[]>();
  for (const c of changes) byProduct.set(c.productId, [...(byProduct.get(c.productId) ?? []), c]);
  const staleness: number[] = [];
  let scored = 0;
  let unobserved = 0;
  let views = 0;
  let over100 = 0;
  let over1S = 0;
  let overMaxAge = 0;
  let intervals = 0;
  let intervalCount = 0;
  for (const [productId, productViews] of Object.entries(seen)) {
    const steps = stepsOf(byProduct.get(productId) ?? []);
    const ordered = [...productViews].sort((a, b) => a[1] - b[1]);
    const shown = ordered.map((v) => shownIndex(steps, v));
    if (ordered.length > 1) {
      intervals += ordered.at(-1)![1] - ordered[0]![1];
      intervalCount += ordered.length - 1;
    }
    steps.forEach((step, k) => {
      if (step.committedAfter < window.start || step.committedAfter > window.end - 1_000) return;
      scored += 1;
      const first = ordered.findIndex((v, j) => v[1] >= step.committedAfter && shown[j]! >= k);
      if (first < 0) unobserved += 1;
      else staleness.push(ordered[first]![1] - step.committedAfter);
    });
    ordered.forEach((v, j) => {
      views += 1;
      const missed = steps.findIndex((s, k) => k > shown[j]! && s.committedAfter < v[0]);
      if (missed < 0) return;
      const age = v[0] - steps[missed]!.committedAfter;
      if (age > 100) over100 += 1;
      if (age > 1_000) over1S += 1;
      if (age > maxAgeMs) overMaxAge += 1;
    });
  }
  staleness.sort((a, b) => a - b);
  return {
    changes: scored,
    unobserved,
    stalenessMs: staleness.length ? { p50: percentile(staleness, 50), p99: percentile(staleness, 99), max: staleness.at(-1)! } : null,
    views,
    staleOver100Ms: over100,
    staleOver1S: over1S,
    staleOverMaxAge: overMaxAge,
    readIntervalMs: intervalCount ? intervals / intervalCount : 0,
  };
}
