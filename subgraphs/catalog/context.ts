import type { SubgraphContext } from '../../platform/subgraph-server.js';
import type { CatalogSchema } from './db/schema.js';
import type { CatalogLoaders } from './loaders.js';

export type CatalogContext = SubgraphContext<CatalogSchema, CatalogLoaders>;
