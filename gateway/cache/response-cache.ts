import { hash } from 'node:crypto';
import type { ApolloServerPlugin, GraphQLRequest } from '@apollo/server';
import { OperationTypeNode } from 'graphql';
import type { FormattedExecutionResult, GraphQLSchema } from 'graphql';
import { LRUCache } from 'lru-cache';
import { CACHE_TAGS_HEADER, UNTAGGABLE } from '../../platform/cache-tags.js';
import type { ClientInfo, GatewayContext, OperationFacts } from '../request.js';
import { acceptedMultipartSpec } from '../http/multipart.js';
import { mentionsDefer } from '../incremental/defer-document.js';
import { sharedMaxAgeMs } from './cached-fetcher.js';
import type { FetchCacheCounters } from './cached-fetcher.js';
import { createRedisLeg } from './lookup-policy.js';
import type { LookupPolicy } from './lookup-policy.js';
import { AGED, readFromOf, weakerReadFrom } from './tagged-store.js';
import type { CacheEntry, FetchMark, TaggedStore } from './tagged-store.js';

export type { ResponseScope } from '../request.js';

/** Called by each subgraph data source with its answer's headers (gateway/subgraph-source.ts). */
export function noteSubgraphAnswer(context: object, headers: { get(name: string): string | null } | undefined): void {
  const scope = (context as Partial<GatewayContext>).responseCache;
  if (!scope) return;
  scope.fetches++;
  const maxAgeMs = sharedMaxAgeMs(headers?.get('cache-control') ?? null);
  const tags = headers?.get(CACHE_TAGS_HEADER) ?? '';
  if (!maxAgeMs || tags === UNTAGGABLE) scope.cacheable = false;
  scope.maxAgeMs = Math.min(scope.maxAgeMs, maxAgeMs);
  if (tags) for (const tag of tags.split(' ')) scope.tags.add(tag);
  scope.readFrom = weakerReadFrom(scope.readFrom, readFromOf(headers));
}

/**
 * Only callers whose answer cannot depend on who they are: anonymous (no token at all) or a
 * partner's API key (also anonymous to every authorization rule), not reading their own writes
 * (a valid consistency token), not asking for the query plan.
 */
export function eligible(request: GraphQLRequest, context: GatewayContext): boolean {
  const headers = request.http?.headers;
  if (!headers || context.identity.userId !== null || headers.has('authorization')) return false;
  // A valid (signed, unexpired) token only: a forged or malformed one is ignored, not obeyed.
  if (context.consistency?.readsOwnWrites) return false;
  return !headers.has('apollo-query-plan-experimental');
}

/**
 * An entry's key: the supergraph it was planned on, the operation's id (the sha256 of its text,
 * which is also an APQ hash and a trusted document's id), the operation name and the variables as
 * sent. Nothing else varies an anonymous answer. The edge hits (edge-hits.ts) compute it from the
 * HTTP request, the plugin from Apollo's: both from the same parts.
 */
export function responseKey(supergraphHash: string, operationId: string, operationName: string | null, variables: unknown): string {
  // One call of the one-shot hash (a third of a createHash chain's cost); the same bytes, so the same keys as before.
  return (
    'r:' + hash('sha256', `${supergraphHash}\n${operationId}\n${operationName ?? ''}\n${JSON.stringify(variables ?? {})}`, 'base64url')
  );
}

/** What the response cache needs from the rest of the gateway. */
export interface ResponseCacheDeps {
  /** The hash of the supergraph a schema was loaded from (the current one for an unknown schema). */
  supergraphHash(schema?: GraphQLSchema): string;
}

/**
 * Who may run what, as the pipeline decides it: a partner runs its own list, a named first-party
 * client its list or the first-party ones, by id alone too (gateway/persisted-queries/safelist.ts).
 * An entry's key does not say who asked, so a caller of another audience must go through the
 * pipeline once before an edge hit answers it: an anonymous caller knowing a partner's operation id
 * is not a partner.
 */
export const audienceOf = (client: ClientInfo): string => (client.partnerId !== null ? `p:${client.partnerId}` : `c:${client.name ?? ''}`);

/**
 * The operation facts of the entries this process stored or served (OperationFacts: what an answer
 * given before the pipeline must repeat), by entry key and the audience the pipeline let run it
 * (`audienceOf`). An edge hit needs them; without them the request goes through the pipeline,
 * which learns them again. Bounded.
 */
export function createFactsMemo(max = 20_000) {
  const memo = new LRUCache<string, OperationFacts>({ max });
  return {
    get: (key: string, client: ClientInfo) => memo.get(`${audienceOf(client)}\n${key}`),
    learn(key: string, client: ClientInfo, facts: OperationFacts | undefined, operationName: string | null) {
      if (facts) memo.set(`${audienceOf(client)}\n${key}`, { ...facts, operationName });
    },
  };
}
export type FactsMemo = ReturnType<typeof createFactsMemo>;

/**
 * The response cache's lookup: this gateway's memory, then Redis for an entry memory lacks while
 * that round trip pays (lookup-policy.ts, the Redis leg: one for the whole response cache). Redis
 * holds what memory lacks when another gateway wrote it, or it outlived this one's memory; a lone
 * gateway holds all it wrote, and its misses then skip Redis but for probed keys.
 */
export function createResponseLookup(store: TaggedStore, policy: LookupPolicy): (key: string) => Promise<CacheEntry | null> {
  const leg = createRedisLeg();
  return async (key) => {
    const near = store.recall(key);
    if (near && near !== AGED) return near;
    // An entry memory aged out of goes to Redis whatever the leg: it outlives memory's vouching there.
    if (near !== AGED && !policy.asksRedis(leg, key)) return null;
    const far = await store.get(key);
    policy.recordRedis(leg, far !== null);
    return far;
  };
}

/** How long a miss waits for a twin already being answered (its leader) before it runs itself; and how long after a lead that stored nothing its key's misses run at once. */
const TWIN_WAIT_MS = 2_000;

/**
 * Misses of one key in flight at once (a hot page just invalidated, a cold start): the first runs,
 * the others wait for it to end and then look in memory, where its answer is if it was stored
 * (`put` keeps it there at once, under the same rule as any entry: nothing heard since the
 * leader's fetches began touches its tags). So a waiter is answered as a hit would be a moment
 * later, and never with an answer the cache refused; when there is none (not cacheable, an error,
 * the leader slower than TWIN_WAIT_MS), it runs its own operation. Waiting only pays when the
 * leader's answer is stored, so:
 * - only a key this process stored or served before is waited for (one never cacheable would only
 *   queue its twins);
 * - for TWIN_WAIT_MS after a lead that stored nothing, the key's misses run at once, side by side.
 *   Just after an event, an answer read on a replica is refused for the event skew
 *   (CACHE_EVENT_SKEW_MS, tagged-store.ts): waiting in that window would only queue requests
 *   behind each other, each running its own operation after its wait.
 * Only this process's requests wait for each other, and Redis is not asked again.
 */
export function createTwinMisses(now: () => number = Date.now) {
  const leaders = new Map<string, Promise<void>>();
  // key -> when its last lead ended without an answer in memory.
  const unstored = new Map<string, number>();
  return {
    /** Resolves when a leader of `key` ends (or TWIN_WAIT_MS passes); null when there is none (the caller leads) or waiting would not pay. */
    wait(key: string): Promise<void> | null {
      const leader = leaders.get(key);
      const at = unstored.get(key);
      if (!leader || (at !== undefined && now() - at < TWIN_WAIT_MS)) return null;
      return new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, TWIN_WAIT_MS).unref();
        void leader.then(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
    /** Makes the caller the leader of `key`; the returned function ends its lead, saying whether its answer was stored (call it in any outcome; a lead not ended within TWIN_WAIT_MS ends as storing nothing). */
    lead(key: string): (stored: boolean) => void {
      let end!: () => void;
      const leader = new Promise<void>((resolve) => (end = resolve));
      leaders.set(key, leader);
      const done = (stored: boolean) => {
        clearTimeout(timer);
        if (leaders.get(key) === leader) leaders.delete(key);
        if (stored) unstored.delete(key);
        else {
          if (unstored.size >= 10_000) unstored.clear();
          unstored.set(key, now());
        }
        end();
      };
      // A lead never ended (the request died between hooks) must not hold its key: dropped after the longest wait.
      const timer = setTimeout(() => done(false), TWIN_WAIT_MS).unref();
      return done;
    },
  };
}

/**
 * The response cache: whole answers of public operations, shared by every gateway through the
 * tagged store. Key: `responseKey`. Stored only when every subgraph fetch behind it was `public`
 * with a max-age, for the shortest of them, tagged with every entity they held, so the same events
 * that keep the entity cache exact drop it. Runs after every plugin's didResolveOperation (limits,
 * safelist, cost, usage), so a cached answer is never a way around them; what those plugins learnt
 * (the operation's facts) is kept with the key, for the edge hits that answer before the pipeline.
 */
export function createResponseCachePlugin(
  store: TaggedStore,
  counters: FetchCacheCounters,
  maxTtlMs: number,
  deps: ResponseCacheDeps & { facts: FactsMemo; policy: LookupPolicy },
): ApolloServerPlugin<GatewayContext> {
  const lookUp = createResponseLookup(store, deps.policy);
  const twins = createTwinMisses();
  return {
    async requestDidStart({ request, contextValue }) {
      if (!eligible(request, contextValue)) return;
      let key: string | undefined;
      let mark: FetchMark | undefined;
      let endLead: ((stored: boolean) => void) | undefined;
      return {
        async responseForOperation(rc) {
          if (rc.operation.operation !== OperationTypeNode.QUERY || !store.usable()) return null;
          // An entry is one JSON answer. A client that takes @defer as multipart gets another form (and
          // what reaches willSendResponse then is only the first payload): neither served nor stored.
          if (acceptedMultipartSpec(rc.request.http?.headers.get('accept')) === 'deferSpec=20220824' && mentionsDefer(rc.document))
            return null;
          key = responseKey(deps.supergraphHash(rc.schema), rc.queryHash ?? '', rc.request.operationName ?? null, rc.request.variables);
          let hit = await lookUp(key);
          // Only an answer this process stored or served before waits: one never cacheable must not queue behind its twin.
          const twin = hit || !deps.facts.get(key, contextValue.client) ? null : twins.wait(key);
          if (twin) await twin;
          // After a wait, or when a twin ended (and stored) while this lookup was on its way to Redis: memory has it.
          hit ??= store.peek(key);
          if (hit) {
            counters.hit('pipeline');
            deps.facts.learn(key, contextValue.client, contextValue.facts, rc.operationName ?? null);
            key = undefined;
            // Restrict, not replace: the edge's own rules (POST, partners) stay in force for the header.
            rc.overallCachePolicy.restrict({ maxAge: Math.floor(hit.ttlMs / 1000), scope: 'PUBLIC' });
            return { http: rc.response.http, body: { kind: 'single', singleResult: JSON.parse(hit.body) as FormattedExecutionResult } };
          }
          counters.miss('pipeline');
          if (!twin) endLead = twins.lead(key);
          mark = store.begin();
          contextValue.responseCache = { fetches: 0, cacheable: true, maxAgeMs: maxTtlMs, tags: new Set(), readFrom: 'primary' };
          return null;
        },
        async willSendResponse({ response, operationName }) {
          let stored = false;
          try {
            const scope = contextValue.responseCache;
            if (!key || !mark || !scope?.cacheable || !scope.fetches || response.body.kind !== 'single') return;
            const { data, errors, extensions } = response.body.singleResult;
            // An answer the gateway had to repair (extensions.valueCompletion: a subgraph broke the schema) is not kept.
            if (errors?.length || !data || extensions?.valueCompletion) return;
            deps.facts.learn(key, contextValue.client, contextValue.facts, operationName ?? null);
            mark.readFrom = scope.readFrom;
            void store.put(key, JSON.stringify({ data }), [...scope.tags], scope.maxAgeMs, mark);
            // The put keeps the entry in memory at once if the store takes it: the waiting twins look there.
            stored = store.peek(key) !== null;
          } finally {
            endLead?.(stored);
          }
        },
      };
    },
  };
}
