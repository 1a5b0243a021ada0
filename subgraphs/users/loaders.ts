import type { RequestDb } from '../../platform/db.js';
import { createEntityLoader } from '../../platform/loaders.js';
import { usersByIds } from './db/queries.js';
import type { UsersTables } from './db/tables.js';

export function createLoaders(db: RequestDb<UsersTables>) {
  return {
    /** User.__resolveReference, Query.user and Query.me: every user of a request in one statement. */
    userById: createEntityLoader(
      (ids: readonly string[]) => usersByIds(db.read, ids),
      (u) => u.id,
    ),
  };
}

export type UsersLoaders = ReturnType<typeof createLoaders>;
