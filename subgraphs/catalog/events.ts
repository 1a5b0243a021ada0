import type { ConsumedStream } from '../../platform/events/consumer.js';
import { confirmReservations } from './db/queries.js';
import { restockReservation } from './reservations.js';

/**
 * What catalog does with the orders stream (both idempotent per reservation, in either order):
 * a placed order confirms its reservation, so the reaper never asks about it; a cancelled one
 * puts its units back (and a later OrderPlaced finds it released and leaves it so).
 */
export function createEventHandlers(): ConsumedStream[] {
  return [
    {
      stream: 'orders',
      handlers: {
        OrderPlaced: async (tx, { orderId }) => {
          await confirmReservations(tx, [orderId]);
        },
        OrderCancelled: async (tx, { orderId }) => {
          await restockReservation(tx, orderId);
        },
      },
    },
  ];
}
