import { SUBGRAPHS } from '../platform/migrate.js';
import { migrateAll, openDatabases } from './databases.js';
import { runScript } from './run-script.js';

/** `npm run migrate`: applies every subgraph's pending migrations (safe to run again, also while `npm start` runs). */
await runScript(async () => {
  const dbs = await openDatabases(console.log, { reuseRunning: true });
  try {
    await migrateAll(dbs.urls);
    console.log(`migrated ${SUBGRAPHS.join(', ')}`);
  } finally {
    await dbs.stop();
  }
});
