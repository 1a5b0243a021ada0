import { gatewaySchema, loadConfigOrExit } from '../platform/config.js';
import { runWithConfig } from '../platform/run-service.js';
import { applyApolloTelemetrySetting } from './apollo-telemetry.js';
import { createGatewayServer } from './server.js';

const config = loadConfigOrExit(gatewaySchema);
applyApolloTelemetrySetting(config);
await runWithConfig('gateway', await createGatewayServer(config), config);
