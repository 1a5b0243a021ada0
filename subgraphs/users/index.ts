import { loadConfigOrExit, subgraphSchemas } from '../../platform/config.js';
import { runWithConfig } from '../../platform/run-service.js';
import { createUsersSubgraph } from './server.js';

const config = loadConfigOrExit(subgraphSchemas.users);
await runWithConfig('users', await createUsersSubgraph(config), config);
