import type { SubgraphContext } from '../../platform/subgraph-server.js';
import type { UsersSchema } from './db/schema.js';
import type { UsersLoaders } from './loaders.js';
import type { TokenIssuer } from './tokens.js';

export type UsersContext = SubgraphContext<UsersSchema, UsersLoaders>;

/** What the resolvers need beyond the request context, built once per server. */
export interface UsersDeps {
  tokens: TokenIssuer;
}
