import { requireAdmin } from '../../../platform/auth/identity.js';
import type { CatalogContext } from '../context.js';

/**
 * Catalog's one rule: products and categories are public to read (the gateway serves them to
 * anonymous callers), and every write is an admin's. Anonymous callers get UNAUTHENTICATED,
 * customers FORBIDDEN.
 */
export function assertMayEditCatalog(ctx: CatalogContext): void {
  requireAdmin(ctx.identity);
}
