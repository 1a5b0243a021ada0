import path from 'node:path';
import type express from 'express';
import type { ApolloServerPlugin, PersistedQueryOptions } from '@apollo/server';
import type { RedisGuard } from '../../platform/redis-guard.js';
import type { GatewayConfig } from '../../platform/config.js';
import type { Logger } from '../../platform/logger.js';
import { ROOT } from '../../platform/paths.js';
import type { GatewayContext } from '../context.js';
import { createApqOptions } from './apq-cache.js';
import { createCachePolicyPlugin } from './cache-policy.js';
import { loadManifests } from './manifest.js';
import { createClientResolver } from './partner-keys.js';
import type { ClientResolver, PartnerKey } from './partner-keys.js';
import { createClientRegistry } from './client-registry.js';
import type { ClientRegistry, RegistrySnapshot } from './client-registry.js';
import { createLiveSafelist, createSafelist, createSafelistCheck, createSafelistGate, createTrustedDocumentsPlugin } from './safelist.js';
import type { Safelist, SafelistCheck } from './safelist.js';

export interface PersistedQueries {
  /** For ApolloServer's `persistedQueries` option (APQ). */
  apq: PersistedQueryOptions;
  /** Who is calling, by partner API key or declared client name: the edge (gateway/edge.ts) asks this once per request. */
  clientOf: ClientResolver;
  /** Edge middleware, after the edge decided the client: the safelist gate. */
  middleware: express.RequestHandler[];
  plugins: ApolloServerPlugin<GatewayContext>[];
  /** The same checks for the WebSocket: who the connection is (partner key), and each operation it sends. */
  socket: { clientOf: ClientResolver; check: SafelistCheck; documentById: (id: string) => string | undefined };
}

/**
 * Persisted queries at the edge: APQ in Redis, trusted documents (per-client manifests) with
 * partner API keys and safelist modes, and the cache policy that makes GET responses cacheable.
 */
export async function createPersistedQueries(config: GatewayConfig, redis: RedisGuard | null, log: Logger): Promise<PersistedQueries> {
  const manifests = await loadManifests(path.resolve(ROOT, config.PERSISTED_QUERIES_DIR));
  const registry = config.CLIENT_REGISTRY_DIR
    ? await createClientRegistry(path.resolve(ROOT, config.CLIENT_REGISTRY_DIR), config.CLIENT_REGISTRY_POLL_MS, log)
    : null;
  // Configured keys and manifests, plus whatever the registry holds now; rebuilt when it changes.
  let built: { from: RegistrySnapshot | null; keys: PartnerKey[]; safelist: Safelist } | undefined;
  const current = () => {
    const snapshot = registry?.current() ?? null;
    if (built?.from === snapshot) return built;
    const all = new Map(manifests);
    for (const [client, manifest] of snapshot?.manifests ?? []) all.set(client, manifest);
    built = {
      from: snapshot,
      keys: [...config.PARTNER_API_KEYS, ...(snapshot?.keys ?? [])],
      safelist: createSafelist(all, config.SAFELIST_MODES),
    };
    return built;
  };
  reportMissingManifests(config, current(), log);
  const safelist = createLiveSafelist(() => current().safelist);
  const clientOf = createClientResolver(() => current().keys, log);
  const check = createSafelistCheck(safelist, log);
  return {
    apq: createApqOptions({ redis, namespace: config.EVENT_NAMESPACE, ttlSeconds: config.APQ_TTL_SECONDS, log }),
    clientOf,
    middleware: [createSafelistGate(check)],
    plugins: [createTrustedDocumentsPlugin(safelist), createCachePolicyPlugin(), ...(registry ? [stopWith(registry)] : [])],
    socket: { clientOf, check, documentById: (id) => safelist.body(id) },
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
