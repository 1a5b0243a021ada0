import { loadConfigOrExit, subgraphSchemas } from '../../platform/config.js';
import { runWithConfig } from '../../platform/run-service.js';
import { createOrdersServer } from './server.js';

const config = loadConfigOrExit(subgraphSchemas.orders);
await runWithConfig('orders', await createOrdersServer(config), config);
