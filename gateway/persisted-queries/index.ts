import path from 'node:path';
import type { ApolloServerPlugin, PersistedQueryOptions } from '@apollo/server';
import type { RedisGuard } from '../../platform/redis-guard.js';
import type { GatewayConfig } from '../../platform/config.js';
import type { Logger } from '../../platform/logger.js';
import { ROOT } from '../../platform/paths.js';
import type { ClientInfo, GatewayContext } from '../request.js';
import { createApqOptions } from './apq-cache.js';
import { createCachePolicyPlugin } from './cache-policy.js';
import { loadManifests } from './manifest.js';
import { createClientResolver } from '../identity/partner-keys.js';
import type { ClientResolver, PartnerKey } from '../identity/partner-keys.js';
import { createClientRegistry } from './client-registry.js';
import type { ClientRegistry, LastGoodStore, RegistrySnapshot } from './client-registry.js';
import { createLiveSafelist, createSafelist, createSafelistCheck, createTrustedDocumentsPlugin } from './safelist.js';
import type { Safelist, SafelistCheck } from './safelist.js';
import { requestedOperationOf } from './requested-operation.js';

export interface PersistedQueries {
  /** For ApolloServer's `persistedQueries` option (APQ). */
  apq: PersistedQueryOptions;
  /** Who is calling, by partner API key or declared client name: the edge's identity step asks this once per caller. */
  clientOf: ClientResolver;
  /** The safelist decision for one operation of one client: the edge's safelist step, on every transport. */
  check: SafelistCheck;
  /** The text of a trusted document sent by id alone, from the caller's own list (HTTP streams). */
  documentById: (client: ClientInfo, id: string) => string | undefined;
  /** Aborted when this partner key is revoked: the subscriptions opened with it end (UNAUTHENTICATED). */
  revocationOf: (partnerId: string) => AbortSignal;
  plugins: ApolloServerPlugin<GatewayContext>[];
  /** Client registry files whose last read failed (skipped, their last good state served); 0 without a registry. */
  registryBadFiles(): number;
  /** Whether a manifest lists the request's operation (its metrics label may be its name). */
  isListed(request: { query?: string; extensions?: Record<string, unknown> }): boolean;
}

/**
 * Persisted queries at the edge: APQ in Redis, trusted documents (per-client manifests) with
 * partner API keys and safelist modes, and the cache policy that makes GET responses cacheable.
 */
export async function createPersistedQueries(config: GatewayConfig, redis: RedisGuard | null, log: Logger): Promise<PersistedQueries> {
  const manifests = await loadManifests(path.resolve(ROOT, config.PERSISTED_QUERIES_DIR));
  const registry = config.CLIENT_REGISTRY_DIR
    ? await createClientRegistry(
        path.resolve(ROOT, config.CLIENT_REGISTRY_DIR),
        config.CLIENT_REGISTRY_POLL_MS,
        log,
        redis ? redisLastGoodStore(redis, `${config.EVENT_NAMESPACE}client-registry:`) : undefined,
      )
    : null;
  // Configured keys and manifests, plus whatever the registry holds now; rebuilt when it changes.
  let built: { from: RegistrySnapshot | null; keys: PartnerKey[]; safelist: Safelist } | undefined;
  const current = () => {
    const snapshot = registry?.current() ?? null;
    if (built?.from === snapshot) return built;
    const all = new Map(manifests);
    for (const [client, manifest] of snapshot?.manifests ?? []) all.set(client, manifest);
    const keys = [...config.PARTNER_API_KEYS, ...(snapshot?.keys ?? [])];
    // Every registry client is a partner, keys or not yet.
    const partners = new Set([...keys.map((k) => k.client), ...(snapshot?.manifests.keys() ?? [])]);
    built = { from: snapshot, keys, safelist: createSafelist(all, config.SAFELIST_MODES, partners) };
    return built;
  };
  reportMissingManifests(config, current(), log);
  const revocations = createKeyRevocations(() => current().keys);
  registry?.onRefresh(revocations.check);
  const safelist = createLiveSafelist(() => current().safelist);
  const clientOf = createClientResolver(() => current().keys, log);
  const check = createSafelistCheck(safelist, log);
  return {
    apq: createApqOptions({ redis, namespace: config.EVENT_NAMESPACE, ttlSeconds: config.APQ_TTL_SECONDS, log }),
    clientOf,
    check,
    documentById: (client, id) => safelist.body(client, id),
    revocationOf: revocations.signalFor,
    plugins: [createTrustedDocumentsPlugin(safelist), createCachePolicyPlugin(), ...(registry ? [stopWith(registry)] : [])],
    registryBadFiles: () => registry?.badFiles() ?? 0,
    // By id only (the hash the request names, or of its text): no lexer pass on the metrics path.
    isListed: (request) => {
      const { id } = requestedOperationOf(request);
      return id !== null && safelist.listedAnywhere(id);
    },
  };
}

/**
 * A key or an enforced client without a manifest is refused everything (PERSISTED_QUERY_NOT_IN_LIST):
 * a deploy mistake worth an error line naming it, not a reason to refuse to start.
 */
function reportMissingManifests(config: GatewayConfig, state: { keys: PartnerKey[]; safelist: Safelist }, log: Logger) {
  const named = (client: string) => ({ name: client, version: null, partnerId: null });
  const missing = [
    ...state.keys.filter((k) => !k.revoked).map((k) => k.client),
    ...Object.entries(config.SAFELIST_MODES)
      .filter(([name, mode]) => mode === 'enforce' && name !== '*')
      .map(([name]) => name),
  ].filter((client) => !state.safelist.hasManifest(named(client)));
  for (const client of new Set(missing)) {
    log.error({ client }, `no persisted-query manifest for client "${client}": every operation it sends is refused until one is published`);
  }
}

const stopWith = (registry: ClientRegistry): ApolloServerPlugin<GatewayContext> => ({
  async serverWillStart() {
    return { serverWillStop: async () => registry.stop() };
  },
});

/** The registry's last good files in Redis, shared by every gateway (a few small JSON texts, kept until replaced). */
const redisLastGoodStore = (redis: RedisGuard, prefix: string): LastGoodStore => ({
  get: (file) => redis.run((r) => r.get(prefix + file)),
  set: async (file, text) => {
    await redis.run((r) => r.set(prefix + file, text));
  },
});

/**
 * One AbortSignal per partner key id that has open subscriptions, aborted at the first registry
 * read that finds the key revoked or gone (so within CLIENT_REGISTRY_POLL_MS on every gateway).
 */
function createKeyRevocations(keys: () => readonly PartnerKey[]) {
  const watched = new Map<string, AbortController>();
  const active = (id: string) => keys().some((k) => k.id === id && !k.revoked);
  return {
    signalFor: (partnerId: string): AbortSignal => {
      let controller = watched.get(partnerId);
      if (!controller) watched.set(partnerId, (controller = new AbortController()));
      if (!active(partnerId)) controller.abort();
      return controller.signal;
    },
    check: () => {
      for (const [id, controller] of watched) {
        if (active(id)) continue;
        controller.abort();
        watched.delete(id);
      }
    },
  };
}
