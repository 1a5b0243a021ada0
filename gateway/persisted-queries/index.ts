import path from 'node:path';
import type express from 'express';
import type { ApolloServerPlugin, PersistedQueryOptions } from '@apollo/server';
import type { Redis } from 'ioredis';
import type { GatewayConfig } from '../../platform/config.js';
import type { Logger } from '../../platform/logger.js';
import { ROOT } from '../../platform/paths.js';
import type { GatewayContext } from '../context.js';
import { createApqOptions } from './apq-cache.js';
import { createCachePolicyPlugin } from './cache-policy.js';
import { loadManifests } from './manifest.js';
import { createClientResolver, createPartnerAuth } from './partner-keys.js';
import type { ClientResolver } from './partner-keys.js';
import { createSafelist, createSafelistCheck, createSafelistGate, createTrustedDocumentsPlugin } from './safelist.js';
import type { SafelistCheck } from './safelist.js';

export interface PersistedQueries {
  /** For ApolloServer's `persistedQueries` option (APQ). */
  apq: PersistedQueryOptions;
  /** Edge middleware, in order: partner API key (401), then the safelist gate. */
  middleware: express.RequestHandler[];
  plugins: ApolloServerPlugin<GatewayContext>[];
  /** The same checks for the WebSocket: who the connection is (partner key), and each operation it sends. */
  socket: { clientOf: ClientResolver; check: SafelistCheck };
}

/**
 * Persisted queries at the edge: APQ in Redis, trusted documents (per-client manifests) with
 * partner API keys and safelist modes, and the cache policy that makes GET responses cacheable.
 */
export async function createPersistedQueries(config: GatewayConfig, redis: Redis | null, log: Logger): Promise<PersistedQueries> {
  const manifests = await loadManifests(path.resolve(ROOT, config.PERSISTED_QUERIES_DIR));
  // A key or an enforced client without a manifest would be refused everything: a deploy mistake, not a policy.
  const missing = [
    ...config.PARTNER_API_KEYS.filter((k) => !k.revoked).map((k) => k.client),
    ...Object.entries(config.SAFELIST_MODES).filter(([name, mode]) => mode === 'enforce' && name !== '*').map(([name]) => name),
  ].filter((client) => !manifests.has(client));
  if (missing.length) {
    throw new Error(`no persisted-query manifest in ${config.PERSISTED_QUERIES_DIR}/ for: ${[...new Set(missing)].join(', ')}`);
  }
  const safelist = createSafelist(manifests, config.SAFELIST_MODES);
  const clientOf = createClientResolver(config.PARTNER_API_KEYS, log);
  const check = createSafelistCheck(safelist, log);
  return {
    apq: createApqOptions({ redis, namespace: config.EVENT_NAMESPACE, ttlSeconds: config.APQ_TTL_SECONDS, log }),
    middleware: [createPartnerAuth(clientOf), createSafelistGate(check)],
    plugins: [createTrustedDocumentsPlugin(safelist), createCachePolicyPlugin()],
    socket: { clientOf, check },
  };
}
