import { describe, expect, it } from 'vitest';
import { createLookupPolicy, createShapeMemo } from '../../gateway/cache/lookup-policy.js';
import type { LookupPolicy, ShapeState } from '../../gateway/cache/lookup-policy.js';
import type { CacheScope } from '../../gateway/cache/cached-fetcher.js';

/**
 * When a fetch shape without hits goes quiet (gateway/cache/lookup-policy.ts), with the default
 * windows: 200 lookups, and at least 5 s for a public shape (anyone's repeat would hit) or a minute
 * for a private one (only its caller's return can), after its first window (the fill, not judged).
 * A shape's window start is moved back instead of waiting for it.
 */
function pastFill(state: ShapeState, policy: LookupPolicy) {
  state.since = Date.now() - 61_000;
  for (let i = 0; i < 200; i++) policy.record(state, 1, 0);
}

function shapeAfter(scope: CacheScope, elapsedMs: number, lookups = 200) {
  const policy = createLookupPolicy();
  const shapes = createShapeMemo();
  shapes.set('s', scope);
  const state = shapes.get('s')!;
  pastFill(state, policy);
  state.since = Date.now() - elapsedMs;
  for (let i = 0; i < lookups; i++) policy.record(state, 1, 0);
  return state;
}

describe('a shape without hits goes quiet', () => {
  it('public: after 200 lookups and 5 s, not before either', () => {
    expect(shapeAfter('public', 6_000).quiet).toBe(true);
    expect(shapeAfter('public', 1_000).quiet).toBe(false);
    expect(shapeAfter('public', 6_000, 199).quiet).toBe(false);
  });

  it('not in its fill (its first window), nor in the first after a probe woke it', () => {
    const policy = createLookupPolicy();
    const shapes = createShapeMemo();
    shapes.set('s', 'public');
    const state = shapes.get('s')!;
    expect(state.filling).toBe(true);
    pastFill(state, policy);
    expect(state.quiet).toBe(false);
    expect(state.filling).toBe(false);
    state.since = Date.now() - 6_000;
    for (let i = 0; i < 200; i++) policy.record(state, 1, 0);
    expect(state.quiet).toBe(true);
    // A probe spares its fetch: awake, and filling again.
    policy.record(state, 1, 1);
    expect(state).toMatchObject({ quiet: false, filling: true });
    state.since = Date.now() - 6_000;
    for (let i = 0; i < 200; i++) policy.record(state, 1, 0);
    expect(state).toMatchObject({ quiet: false, filling: false });
  });

  it('private: only after a minute', () => {
    expect(shapeAfter('private', 6_000).quiet).toBe(false);
    expect(shapeAfter('private', 61_000).quiet).toBe(true);
  });

  it('a hit in the window keeps it awake, and the first hit wakes a quiet one', () => {
    const policy = createLookupPolicy();
    const state = shapeAfter('public', 6_000);
    state.since = Date.now() - 6_000;
    policy.record(state, 1, 1);
    expect(state.quiet).toBe(false);
    state.since = Date.now() - 6_000;
    for (let i = 0; i < 200; i++) policy.record(state, 1, i === 0 ? 1 : 0);
    expect(state.quiet).toBe(false);
  });
});

/**
 * An `_entities` fetch with one representation missing still goes to the subgraph: its hits spare
 * little. A shape is judged on the fetches it spared (every key found), one per `keysPerSpare`
 * (400) keys looked up; the returning users' account pages of the benchmark (about 60 products a
 * page, 55% of them found, no page found whole) cost more with the cache on than off before this.
 */
describe('an entities shape is judged on the fetches it spares, not on its hits', () => {
  const pages = (
    state: ReturnType<typeof shapeAfter>,
    policy: ReturnType<typeof createLookupPolicy>,
    n: number,
    whole: (i: number) => boolean,
  ) => {
    for (let i = 0; i < n; i++) policy.record(state, 60, whole(i) ? 60 : 33);
  };

  it('60-key fetches, 55% of keys found, none found whole: quiet after the window', () => {
    const policy = createLookupPolicy();
    const state = shapeAfter('public', 0, 0);
    pages(state, policy, 100, () => false);
    state.since = Date.now() - 6_000;
    pages(state, policy, 1, () => false);
    expect(state.quiet).toBe(true);
  });

  it('found whole one time in five: awake; a probe found whole wakes a quiet shape', () => {
    const policy = createLookupPolicy();
    const state = shapeAfter('public', 0, 0);
    pages(state, policy, 100, (i) => i % 5 === 0);
    state.since = Date.now() - 6_000;
    pages(state, policy, 1, () => false);
    expect(state.quiet).toBe(false);

    state.quiet = true;
    pages(state, policy, 3, () => false);
    expect(state.quiet).toBe(true);
    pages(state, policy, 1, () => true);
    expect(state.quiet).toBe(false);
  });
});

describe("a caller's visits", () => {
  it('are timed from the previous request, and that one from the one before; the fetches of one request are one visit', () => {
    let clock = 0;
    const policy = createLookupPolicy({ now: () => clock });
    expect(policy.visit('ada', 'r1')).toMatchObject({ since: undefined, previous: undefined });
    clock = 10;
    expect(policy.visit('ada', 'r1')).toMatchObject({ since: undefined, previous: undefined });
    clock = 5_000;
    expect(policy.visit('ada', 'r2')).toMatchObject({ since: 5_000, previous: undefined });
    clock = 5_010;
    expect(policy.visit('ada', 'r2')).toMatchObject({ since: 5_000, previous: undefined });
    clock = 70_000;
    expect(policy.visit('ada', 'r3')).toMatchObject({ since: 65_000, previous: 5_000 });
    clock = 71_000;
    expect(policy.visit('ada', 'r4')).toMatchObject({ since: 1_000, previous: 65_000 });
    expect(policy.visit('bob', 'r4')).toMatchObject({ since: undefined, previous: undefined });
  });
});
