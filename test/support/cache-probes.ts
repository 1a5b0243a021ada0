import { eventually } from './eventually.js';

/**
 * What a gateway's caches did, read from its /metrics (never from the cache's internals): lookups
 * by result, invalidations by event type, and the waits built on them.
 */
export type CacheKind = 'entity' | 'response';

/** Cache lookups the gateway has counted, by result (both caches unless one is named). */
export async function cacheLookups(metricsUrl: string, only?: CacheKind, subgraph?: string): Promise<{ hit: number; miss: number }> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const names = only ? [`gateway_${only}_cache_total{`] : ['gateway_entity_cache_total{', 'gateway_response_cache_total{'];
  const sum = (result: string) =>
    text
      .split('\n')
      .filter(
        (l) =>
          names.some((n) => l.startsWith(n)) && l.includes(`result="${result}"`) && (!subgraph || l.includes(`subgraph="${subgraph}"`)),
      )
      .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
  return { hit: sum('hit'), miss: sum('miss') };
}

/** Tags the gateway has invalidated on events of this type so far (such an event reached it). */
export async function cacheInvalidations(metricsUrl: string, event: string): Promise<number> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  return Number(new RegExp(`^gateway_cache_invalidations_total\\{[^}]*event="${event}"[^}]*\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
}

/**
 * Runs a change and waits until the named events it causes reached the gateways (their invalidations
 * are counted). Named, not any: placing an order sends catalog's StockChanged and orders'
 * OrderPlaced, from two relays, in either order; waiting for "an" event let a test read the
 * customer's cached list after StockChanged but before OrderPlaced dropped it.
 */
export async function changeAndAwaitEvent<T>(change: () => Promise<T>, events: string[], metricsUrls: string[]): Promise<T> {
  const counts = () => Promise.all(metricsUrls.flatMap((u) => events.map((e) => cacheInvalidations(u, e))));
  const before = await counts();
  const result = await change();
  await eventually(async () => ((await counts()).every((n, i) => n > before[i]!) ? true : undefined), { timeoutMs: 30_000 });
  return result;
}

/** Asks until the gateway answers a cacheable query from the cache (the first answer teaches it the shape). */
export async function untilCached(
  metricsUrl: string,
  ask: () => Promise<unknown>,
  only?: CacheKind,
  subgraph?: string,
  timeoutMs = 10_000,
): Promise<void> {
  await eventually(
    async () => {
      const before = (await cacheLookups(metricsUrl, only, subgraph)).hit;
      await ask();
      return (await cacheLookups(metricsUrl, only, subgraph)).hit > before ? true : undefined;
    },
    { timeoutMs },
  );
}
