import { describe, expect, it } from 'vitest';
import { createTwinMisses } from '../../gateway/cache/response-cache.js';

/** The response cache's twin misses (gateway/cache/response-cache.ts): who leads a key, and when its twins stop waiting. */
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
    done();
    await waiting;
    expect(ended).toBe(true);
    expect(twins.wait('k')).toBeNull();
  });

  it("an earlier leader's end does not free a later leader's key", async () => {
    const twins = createTwinMisses();
    const first = twins.lead('k');
    const second = twins.lead('k');
    first();
    expect(twins.wait('k')).not.toBeNull();
    second();
    expect(twins.wait('k')).toBeNull();
  });
});
