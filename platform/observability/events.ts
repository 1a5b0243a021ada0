import { sql } from 'drizzle-orm';
import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import type { Database } from '../db.js';
import type { EventBus } from '../events/bus.js';
import type { StreamName } from '../events/types.js';
import type { Logger } from '../logger.js';
import type { ServiceMetrics } from './metrics.js';

/** A scrape must not hang on a stuck database or Redis: a reading that takes longer is skipped. */
const READ_TIMEOUT_MS = 2_000;

const bounded = <T>(work: Promise<T>): Promise<T> =>
  Promise.race([
    work,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error('metrics read timed out')), READ_TIMEOUT_MS).unref()),
  ]);

/** The producer's backlog: committed outbox rows not yet on the bus. */
function registerOutboxMetric(
  registers: Registry[],
  stream: StreamName,
  opts: { database: Database<Record<string, unknown>>; log: Logger },
): void {
  new Gauge({
    name: 'events_outbox_unpublished',
    help: 'Committed outbox rows not yet published to the event bus.',
    labelNames: ['stream'] as const,
    registers,
    async collect() {
      try {
        const rows = await bounded(
          opts.database.background.execute<{ n: number }>(sql`select count(*)::int as n from outbox where published_at is null`),
        );
        this.set({ stream }, rows[0]?.n ?? 0); // ::int arrives as a number
      } catch (err) {
        opts.log.warn({ err: (err as Error).message }, 'outbox backlog not measured');
      }
    },
  });
}

/** Live announcements (PUBLISH after the append) that failed, and those still waiting to be published again. */
function registerLiveAnnouncementMetrics(registers: ServiceMetrics['registry'][], stats: () => { failed: number; waiting: number }) {
  let reported = 0;
  new Counter({
    name: 'events_live_publish_failures_total',
    help: 'Events appended to their stream whose live announcement (PUBLISH) failed at first; each is published again until Redis takes it.',
    registers,
    collect() {
      const { failed } = stats();
      this.inc(failed - reported);
      reported = failed;
    },
  });
  new Gauge({
    name: 'events_live_publish_waiting',
    help: 'Live announcements waiting to be published again (Redis refused or did not answer).',
    registers,
    collect() {
      this.set(stats().waiting);
    },
  });
}

/** Outbox rows relayed again because the bus had lost them (a failover to a replica that was behind, FLUSHALL, a restart without AOF). */
function registerRepublishedMetric(registers: Registry[], stream: StreamName, stats: () => { republished: number }) {
  let reported = 0;
  new Counter({
    name: 'events_republished_total',
    help: 'Outbox rows relayed again because the event bus no longer held them (Redis lost writes it had acknowledged).',
    labelNames: ['stream'] as const,
    registers,
    collect() {
      const { republished } = stats();
      this.inc({ stream }, republished - reported);
      reported = republished;
    },
  });
}

/**
 * Event backbone health, read when Prometheus scrapes (nothing runs when nobody looks): the
 * producer's backlog (committed outbox rows not yet on the bus: one count on the partial index of
 * unpublished rows, on the background pool) and, per consumer group of this service, how many
 * events it has not read yet (lag) and has read but not acknowledged (pending).
 */
export function registerEventMetrics(
  metrics: ServiceMetrics,
  opts: {
    database: Database<Record<string, unknown>>;
    bus: EventBus;
    produces?: StreamName;
    /** The producer's relay counts (events_republished_total). */
    relayStats?: () => { republished: number };
    consumes: StreamName[];
    group: string;
    log: Logger;
  },
): void {
  const registers = [metrics.registry];
  if (opts.produces) registerOutboxMetric(registers, opts.produces, opts);
  if (opts.produces && opts.relayStats) registerRepublishedMetric(registers, opts.produces, opts.relayStats);
  const { bus } = opts;
  if (opts.produces && bus.liveStats) registerLiveAnnouncementMetrics(registers, () => bus.liveStats?.() ?? { failed: 0, waiting: 0 });
  if (opts.consumes.length === 0) return;
  const labels = (stream: StreamName) => ({ stream, group: opts.group });
  // The registry reads all metrics at once, so both gauges await one shared reading per scrape.
  let reading: Promise<void> | undefined;
  const read = () =>
    (reading ??= Promise.all(
      opts.consumes.map(async (stream) => {
        try {
          const mine = (await bounded(opts.bus.groupStats(stream))).find((g) => g.group === opts.group);
          lag.set(labels(stream), mine?.lag ?? 0);
          pending.set(labels(stream), mine?.pending ?? 0);
        } catch (err) {
          opts.log.warn({ err: (err as Error).message, stream }, 'consumer lag not measured');
        }
      }),
    ).then(() => {
      reading = undefined;
    }));
  const lag = new Gauge({
    name: 'events_consumer_lag',
    help: 'Events in the stream not yet delivered to this consumer group.',
    labelNames: ['stream', 'group'] as const,
    registers,
    collect: read,
  });
  const pending = new Gauge({
    name: 'events_consumer_pending',
    help: 'Events delivered to this consumer group and not yet acknowledged.',
    labelNames: ['stream', 'group'] as const,
    registers,
    collect: read,
  });
  registerInboxMetrics(registers, opts);
}

/**
 * The consumer's inbox (platform/events/consumer.ts): events parked as dead letters (they need an
 * operator: `npm run events:dead-letters`), and events kept for later (early, or failing and
 * waiting for their next try). One grouped count on the background pool per scrape.
 */
function registerInboxMetrics(
  registers: ServiceMetrics['registry'][],
  opts: { database: Database<Record<string, unknown>>; group: string; consumes: StreamName[]; log: Logger },
) {
  let reading: Promise<{ stream: string; parked: number; waiting: number }[]> | undefined;
  const read = () =>
    (reading ??= bounded(
      opts.database.background.execute<{ stream: string; parked: number; waiting: number }>(sql`select stream,
          count(*) filter (where parked_at is not null)::int as parked, count(*) filter (where parked_at is null)::int as waiting
        from event_inbox where consumer = ${opts.group} group by stream`),
    ).finally(() => {
      reading = undefined;
    }));
  const gauge = (name: string, help: string, pick: (r: { parked: number; waiting: number }) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['stream', 'group'] as const,
      registers,
      async collect() {
        for (const stream of opts.consumes) this.set({ stream, group: opts.group }, 0);
        try {
          for (const row of await read()) this.set({ stream: row.stream, group: opts.group }, pick(row));
        } catch (err) {
          opts.log.warn({ err: (err as Error).message }, 'event inbox not measured');
        }
      },
    });
  gauge('events_dead_letters', 'Events parked after their last failed try, waiting for an operator.', (r) => r.parked);
  gauge(
    'events_inbox_waiting',
    'Events received but not applied yet: early (waiting for their predecessor) or failing (waiting for a retry).',
    (r) => r.waiting,
  );
}
