import { gatewaySchema, loadConfigOrExit } from '../platform/config.js';
import { runWithConfig } from '../platform/run-service.js';
import { createGatewayServer } from './server.js';

const config = loadConfigOrExit(gatewaySchema);
await runWithConfig('gateway', await createGatewayServer(config), config);
