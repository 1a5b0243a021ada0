import type { SubgraphConfig } from '../../platform/config.js';
import { createServiceBasics, loadTypeDefs } from '../../platform/service.js';
import { createSubgraphServer } from '../../platform/subgraph-server.js';
import type { UsersDeps } from './context.js';
import { tables } from './db/tables.js';
import { createLoaders } from './loaders.js';
import { createResolvers } from './resolvers/index.js';
import { createJwksRouter, createTokenIssuer } from './tokens.js';

export async function createUsersSubgraph(config: SubgraphConfig<'users'>) {
  // The signing key first: a bad key stops start-up before any connection is opened.
  const deps: UsersDeps = { tokens: await createTokenIssuer(config) };
  const { log, database, verifier } = await createServiceBasics('users', config, tables);
  return createSubgraphServer({
    name: 'users',
    typeDefs: loadTypeDefs('users'),
    resolvers: createResolvers(deps),
    database,
    createLoaders,
    verifier,
    log,
    // Users serves no internal routes and consumes no events; its JWKS is a public route.
    routes: createJwksRouter(deps.tokens),
  });
}
