import { listTagsOf } from '../cache-tags.js';

/**
 * The domain events services exchange. Each is produced by exactly one service, into that
 * service's stream (`stream` below), and carries what its consumers and subscribers need to
 * act and to authorize without another lookup (the customer it concerns).
 */
export interface EventPayloads {
  OrderPlaced: { orderId: string; customerId: string; totalCents: number; currency: string };
  OrderCancelled: { orderId: string; customerId: string };
  OrderStatusChanged: { orderId: string; customerId: string; status: string };
  InvoiceStatusChanged: { invoiceId: string; orderId: string; customerId: string; status: string };
  InvoicePaid: { invoiceId: string; orderId: string; customerId: string };
  PaymentRefunded: { paymentId: string; invoiceId: string; orderId: string; customerId: string };
  StockChanged: { productId: string; stock: number; priceCents: number };
  /** A product was created or its catalog data (name, description, price, category, weight) changed. */
  ProductChanged: { productId: string; categoryId: string };
}

export type EventType = keyof EventPayloads;

/**
 * The stream each event type is appended to: its producer's own, named after the service. The
 * gateway never reads this table: a subscription's `@event` in the producer's SDL names the event
 * type, and the stream is the declaring subgraph's name unless `@event(stream:)` says otherwise
 * (test/subscription-sdl.test.ts checks the two agree for every declared subscription).
 */
export const EVENT_STREAMS = {
  OrderPlaced: 'orders',
  OrderCancelled: 'orders',
  OrderStatusChanged: 'orders',
  InvoiceStatusChanged: 'billing',
  InvoicePaid: 'billing',
  PaymentRefunded: 'billing',
  StockChanged: 'catalog',
  ProductChanged: 'catalog',
} as const satisfies Record<EventType, string>;

export type StreamName = (typeof EVENT_STREAMS)[EventType];

/**
 * The entity each event is about. The outbox numbers the events of one entity (1, 2, 3, ... in
 * commit order) and every consumer applies them in that order, whatever order they arrive in.
 * Billing's events are keyed by their order too: an order's whole story is one sequence per producer.
 */
export const EVENT_ENTITIES: { [T in EventType]: (payload: EventPayloads[T]) => string } = {
  OrderPlaced: (p) => `order:${p.orderId}`,
  OrderCancelled: (p) => `order:${p.orderId}`,
  OrderStatusChanged: (p) => `order:${p.orderId}`,
  InvoiceStatusChanged: (p) => `order:${p.orderId}`,
  InvoicePaid: (p) => `order:${p.orderId}`,
  PaymentRefunded: (p) => `order:${p.orderId}`,
  StockChanged: (p) => `product:${p.productId}`,
  ProductChanged: (p) => `product:${p.productId}`,
};

/**
 * What each event makes stale in the gateways' caches, declared here by the producing side as
 * `<__typename>:<id>` of the entities whose fields it changed (the tags subgraphs put on cached
 * answers, platform/cache-tags.ts). The gateway drops every cache entry holding one of them.
 */
export const EVENT_INVALIDATES: { [T in EventType]: (payload: EventPayloads[T]) => string[] } = {
  // `User:<customer>` too: the customer's lists of orders and invoices (and their status filters) change.
  OrderPlaced: (p) => [`Order:${p.orderId}`, `User:${p.customerId}`],
  OrderCancelled: (p) => [`Order:${p.orderId}`, `User:${p.customerId}`],
  OrderStatusChanged: (p) => [`Order:${p.orderId}`, `User:${p.customerId}`],
  InvoiceStatusChanged: (p) => [`Invoice:${p.invoiceId}`, `Order:${p.orderId}`, `User:${p.customerId}`],
  InvoicePaid: (p) => [`Invoice:${p.invoiceId}`, `Order:${p.orderId}`, `User:${p.customerId}`],
  PaymentRefunded: (p) => [`Payment:${p.paymentId}`, `Invoice:${p.invoiceId}`, `Order:${p.orderId}`, `User:${p.customerId}`],
  // Every list of products chosen by arguments too (listTagsOf): its membership and order may depend
  // on stock, price and name; a list whose resolver said only ProductChanged moves it keeps.
  StockChanged: (p) => [`Product:${p.productId}`, ...listTagsOf('Product', 'StockChanged')],
  // Its category's answers too: a category page lists the product (when it selected the category).
  ProductChanged: (p) => [`Product:${p.productId}`, `Category:${p.categoryId}`, ...listTagsOf('Product', 'ProductChanged')],
};

/** The cache tags an event invalidates (none for a type this build does not know). */
export const invalidatedBy = (event: Pick<StreamEvent, 'type' | 'payload'>): string[] =>
  (EVENT_INVALIDATES[event.type] as ((p: unknown) => string[]) | undefined)?.(event.payload) ?? [];

export const entityOf = <T extends EventType>(type: T, payload: EventPayloads[T]): string =>
  (EVENT_ENTITIES[type] as (p: EventPayloads[T]) => string)(payload);

/** An event as it travels: `eventId` is stable across redeliveries; `id` is its position in its stream. */
export interface StreamEvent<T extends EventType = EventType> {
  id: string;
  eventId: string;
  type: T;
  payload: EventPayloads[T];
  occurredAt: string;
  /** The entity it is about and its number among that entity's events (absent on events relayed before sequencing). */
  entity?: string;
  seq?: number;
}

/** The live channel of one event type, for subscribers (Redis pub/sub or the in-process bus); the gateway knows types only as names. */
export const liveChannel = (type: string) => `live:${type}`;

/** Stream ids are "<ms>-<seq>"; compares them as numbers, not strings. */
export function compareStreamIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bm, bs] = b.split('-').map(BigInt) as [bigint, bigint];
  return am === bm ? (as === bs ? 0 : as < bs ? -1 : 1) : am < bm ? -1 : 1;
}

export const isStreamId = (s: string) => /^\d{1,20}-\d{1,20}$/.test(s);
