import { isAdmin, isSelfOrAdmin, requireUser } from '../../../platform/auth/identity.js';
import type { Identity } from '../../../platform/auth/identity.js';
import { forbidden, notFound } from '../../../platform/errors.js';
import type { OrderRow } from '../db/tables.js';

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

/** User.orders: the user themself or an admin. */
export function assertMaySeeOrdersOf(identity: Identity, userId: string): void {
  requireUser(identity);
  if (!isSelfOrAdmin(identity, userId)) throw forbidden("Only the user themself or an admin may see a user's orders.");
}

/** The contract's cancel rule: the owner while PENDING_PAYMENT, an admin for any order not yet SHIPPED. */
export const mayCancel = (order: OrderRow, admin: boolean) => order.status === 'PENDING_PAYMENT' || (admin && order.status === 'PAID');
