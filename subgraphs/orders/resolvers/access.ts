import { isAdmin } from '../../../platform/auth/identity.js';
import type { Identity } from '../../../platform/auth/identity.js';
import { notFound } from '../../../platform/errors.js';
import type { OrderRow } from '../db/schema.js';

/**
 * The one error for "no such order" and "not yours": a customer cannot tell the two apart
 * (the contract's no-leak rule), so both go through here with the same message.
 */
export const orderNotFound = (id: string) => notFound(`Order ${id} was not found.`, { orderId: id });

/** The order if the caller may see it (owner or admin), otherwise null. */
export function visibleOrder(identity: Identity, order: OrderRow | null | undefined): OrderRow | null {
  if (!order) return null;
  return isAdmin(identity) || order.customerId === identity.userId ? order : null;
}
