import os from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Database } from './db.js';
import type { EventBus } from './events/bus.js';
import { startConsumer } from './events/consumer.js';
import type { EventHandlers } from './events/consumer.js';
import { createOutboxRelay, pruneOutbox } from './events/outbox.js';
import type { OutboxRelay } from './events/outbox.js';
import type { StreamName } from './events/types.js';
import { pruneConsumerBookkeeping } from './events/pruning.js';
import { pruneIdempotencyKeys } from './idempotency.js';
import type { Logger } from './logger.js';
import { registerEventMetrics } from './observability/index.js';
import type { ServiceMetrics } from './observability/index.js';

/** Events: the stream this service's outbox feeds, and the streams it consumes. */
export interface SubgraphEventsOptions {
  bus: EventBus;
  produces?: StreamName;
  consumes?: { stream: StreamName; handlers: EventHandlers }[];
}

export interface SubgraphBackgroundWork {
  /** Publishes committed outbox rows now rather than at the next poll (after a mutation). */
  kick(): void;
  stop(): Promise<void>;
}

const HOUR_MS = 3_600_000;
const WEEK_MS = 7 * 24 * HOUR_MS;

/**
 * What a subgraph runs besides answering requests: its outbox relay, its event consumers, event
 * metrics and hourly housekeeping. The event code reads and writes only its own tables (outbox,
 * inbox, idempotency keys), present in every subgraph's database, so it takes the database
 * without the subgraph's own table types.
 */
export function startSubgraphBackgroundWork(opts: {
  name: string;
  database: Database<Record<string, unknown>>;
  events: SubgraphEventsOptions | undefined;
  idempotencyKeys: boolean;
  metrics: ServiceMetrics;
  log: Logger;
}): SubgraphBackgroundWork {
  const { name, database, events, log } = opts;
  const relay: OutboxRelay | undefined = events?.produces
    ? createOutboxRelay({ database, bus: events.bus, stream: events.produces, log })
    : undefined;
  // A unique consumer name per process: after a crash, the next process reclaims what this one left pending.
  const consumerName = `${name}-${os.hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`;
  const consumers = (events?.consumes ?? []).map((c) =>
    startConsumer({
      bus: events!.bus,
      database,
      stream: c.stream,
      group: name,
      consumer: consumerName,
      handlers: c.handlers,
      log,
      afterCommit: () => relay?.kick(),
    }),
  );
  if (events) {
    const consumes = (events.consumes ?? []).map((c) => c.stream);
    registerEventMetrics(opts.metrics, {
      database,
      bus: events.bus,
      consumes,
      group: name,
      log,
      ...(events.produces ? { produces: events.produces } : {}),
      ...(relay ? { relayStats: () => relay.stats() } : {}),
    });
  }
  const housekeeping = startHousekeeping({ ...opts, consumes: consumers.length > 0 });
  return {
    kick: () => relay?.kick(),
    async stop() {
      await Promise.all(consumers.map((c) => c.stop()));
      clearInterval(housekeeping);
      await relay?.stop();
      await events?.bus.close();
    },
  };
}

/**
 * Hourly, on the background pool: expired idempotency keys; outbox rows long since relayed (the
 * stream keeps its own window; a week of rows is enough to investigate); consumer bookkeeping no
 * redelivery can need (events/pruning.ts). Never inside the bus's retention window: the relay
 * republishes from those rows when Redis loses some, and a consumer may see any event of that
 * window again.
 */
function startHousekeeping(opts: {
  database: Database<Record<string, unknown>>;
  events: SubgraphEventsOptions | undefined;
  idempotencyKeys: boolean;
  consumes: boolean;
  log: Logger;
}): NodeJS.Timeout {
  const { database, events, log } = opts;
  const horizonMs = events ? Math.max(WEEK_MS, 2 * events.bus.settings.retentionMs) : 0;
  const timer = setInterval(() => {
    if (opts.idempotencyKeys) {
      void pruneIdempotencyKeys(database.background).catch((err: unknown) => log.warn({ err }, 'pruning idempotency keys failed'));
    }
    if (events?.produces) {
      void pruneOutbox(database, horizonMs).catch((err: unknown) => log.warn({ err }, 'pruning the outbox failed'));
    }
    if (opts.consumes) {
      void pruneConsumerBookkeeping(database.background, horizonMs).catch((err: unknown) =>
        log.warn({ err }, 'pruning event bookkeeping failed'),
      );
    }
  }, HOUR_MS);
  timer.unref();
  return timer;
}
