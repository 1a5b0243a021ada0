import { hash } from 'node:crypto';
import type { Fetcher, FetcherResponse } from '@apollo/utils.fetcher';
import { CACHE_ENTITY_TAGS_HEADER, CACHE_TAGS_HEADER, UNTAGGABLE } from '../../platform/cache-tags.js';
import { READ_SOURCE_HEADER } from '../../platform/lsn.js';
import type { FetchStep } from '../subgraph-fetch-stack.js';
import { respond, withParsedBody } from '../subgraph-fetcher.js';
import type { SubgraphFetchInit } from '../subgraph-fetcher.js';
import { maskPrivate } from './private-answers.js';
import { AGED, readFromOf } from './tagged-store.js';
import { writeBatcherOf } from './write-batcher.js';
import type { WriteBatcher } from './write-batcher.js';
import type { CacheEntry, FetchMark, TaggedStore } from './tagged-store.js';
import { createLookupPolicy, createShapeMemo } from './lookup-policy.js';
import type { LookupPolicy, ShapeMemo, ShapeState, VisitGaps } from './lookup-policy.js';

export type CacheScope = 'public' | 'private';

/** What a subgraph's Cache-Control header allows the gateway to keep: a max-age, shared (`public`) or per caller. */
export function cachePolicyOf(cacheControl: string | null): { scope: CacheScope; maxAgeMs: number } | null {
  if (!cacheControl || /\b(no-store|no-cache)\b/i.test(cacheControl)) return null;
  const maxAge = Number(/\bmax-age=(\d+)/i.exec(cacheControl)?.[1] ?? 0);
  const scope = /\bprivate\b/i.test(cacheControl) ? 'private' : /\bpublic\b/i.test(cacheControl) ? 'public' : null;
  return maxAge > 0 && scope ? { scope, maxAgeMs: maxAge * 1000 } : null;
}

/** What a subgraph's Cache-Control header allows to share between callers: only `public` with a max-age. */
export function sharedMaxAgeMs(cacheControl: string | null): number {
  const policy = cachePolicyOf(cacheControl);
  return policy?.scope === 'public' ? policy.maxAgeMs : 0;
}

/** Hits and misses of a cache that has no scope to tell (the response cache's). */
export interface FetchCacheCounters {
  hit(subgraph: string, n?: number): void;
  miss(subgraph: string, n?: number): void;
}

/** The entity cache's lookups by subgraph and scope: made (hit, miss) or not made where they could not pay (skipped). */
export interface EntityCacheCounters {
  hit(subgraph: string, scope: CacheScope, n?: number): void;
  miss(subgraph: string, scope: CacheScope, n?: number): void;
  skipped(subgraph: string, scope: CacheScope, n?: number): void;
}

/** The operation text of a fetch body (`{"query":"…","variables":…}`): the part before the variables. */
const shapeOf = (subgraph: string, body: string) => {
  const at = body.indexOf(',"variables":');
  return subgraph + '\n' + (at < 0 ? body : body.slice(0, at));
};

/**
 * The key space of one fetch: its subgraph and, for a private answer, its caller (null: keep nothing).
 * The caller is the request's identity, from the GatewayContext (subgraph-fetch-stack.ts `callerKey`):
 * what the service token tells the subgraph, taken from where the gateway knows it.
 */
function partitionOf(subgraph: string, scope: CacheScope, caller: string | null): string | null {
  if (scope === 'public') return subgraph + '\n';
  return caller === null ? null : `${subgraph}\n${caller}`;
}

interface Ctx {
  subgraph: string;
  /** The rest of the stack, for this fetch. */
  fetcher: Fetcher;
  caller: string | null;
  requestId: string | undefined;
  store: TaggedStore;
  counters: EntityCacheCounters;
  shapes: ShapeMemo;
  policy: LookupPolicy;
  maxTtlMs: number;
  write: WriteBatcher;
}

/**
 * The entity cache, at the subgraph fetch. A query fetch whose answer the subgraph declared
 * cacheable with a max-age (its @cacheControl hints, as its Cache-Control header) is kept in the
 * tagged store for that max-age, tagged with the entities the subgraph said it holds:
 *
 * - `public` answers are shared by every caller; `private` ones are kept per caller (the request's
 *   identity, the one the fetch's service token carries) and are never handed to anyone else;
 * - an `_entities` fetch is kept per representation, so the same product inside two different
 *   account pages is one entry, and only the missing representations go to the subgraph;
 * - anything else is kept whole, under (subgraph, operation text, variables).
 *
 * Looked up only for shapes whose last answer was cacheable (no Redis round trip for the rest),
 * and only where it can pay (lookup-policy.ts: private entries for callers back within their max-age, a shape
 * that never hits only probed); never for mutations (the fetch's operation kind, from its
 * document), answers with errors, or a request that carries a read-your-writes position (the
 * caller just wrote: it reads from the subgraph). A private max-age stays between subgraph and
 * gateway: what the fetch hands on says `no-store` (private-answers.ts). The first step of the
 * subgraph fetch stack (subgraph-fetch-stack.ts).
 */
export function createEntityCacheStep(
  subgraph: string,
  store: TaggedStore,
  counters: EntityCacheCounters,
  maxTtlMs: number,
  policy: LookupPolicy = createLookupPolicy(),
): FetchStep {
  const shared = { subgraph, store, counters, shapes: createShapeMemo(), policy, maxTtlMs, write: writeBatcherOf(store) };
  return async (fetch, next) => {
    const { url, init } = fetch;
    const body = init.body;
    const send: Fetcher = (u, i) => next({ ...fetch, url: u, init: i ?? {} });
    if (typeof body !== 'string' || fetch.operation === 'mutation' || fetch.lsn || !store.usable())
      return maskPrivate(await send(url, init));
    const ctx: Ctx = { ...shared, fetcher: send, caller: fetch.caller, requestId: fetch.requestId };
    const shape = shapeOf(subgraph, body);
    const entities = body.includes('"representations":[') ? parseEntitiesFetch(body, init.request) : null;
    return entities ? entitiesFetch(ctx, url, init, shape, entities) : wholeFetch(ctx, url, init, shape, body);
  };
}

type Admit = (scope: CacheScope, maxAgeMs: number) => boolean;

/**
 * Whether one fetch's entries of a scope and max-age may be looked up, and kept (lookup-policy.ts),
 * each question asked at most once per fetch: private ones kept only for a caller whose previous
 * request came within that max-age (what it keeps may be asked for again in time), and looked up
 * only when that previous request kept too (else nothing of this caller's can be there yet); in a
 * quiet shape only probed keys (private keys name their caller, so a caller's repeats are probed alike).
 */
function admission(ctx: Ctx, state: ShapeState | undefined, body: string): { lookUp: Admit; keep: Admit } {
  let gaps: VisitGaps | null = null;
  const probed: Partial<Record<CacheScope, boolean>> = {};
  const within = (gap: number | undefined, maxAgeMs: number) => gap !== undefined && gap <= Math.min(maxAgeMs, ctx.maxTtlMs);
  const admit =
    (lookUp: boolean): Admit =>
    (scope, maxAgeMs) => {
      if (scope === 'private') {
        if (ctx.caller === null) return false;
        gaps ??= ctx.policy.visit(ctx.caller, ctx.requestId);
        if (!within(gaps.since, maxAgeMs) || (lookUp && !within(gaps.previous, maxAgeMs))) return false;
      }
      if (!state?.quiet) return true;
      return (probed[scope] ??= ctx.policy.probes(scope === 'private' ? `${ctx.caller}\n${body}` : body));
    };
  return { lookUp: admit(true), keep: admit(false) };
}

/** sha-256 of the parts, each followed by a newline (one call, no Hash object: a key per representation is made per fetch). */
const sha = (parts: string[]) => hash('sha256', parts.join('\n') + '\n', 'base64url');

/**
 * The entries of `keys`: what this gateway's memory holds, then what it lacks from Redis in one
 * round trip, unless the shape's Redis leg does not pay (lookup-policy.ts: then only probed keys
 * go there; a round trip pays when it spares the subgraph fetch). Memory serves by the same rule as Redis (tagged-store.ts), so either way only fresh
 * entries of the fetch's own partition are served.
 */
async function lookUp(ctx: Ctx, state: ShapeState, keys: string[]): Promise<(CacheEntry | null)[]> {
  const near = keys.map((k) => ctx.store.recall(k));
  const found = near.map((n) => (n === AGED ? null : n));
  // An entry memory aged out of goes to Redis whatever the leg: it outlives memory's vouching there.
  const asked = keys.flatMap((k, i) => (found[i] || (near[i] !== AGED && !ctx.policy.asksRedis(state.redis, k, state.quiet)) ? [] : [i]));
  if (!asked.length) return found;
  const far = await ctx.store.getMany(asked.map((i) => keys[i]!));
  asked.forEach((i, j) => (found[i] = far[j] ?? null));
  // The round trip paid if it found all it asked for (unless probing, all memory lacked: the subgraph fetch is spared).
  ctx.policy.recordRedis(
    state.redis,
    asked.every((i) => found[i]),
  );
  return found;
}

function hitResponse(url: string, body: string, scope: CacheScope, ttlMs: number, tags: string): FetcherResponse {
  const cacheControl = scope === 'public' ? `max-age=${Math.max(0, Math.floor(ttlMs / 1000))}, public` : 'no-store';
  return respond(
    url,
    200,
    'OK',
    { 'content-type': 'application/json', 'cache-control': cacheControl, [CACHE_TAGS_HEADER]: tags, [READ_SOURCE_HEADER]: 'cache' },
    Buffer.from(body),
  );
}

async function wholeFetch(
  ctx: Ctx,
  url: string,
  init: NonNullable<Parameters<Fetcher>[1]>,
  shape: string,
  body: string,
): Promise<FetcherResponse> {
  const state = ctx.shapes.get(shape);
  const known = state && state.scope !== false ? state.scope : null;
  const admit = admission(ctx, state, body);
  const partition = known ? partitionOf(ctx.subgraph, known, ctx.caller) : null;
  let looked: string | null = null;
  if (known && partition !== null && !admit.lookUp(known, state!.maxAgeMs)) ctx.counters.skipped(ctx.subgraph, known);
  else if (known && partition !== null) {
    looked = 'f:' + sha([partition, body]);
    const [hit] = await lookUp(ctx, state!, [looked]);
    ctx.policy.record(state!, 1, hit ? 1 : 0);
    if (hit) {
      ctx.counters.hit(ctx.subgraph, known);
      return hitResponse(url, hit.body, known, hit.ttlMs, hit.tags);
    }
    ctx.counters.miss(ctx.subgraph, known);
  }
  const since = ctx.store.begin();
  const response = await ctx.fetcher(url, init);
  since.readFrom = readFromOf(response.headers);
  const policy = response.status === 200 ? cachePolicyOf(response.headers.get('cache-control')) : null;
  const tags = response.headers.get(CACHE_TAGS_HEADER) ?? '';
  const keep = policy && tags !== UNTAGGABLE ? partitionOf(ctx.subgraph, policy.scope, ctx.caller) : null;
  ctx.shapes.set(shape, keep !== null && policy ? policy.scope : false, policy?.maxAgeMs);
  if (keep === null || !policy || !admit.keep(policy.scope, policy.maxAgeMs)) return maskPrivate(response);
  const text = await response.clone().text();
  // Conservative: any "errors" member (or the word in data) and the answer is not kept.
  if (!text.includes('"errors"')) {
    // The lookup's key when it was made for this scope (the same partition), else made now.
    const key = looked && known === policy.scope ? looked : 'f:' + sha([keep, body]);
    ctx.write([{ key, body: text, tags: tags ? tags.split(' ') : [] }], Math.min(ctx.maxTtlMs, policy.maxAgeMs), since);
  }
  return maskPrivate(response);
}

interface EntitiesFetch {
  parsed: { query: string; variables: Record<string, unknown> & { representations: unknown[] } } & Record<string, unknown>;
  /** Everything that shapes the answer but the representations. */
  base: string[];
}

/** An `_entities` fetch's parts, from the request the data source sent as `body` (parsed only without it). */
function parseEntitiesFetch(body: string, request: Readonly<Record<string, unknown>> | undefined): EntitiesFetch | null {
  try {
    const parsed = (request ?? JSON.parse(body)) as EntitiesFetch['parsed'];
    const { representations, ...rest } = parsed.variables;
    if (!Array.isArray(representations) || !representations.length) return null;
    const { query, variables: _variables, ...other } = parsed;
    return { parsed, base: [query, JSON.stringify(rest), JSON.stringify(other)] };
  } catch {
    return null;
  }
}

/** One key per representation: the hash of the representation after the (fixed-length) hash of everything else. */
function entityKeys(partition: string, fetch: EntitiesFetch): string[] {
  const base = sha([partition, ...fetch.base]);
  return fetch.parsed.variables.representations.map((r) => 'n:' + hash('sha256', base + JSON.stringify(r), 'base64url'));
}

async function entitiesFetch(
  ctx: Ctx,
  url: string,
  init: NonNullable<Parameters<Fetcher>[1]>,
  shape: string,
  fetch: EntitiesFetch,
): Promise<FetcherResponse> {
  const state = ctx.shapes.get(shape);
  const known = state && state.scope !== false ? state.scope : null;
  const admit = admission(ctx, state, init.body as string);
  const { parsed } = fetch;
  const { representations } = parsed.variables;
  const partition = known ? partitionOf(ctx.subgraph, known, ctx.caller) : null;
  let keys: string[] | null = null;
  if (known && partition !== null && !admit.lookUp(known, state!.maxAgeMs))
    ctx.counters.skipped(ctx.subgraph, known, representations.length);
  else if (known && partition !== null) keys = entityKeys(partition, fetch);
  const hits = keys ? await lookUp(ctx, state!, keys) : representations.map(() => null);
  const missing = hits.flatMap((h, i) => (h ? [] : [i]));
  if (keys && known) {
    const found = hits.length - missing.length;
    if (found) ctx.counters.hit(ctx.subgraph, known, found);
    if (missing.length) ctx.counters.miss(ctx.subgraph, known, missing.length);
    ctx.policy.record(state!, hits.length, found);
    if (!missing.length) return assembled(url, known, hits as CacheEntry[]);
  }
  const since = ctx.store.begin();
  const partial = missing.length < hits.length;
  // Only the missing representations go on: the body and the request it is made from say the same.
  const request = partial
    ? { ...parsed, variables: { ...parsed.variables, representations: missing.map((i) => representations[i]) } }
    : null;
  const sent: SubgraphFetchInit = request ? { ...init, body: JSON.stringify(request), request } : init;
  const response = await ctx.fetcher(url, sent);
  since.readFrom = readFromOf(response.headers);
  if (response.status !== 200) return maskPrivate(response);
  const keep = keepingOf(ctx, response, shape, admit.keep);
  // Nothing to keep and nothing to merge: the answer goes on unread.
  if (!keep && !partial) return maskPrivate(response);
  const answer = JSON.parse(await response.clone().text()) as EntitiesAnswer;
  const texts = keep
    ? keepEntities(ctx, keep, { answer, fetch, missing, since, looked: keys && known ? { keys, scope: known } : null })
    : [];
  // Read once here: the data source gets the parsed answer (what was kept is already text).
  if (!partial) return maskPrivate(withParsedBody(response, answer));
  return merged(url, response, answer, hits, { missing, texts });
}

interface EntitiesAnswer {
  data?: { _entities?: unknown[] } | null;
  errors?: { path?: (string | number)[] }[];
}

/** Response headers as Node's plain object (what `respond` takes). */
function nodeHeaders(response: FetcherResponse): Record<string, string> {
  return Object.fromEntries(response.headers as unknown as Iterable<[string, string]>);
}

interface Keeping {
  policy: { scope: CacheScope; maxAgeMs: number };
  /** Each representation's tags, in the answer's order. */
  groups: string[];
  partition: string;
}

/** What an `_entities` answer allows to keep, and where (null: nothing); remembered for its shape. */
function keepingOf(ctx: Ctx, response: FetcherResponse, shape: string, admit: Admit): Keeping | null {
  const policy = cachePolicyOf(response.headers.get('cache-control'));
  const groups = response.headers.get(CACHE_ENTITY_TAGS_HEADER)?.split(',');
  const partition = policy && groups ? partitionOf(ctx.subgraph, policy.scope, ctx.caller) : null;
  ctx.shapes.set(shape, partition !== null && policy ? policy.scope : false, policy?.maxAgeMs);
  return partition !== null && policy && groups && admit(policy.scope, policy.maxAgeMs) ? { policy, groups, partition } : null;
}

function keepEntities(
  ctx: Ctx,
  keep: Keeping,
  got: {
    answer: EntitiesAnswer;
    fetch: EntitiesFetch;
    missing: number[];
    since: FetchMark;
    /** The lookup's keys and the scope they were made for (the answer's may differ). */
    looked: { keys: string[]; scope: CacheScope } | null;
  },
): string[] {
  const { policy, groups, partition } = keep;
  const entities = got.answer.data?._entities;
  if (got.answer.errors?.length || !Array.isArray(entities)) return [];
  // Keys made for another scope would file a private answer where anyone finds it: made anew then.
  const keys = got.looked?.scope === policy.scope ? got.looked.keys : entityKeys(partition, got.fetch);
  // Each kept entity's text, by its place in the answer: a merged answer reuses it.
  const texts: string[] = [];
  const entries = got.missing.flatMap((i, j) => {
    const group = groups[j];
    if (!group || group === UNTAGGABLE || !entities[j]) return [];
    return [{ key: keys[i]!, body: (texts[j] = JSON.stringify(entities[j])), tags: group.split(' ') }];
  });
  if (entries.length) ctx.write(entries, Math.min(ctx.maxTtlMs, policy.maxAgeMs), got.since);
  return texts;
}

/** Tags of several entries as one header value (`*` wins). */
function unionTags(values: string[]): string {
  if (values.includes(UNTAGGABLE)) return UNTAGGABLE;
  return [...new Set(values.flatMap((v) => (v ? v.split(' ') : [])))].join(' ');
}

function assembled(url: string, scope: CacheScope, hits: CacheEntry[]): FetcherResponse {
  const body = `{"data":{"_entities":[${hits.map((h) => h.body).join(',')}]}}`;
  const ttlMs = Math.min(...hits.map((h) => h.ttlMs));
  return hitResponse(url, body, scope, ttlMs, unionTags(hits.map((h) => h.tags)));
}

/**
 * The subgraph's answer for the missing representations, put back in place among the hits (`texts`:
 * the fetched entities already serialised to be kept, by their place in the answer).
 */
function merged(
  url: string,
  response: FetcherResponse,
  answer: EntitiesAnswer,
  hits: (CacheEntry | null)[],
  fetchedAt: { missing: number[]; texts: string[] },
): FetcherResponse {
  const { missing, texts } = fetchedAt;
  const fetched = answer.data?._entities ?? [];
  const at = new Map(missing.map((i, j) => [i, j]));
  const errors = answer.errors?.map((e) =>
    e.path?.[0] === '_entities' && typeof e.path[1] === 'number'
      ? { ...e, path: ['_entities', missing[e.path[1]] ?? e.path[1], ...e.path.slice(2)] }
      : e,
  );
  const empty = answer.data === null && !hits.some(Boolean);
  // Text now (the parsed entities below are handed on, and may be changed by whoever takes them),
  // joined into bytes only if something reads them: the data source takes the parsed answer.
  const parts = hits.map((h, i) => (h ? h.body : (texts[at.get(i)!] ?? JSON.stringify(fetched[at.get(i)!] ?? null))));
  const tail = errors?.length ? `,"errors":${JSON.stringify(errors)}` : '';
  const body = () => Buffer.from(`{"data":${empty ? 'null' : `{"_entities":[${parts.join(',')}]}`}${tail}}`);
  // The same answer parsed for the data source: the hits' text, the fetched entities as they are.
  const parsed = {
    data: empty ? null : { _entities: hits.map((h, i) => (h ? (JSON.parse(h.body) as unknown) : (fetched[at.get(i)!] ?? null))) },
    ...(errors?.length ? { errors } : {}),
  };
  const policy = cachePolicyOf(response.headers.get('cache-control'));
  const present = hits.filter((h): h is CacheEntry => h !== null);
  const ttlMs = Math.min(policy?.maxAgeMs ?? 0, ...present.map((h) => h.ttlMs));
  const tags = unionTags([response.headers.get(CACHE_TAGS_HEADER) ?? UNTAGGABLE, ...present.map((h) => h.tags)]);
  const cacheControl = policy?.scope === 'public' && ttlMs > 0 ? `max-age=${Math.floor(ttlMs / 1000)}, public` : 'no-store';
  // Part hits: no better than `cache` where it came from (gateway/cache/tagged-store.ts FetchMark).
  const readFrom = readFromOf(response.headers) && 'cache';
  const headers = { ...nodeHeaders(response), 'cache-control': cacheControl, [CACHE_TAGS_HEADER]: tags, [READ_SOURCE_HEADER]: readFrom };
  return withParsedBody(respond(url, 200, 'OK', headers, body), parsed);
}
