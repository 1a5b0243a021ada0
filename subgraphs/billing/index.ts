import { loadConfigOrExit, subgraphSchemas } from '../../platform/config.js';
import { runWithConfig } from '../../platform/run-service.js';
import { createBillingSubgraph } from './server.js';

const config = loadConfigOrExit(subgraphSchemas.billing);
await runWithConfig('billing', await createBillingSubgraph(config), config);
