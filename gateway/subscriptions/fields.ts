import type { EventPayloads, EventType, StreamName } from '../../platform/events/types.js';
import { EVENT_STREAMS } from '../../platform/events/types.js';

/**
 * How each subscription field maps onto the event backbone: which event feeds it, which query
 * field resolves the event's entity (so a payload can select from every subgraph, exactly like a
 * query), which argument narrows it to one entity, and who may receive an event.
 */
export interface SubscriptionField<T extends EventType = EventType> {
  eventType: T;
  stream: StreamName;
  /** Query field taking `id: ID!` that returns the event's entity. */
  entityField: string;
  /** Argument that narrows the subscription to one entity. */
  idArgument: string;
  entityId(payload: EventPayloads[T]): string;
  /** The customer an event concerns; undefined means public (anyone, anonymous included). */
  ownerId?(payload: EventPayloads[T]): string;
}

const field = <T extends EventType>(f: Omit<SubscriptionField<T>, 'stream'>): SubscriptionField =>
  ({ ...f, stream: EVENT_STREAMS[f.eventType] });

export const SUBSCRIPTION_FIELDS: Record<string, SubscriptionField> = {
  stockChanged: field({ eventType: 'StockChanged', entityField: 'product', idArgument: 'productId', entityId: (p) => p.productId }),
  orderStatusChanged: field({
    eventType: 'OrderStatusChanged',
    entityField: 'order',
    idArgument: 'orderId',
    entityId: (p) => p.orderId,
    ownerId: (p) => p.customerId,
  }),
  invoiceStatusChanged: field({
    eventType: 'InvoiceStatusChanged',
    entityField: 'invoice',
    idArgument: 'invoiceId',
    entityId: (p) => p.invoiceId,
    ownerId: (p) => p.customerId,
  }),
};
