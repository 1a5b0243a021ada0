import type { SubgraphContext } from '../../platform/subgraph-server.js';
import type { CatalogTables } from './db/tables.js';
import type { CatalogLoaders } from './loaders.js';

export type CatalogContext = SubgraphContext<CatalogTables, CatalogLoaders>;

/** What catalog's parts need beyond the request context, built once per server. */
export interface CatalogDeps {
  /** A reservation no order has confirmed this long after its creation is checked with orders (RESERVATION_TTL_SECONDS). */
  reservationTtlSeconds: number;
}
