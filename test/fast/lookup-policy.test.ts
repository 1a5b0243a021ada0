import { describe, expect, it } from 'vitest';
import { createLookupPolicy, createShapeMemo } from '../../gateway/cache/lookup-policy.js';
import type { CacheScope } from '../../gateway/cache/cached-fetcher.js';

/**
 * When a fetch shape without hits goes quiet (gateway/cache/lookup-policy.ts), with the default
 * windows: 200 lookups, and at least 5 s for a public shape (anyone's repeat would hit) or a minute
 * for a private one (only its caller's return can). A shape's window start is moved back instead
 * of waiting for it.
 */
function shapeAfter(scope: CacheScope, elapsedMs: number, lookups = 200) {
  const policy = createLookupPolicy();
  const shapes = createShapeMemo();
  shapes.set('s', scope);
  const state = shapes.get('s')!;
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
