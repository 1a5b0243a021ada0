import type { Database } from '../db.js';
import type { Tx } from '../idempotency.js';
import type { Logger } from '../logger.js';
import type { EventBus } from './bus.js';
import { processedEvents } from './outbox.js';
import type { EventPayloads, EventType, StreamEvent, StreamName } from './types.js';

export type EventHandlers = {
  [T in EventType]?: (tx: Tx, payload: EventPayloads[T], event: StreamEvent<T>) => Promise<void>;
};

/**
 * Subscribes a service's consumer group to a stream. Each event's effects and its
 * processed_events row commit in one transaction, then the bus acknowledges it; a crash anywhere
 * before the acknowledgement means redelivery, which the processed_events row turns into a no-op.
 */
export function startConsumer(opts: {
  bus: EventBus;
  database: Database<Record<string, unknown>>;
  stream: StreamName;
  group: string;
  consumer: string;
  handlers: EventHandlers;
  log: Logger;
  /** After a commit that may have enqueued follow-up events. */
  afterCommit?: () => void;
}): { stop(): Promise<void> } {
  return opts.bus.consume({
    stream: opts.stream,
    group: opts.group,
    consumer: opts.consumer,
    handler: async (event) => {
      const handler = opts.handlers[event.type] as ((tx: Tx, payload: unknown, event: StreamEvent) => Promise<void>) | undefined;
      if (!handler) return;
      const applied = await opts.database.background.transaction(async (tx) => {
        const fresh = await tx
          .insert(processedEvents)
          .values({ consumer: opts.group, eventId: event.eventId })
          .onConflictDoNothing()
          .returning({ eventId: processedEvents.eventId });
        if (fresh.length === 0) return false;
        await handler(tx as Tx, event.payload, event);
        return true;
      });
      if (applied) {
        opts.log.debug({ type: event.type, eventId: event.eventId }, 'event applied');
        opts.afterCommit?.();
      }
    },
  });
}
