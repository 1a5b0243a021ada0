import { SUBGRAPHS } from '../platform/migrate.js';
import { migrateAll, openDatabases } from './databases.js';

/** `npm run migrate`: applies every subgraph's pending migrations (safe to run again). */
const dbs = await openDatabases();
try {
  await migrateAll(dbs.urls);
  console.log(`migrated ${SUBGRAPHS.join(', ')}`);
} finally {
  await dbs.stop();
}
