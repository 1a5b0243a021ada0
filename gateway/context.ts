import type { Identity } from '../platform/auth/identity.js';

export interface GatewayContext {
  identity: Identity;
  requestId: string;
}
