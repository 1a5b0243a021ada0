import { describe, expect, it } from 'vitest';
import { createTwinMisses } from '../../gateway/cache/response-cache.js';

/** The response cache's twin misses (gateway/cache/response-cache.ts): who leads a key, and when its twins wait. */
describe('twin misses', () => {
  it('a miss with no leader leads; its twins wait until it ends; then the key is free again', async () => {
    const twins = createTwinMisses();
    expect(twins.wait('k')).toBeNull();
    const done = twins.lead('k');
    let ended = false;
    const waiting = twins.wait('k')!.then(() => (ended = true));
    expect(twins.wait('other')).toBeNull();
    await Promise.resolve();
    expect(ended).toBe(false);
    done(true);
    await waiting;
    expect(ended).toBe(true);
    expect(twins.wait('k')).toBeNull();
  });

  it("an earlier leader's end does not free a later leader's key", () => {
    const twins = createTwinMisses();
    const first = twins.lead('k');
    const second = twins.lead('k');
    first(true);
    expect(twins.wait('k')).not.toBeNull();
    second(true);
    expect(twins.wait('k')).toBeNull();
  });

  it('for 2 s after a lead that stored nothing, twins of that key run at once; a stored lead ends that', () => {
    let clock = 0;
    const twins = createTwinMisses(() => clock);
    twins.lead('k')(false);
    const next = twins.lead('k');
    expect(twins.wait('k')).toBeNull();
    clock = 2_000;
    expect(twins.wait('k')).not.toBeNull();
    clock = 1_000;
    next(true);
    const stored = twins.lead('k');
    expect(twins.wait('k')).not.toBeNull();
    stored(true);
  });
});
