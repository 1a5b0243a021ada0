import { z } from 'zod';
import type { Database } from '../../platform/db.js';
import { invalidState } from '../../platform/errors.js';
import { defineInternalRoute } from '../../platform/internal-rpc.js';
import { moneySchema } from '../../platform/validation.js';
import { invoicesByOrderIds, issueInvoice, voidOpenInvoice } from './db/queries.js';
import type { BillingSchema } from './db/schema.js';

const issueInput = z.object({
  orderId: z.uuid(),
  customerId: z.uuid(),
  amountCents: moneySchema.cents,
  currency: moneySchema.currency,
});

/** Commands the orders service sends when an order is placed or cancelled. */
export function createInternalRoutes(database: Database<BillingSchema>) {
  return [
    defineInternalRoute({
      path: '/issue-invoice',
      callers: ['orders'],
      input: issueInput,
      /** Idempotent per order: a retry gets the invoice the first call issued. */
      handler: async (input) => {
        const invoice = await issueInvoice(database.primary, input);
        // Same order, different terms: a bug on the caller's side, not something to paper over.
        if (invoice.customerId !== input.customerId || invoice.amountCents !== input.amountCents || invoice.currency !== input.currency) {
          throw invalidState(`Order ${input.orderId} already has an invoice with different terms.`, { invoiceId: invoice.id });
        }
        return { invoiceId: invoice.id };
      },
    }),
    defineInternalRoute({
      path: '/void-invoice',
      callers: ['orders'],
      input: z.object({ orderId: z.uuid() }),
      /** OPEN -> VOID. Already VOID or no invoice yet: nothing to do. Money taken: INVALID_STATE. */
      handler: async ({ orderId }) => {
        if (await voidOpenInvoice(database.primary, orderId)) return { voided: true };
        const [invoice] = await invoicesByOrderIds(database.primary, [orderId]);
        if (invoice && (invoice.status === 'PAID' || invoice.status === 'REFUNDED')) {
          throw invalidState(`The invoice of order ${orderId} is ${invoice.status}.`, { invoiceId: invoice.id, status: invoice.status });
        }
        return { voided: false };
      },
    }),
  ];
}
