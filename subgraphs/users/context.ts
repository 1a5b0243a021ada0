import type { SubgraphContext } from '../../platform/subgraph-server.js';
import type { UsersTables } from './db/tables.js';
import type { UsersLoaders } from './loaders.js';
import type { TokenIssuer } from './tokens.js';

export type UsersContext = SubgraphContext<UsersTables, UsersLoaders>;

/** What the resolvers need beyond the request context, built once per server. */
export interface UsersDeps {
  tokens: TokenIssuer;
}
