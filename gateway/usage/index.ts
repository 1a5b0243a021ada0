import { closeRedis } from '../../platform/shutdown.js';
import path from 'node:path';
import { Counter } from 'prom-client';
import type { GatewayConfig } from '../../platform/config.js';
import type { Logger } from '../../platform/logger.js';
import type { ServiceMetrics } from '../../platform/observability/index.js';
import { ROOT } from '../../platform/paths.js';
import { createRedisClient, redisConfigured } from '../../platform/redis-client.js';
import type { RedisSettings } from '../../platform/redis-client.js';
import type { EdgePart } from '../server.js';
import type { ClientInfo, OperationFacts } from '../request.js';
import { fieldUsagePlugin, recordUsage } from './usage-plugin.js';
import { createUsageRecorder } from './usage-recorder.js';
import { createFileUsageStore, createRedisUsageStore } from './usage-store.js';
import type { UsageStore } from './usage-store.js';

export { operationCoordinates } from './coordinates.js';
export { createFileUsageStore, createRedisUsageStore, mergeUsage, utcDay } from './usage-store.js';
export type { UsageEntry, UsageKey, UsageQuery, UsageStore } from './usage-store.js';

/** Records one use of an operation's coordinates by a client (an answer given before the pipeline repeats it). */
export type RecordUsage = (client: ClientInfo, usage: NonNullable<OperationFacts['usage']>) => void;

/** A flush's deadline: a batch is thousands of small updates, well past a request command's 50 ms. */
const FLUSH_COMMAND_TIMEOUT_MS = 5_000;

export interface UsageStorageConfig extends RedisSettings {
  EVENT_NAMESPACE?: string;
  USAGE_RETENTION_DAYS: number;
  USAGE_DIR?: string | undefined;
  DATA_DIR?: string | undefined;
}

/**
 * Where usage lives, for gateways and the commands alike: Redis when configured (keys
 * `<EVENT_NAMESPACE>usage:<day>`, as the gateway's other keys are namespaced), else per-day files
 * under USAGE_DIR (`<DATA_DIR>/usage`, what `npm start` writes). Returns the store and a close.
 */
export function openUsageStorage(config: UsageStorageConfig, log: Logger): { store: UsageStore; close(): Promise<void> } {
  if (!redisConfigured(config)) {
    const dir = path.resolve(ROOT, config.USAGE_DIR ?? path.join(config.DATA_DIR ?? '.data', 'usage'));
    return { store: createFileUsageStore(dir, config.USAGE_RETENTION_DAYS), close: async () => {} };
  }
  // Its own connection: a slow flush must never count against the request path's breaker.
  const redis = createRedisClient(config, 'request', 'gateway-usage', log, { commandTimeout: FLUSH_COMMAND_TIMEOUT_MS });
  // Nothing is queued while connecting (request role): the first call waits for the connection, at most a flush's deadline.
  const connected = new Promise<void>((resolve) => {
    redis.once('ready', resolve);
    setTimeout(resolve, FLUSH_COMMAND_TIMEOUT_MS).unref();
  });
  const store = createRedisUsageStore(redis, `${config.EVENT_NAMESPACE ?? ''}usage:`, config.USAGE_RETENTION_DAYS);
  return {
    store: {
      kind: store.kind,
      write: (entries) => connected.then(() => store.write(entries)),
      read: (query) => connected.then(() => store.read(query)),
    },
    close: () => closeRedis(redis),
  };
}

/**
 * The field-usage part of the edge: records every operation's coordinates and flushes them every
 * USAGE_FLUSH_MS; the last batch is written when the server stops (Apollo's serverWillStop).
 * Metrics: `usage_flushes_total{outcome}`, `usage_flushed_entries_total`, `usage_dropped_total`.
 */
export function createFieldUsage(deps: {
  config: GatewayConfig;
  metrics: ServiceMetrics;
  log: Logger;
}): EdgePart & { record: RecordUsage } {
  const { config, metrics, log } = deps;
  if (config.USAGE_RECORDING !== 'true') return { name: 'field usage (off)', record: () => {} };
  const storage = openUsageStorage(config, log);
  const registers = [metrics.registry];
  const flushes = new Counter({
    name: 'usage_flushes_total',
    help: 'Field-usage batches written (ok) or kept for the next flush (failed).',
    labelNames: ['outcome'] as const,
    registers,
  });
  const flushed = new Counter({ name: 'usage_flushed_entries_total', help: 'Field-usage entries written to storage.', registers });
  const dropped = new Counter({ name: 'usage_dropped_total', help: 'Coordinate uses not recorded (USAGE_MAX_ENTRIES full).', registers });
  const recorder = createUsageRecorder({
    store: storage.store,
    log,
    flushMs: config.USAGE_FLUSH_MS,
    maxEntries: config.USAGE_MAX_ENTRIES,
    onFlush: (outcome, entries) => {
      flushes.inc({ outcome });
      if (outcome === 'ok') flushed.inc(entries);
    },
    onDropped: (count) => dropped.inc(count),
  });
  const stop = async () => {
    await recorder.stop();
    await storage.close();
  };
  return {
    name: 'field usage',
    plugins: [fieldUsagePlugin(recorder), { serverWillStart: async () => ({ serverWillStop: stop }) }],
    record: (client, usage) => recordUsage(recorder, client, usage),
  };
}
