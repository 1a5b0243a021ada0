import { BrokenCircuitError } from 'cockatiel';
import { describe, expect, it } from 'vitest';
import { createSubgraphBreaker } from '../../gateway/circuit-breaker.js';
import type { BreakerSettings } from '../../gateway/circuit-breaker.js';
import { eventually } from '../support/eventually.js';

/**
 * The breaker's state machine on its own (the network cases are in test/degradation.test.ts and
 * test/subgraph-fetch-policy.test.ts): which failures open it, that nothing waits while it is open
 * or probing, and that only the probe closes it.
 */
class Down extends Error {}
const fail = () => Promise.reject(new Down('down'));
const ok = () => Promise.resolve('ok');

function breaker(settings: Partial<BreakerSettings>, probe: () => Promise<void> = () => Promise.reject(new Down('still down'))) {
  const states: string[] = [];
  const b = createSubgraphBreaker({
    settings: { consecutiveFailures: 5, failureRate: 0.5, windowMs: 10_000, halfOpenAfterMs: 200, ...settings },
    isFailure: (err) => err instanceof Down,
    probe,
    onStateChange: (s) => states.push(s),
  });
  return { b, states };
}

describe('subgraph circuit breaker', () => {
  it('opens after consecutive failures; a success in between resets the run', async () => {
    const { b } = breaker({ consecutiveFailures: 3, failureRate: 0.99 });
    for (const call of [fail, fail, ok, fail, fail]) await b.execute<unknown>(call).catch(() => undefined);
    expect(b.state()).toBe('closed');
    await b.execute(fail).catch(() => undefined);
    expect(b.state()).toBe('open');
    await expect(b.execute(ok)).rejects.toBeInstanceOf(BrokenCircuitError);
    b.close();
  });

  it('opens on the failure rate over the window even without a long run of failures', async () => {
    const { b } = breaker({ consecutiveFailures: 100, failureRate: 0.5, windowMs: 1_000 });
    // fail, fail, ok, repeated: never more than two in a row, two thirds failed.
    for (let i = 0; i < 4 && b.state() === 'closed'; i++) {
      await b.execute(fail).catch(() => undefined);
      await b.execute(fail).catch(() => undefined);
      if (b.state() === 'closed') await b.execute(ok);
    }
    expect(b.state()).toBe('open');
    b.close();
  });

  it('errors that are not failures (a 4xx, a bug) never open it', async () => {
    const { b } = breaker({ consecutiveFailures: 2 });
    for (let i = 0; i < 5; i++) await b.execute(() => Promise.reject(new TypeError('bug'))).catch(() => undefined);
    expect(b.state()).toBe('closed');
    b.close();
  });

  it('while the probe runs (half-open), client calls fail at once; a failed probe re-opens, a good one closes', async () => {
    let answer: 'hang' | 'fail' | 'ok' = 'hang';
    let release: (() => void) | undefined;
    const probe = () =>
      answer === 'hang'
        ? new Promise<void>((resolve) => (release = resolve))
        : answer === 'fail'
          ? Promise.reject(new Down('no'))
          : Promise.resolve();
    const { b, states } = breaker({ consecutiveFailures: 1, halfOpenAfterMs: 100 }, probe);
    await b.execute(fail).catch(() => undefined);
    await eventually(async () => (b.state() === 'half-open' ? true : undefined), { timeoutMs: 2_000, intervalMs: 10 });
    const started = performance.now();
    await expect(b.execute(ok)).rejects.toBeInstanceOf(BrokenCircuitError);
    expect(performance.now() - started).toBeLessThan(50);
    answer = 'fail';
    release!();
    // The hung probe succeeded late, so it closed; open it again and let a failing probe keep it open.
    await eventually(async () => (b.state() === 'closed' ? true : undefined), { timeoutMs: 2_000, intervalMs: 10 });
    await b.execute(fail).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 400));
    expect(b.state()).toBe('open');
    answer = 'ok';
    await eventually(async () => (b.state() === 'closed' ? true : undefined), { timeoutMs: 2_000, intervalMs: 10 });
    expect(await b.execute(ok)).toBe('ok');
    expect(states).toEqual(expect.arrayContaining(['open', 'half-open', 'closed']));
    b.close();
  });
});
