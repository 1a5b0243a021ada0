import { loadConfigOrExit, subgraphSchemas } from '../../platform/config.js';
import { runWithConfig } from '../../platform/run-service.js';
import { createOrdersSubgraph } from './server.js';

const config = loadConfigOrExit(subgraphSchemas.orders);
await runWithConfig('orders', await createOrdersSubgraph(config), config);
