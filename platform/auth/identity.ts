import { forbidden, unauthenticated } from '../errors.js';

export type Role = 'CUSTOMER' | 'ADMIN';

/** Who is asking, as established by the gateway from the client's token. */
export interface Identity {
  userId: string | null;
  role: Role | null;
  scopes: string[];
}

export const ANONYMOUS: Identity = Object.freeze({ userId: null, role: null, scopes: [] });

export const isAdmin = (identity: Identity) => identity.role === 'ADMIN';

export function requireUser(identity: Identity): { userId: string; role: Role } {
  if (!identity.userId || !identity.role) throw unauthenticated();
  return { userId: identity.userId, role: identity.role };
}

export function requireAdmin(identity: Identity): void {
  requireUser(identity);
  if (!isAdmin(identity)) throw forbidden('Only an admin may do this.');
}

export const isSelfOrAdmin = (identity: Identity, userId: string) =>
  isAdmin(identity) || (identity.userId !== null && identity.userId === userId);
