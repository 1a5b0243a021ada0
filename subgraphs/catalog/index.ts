import { loadConfigOrExit, subgraphSchemas } from '../../platform/config.js';
import { runWithConfig } from '../../platform/run-service.js';
import { createCatalogSubgraph } from './server.js';

const config = loadConfigOrExit(subgraphSchemas.catalog);
await runWithConfig('catalog', await createCatalogSubgraph(config), config);
