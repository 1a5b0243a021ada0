import type { SubgraphConfig } from '../../platform/config.js';
import { createServiceBasics } from '../../platform/service.js';
import { createSubgraphServer } from '../../platform/subgraph-server.js';
import { schema } from './db/schema.js';
import { createLoaders } from './loaders.js';
import { createResolvers } from './resolvers/index.js';
import { typeDefs } from './schema.js';
import { createJwksRouter, createTokenIssuer } from './tokens.js';

export async function createUsersServer(config: SubgraphConfig<'users'>) {
  // The signing key first: a bad key stops start-up before any connection is opened.
  const tokens = await createTokenIssuer(config);
  const { log, database, verifier } = await createServiceBasics('users', config, schema);
  return createSubgraphServer({
    name: 'users',
    typeDefs,
    resolvers: createResolvers({ tokens }),
    database,
    createLoaders,
    verifier,
    log,
    routes: createJwksRouter(tokens),
  });
}
