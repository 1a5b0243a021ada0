import DataLoader from 'dataloader';

/**
 * DataLoader helpers. Loaders are created per request (never shared between users) and every
 * batch is one `WHERE key = ANY($1)` statement whose rows are handed back in key order.
 */

/** Told the size of every batch (metrics: dataloader_batch_size). */
export type BatchObserver = (loader: string, size: number) => void;

/**
 * The benchmark's "DataLoader off" runs (DATALOADER_DISABLED, platform/config.ts): batches of one
 * and no per-request cache. Set once at start-up, before any request builds loaders.
 */
let loaderOptions: { batch?: false; cache?: false } = {};
export function configureLoaders(settings: { batching: boolean }): void {
  loaderOptions = settings.batching ? {} : { batch: false, cache: false };
}

/** A DataLoader that reports each batch's size to the observer it was given (if any). */
class ObservedLoader<K, V, C = K> extends DataLoader<K, V, C> {
  observer: BatchObserver | undefined;
}

/**
 * Has every loader of one request's set (a subgraph's `createLoaders` result) report its batch
 * sizes to `observe`; a loader given no name is named by its key in the set. Batches run after the
 * loaders are built (DataLoader dispatches on a later tick), so setting the observer here is in time.
 */
export function observeBatches<T>(loaders: T, observe: BatchObserver): T {
  for (const [key, loader] of Object.entries(loaders as object)) {
    if (!(loader instanceof ObservedLoader)) continue;
    loader.name ??= key;
    loader.observer = observe;
  }
  return loaders;
}

function observedLoader<K, V, C = K>(
  batch: (keys: readonly K[]) => Promise<V[]>,
  name: string | undefined,
  options: DataLoader.Options<K, V, C> = {},
): DataLoader<K, V, C> {
  const loader: ObservedLoader<K, V, C> = new ObservedLoader<K, V, C>(
    (keys) => {
      loader.observer?.(loader.name ?? 'unnamed', keys.length);
      return batch(keys);
    },
    { ...loaderOptions, ...options, name: name ?? null },
  );
  return loader;
}

export function createEntityLoader<K extends string, V>(
  fetch: (keys: readonly K[]) => Promise<V[]>,
  keyOf: (row: V) => K,
  name?: string,
): DataLoader<K, V | null> {
  return observedLoader<K, V | null>(async (keys) => {
    const byKey = new Map<K, V>();
    for (const row of await fetch(keys)) byKey.set(keyOf(row), row);
    return keys.map((k) => byKey.get(k) ?? null);
  }, name);
}

/** One parent's list (e.g. an order's items), all parents of a batch in one statement. */
export function createGroupLoader<K extends string, V>(
  fetch: (keys: readonly K[]) => Promise<V[]>,
  groupOf: (row: V) => K,
  name?: string,
): DataLoader<K, V[]> {
  return observedLoader<K, V[]>(async (keys) => {
    const groups = new Map<K, V[]>(keys.map((k) => [k, []]));
    for (const row of await fetch(keys)) groups.get(groupOf(row))?.push(row);
    return keys.map((k) => groups.get(k) ?? []);
  }, name);
}

/**
 * A page of one parent's list (first N orders of a user...). Keys that share the same page
 * arguments are fetched together in one statement; different arguments make separate statements.
 */
export function createPageLoader<P extends string, A, V>(
  fetch: (parentIds: readonly P[], args: A) => Promise<V[]>,
  groupOf: (row: V) => P,
  name?: string,
): DataLoader<{ parentId: P; args: A }, V[], string> {
  return observedLoader<{ parentId: P; args: A }, V[], string>(
    async (keys) => {
      const byArgs = new Map<string, { args: A; parents: P[] }>();
      for (const { parentId, args } of keys) {
        const argsKey = JSON.stringify(args);
        const group = byArgs.get(argsKey) ?? { args, parents: [] };
        group.parents.push(parentId);
        byArgs.set(argsKey, group);
      }
      const results = new Map<string, V[]>();
      await Promise.all(
        [...byArgs].map(async ([argsKey, { args, parents }]) => {
          for (const p of parents) results.set(`${p}|${argsKey}`, []);
          for (const row of await fetch(parents, args)) results.get(`${groupOf(row)}|${argsKey}`)?.push(row);
        }),
      );
      return keys.map(({ parentId, args }) => results.get(`${parentId}|${JSON.stringify(args)}`) ?? []);
    },
    name,
    { cacheKeyFn: ({ parentId, args }) => `${parentId}|${JSON.stringify(args)}` },
  );
}
