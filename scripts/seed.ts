import { migrateAll, openDatabases } from './databases.js';
import { resetData, seed, seedIfEmpty } from './seed-data.js';
import { runScript } from './run-script.js';

/**
 * `npm run seed`: the demo data set into empty databases. `-- --force` replaces whatever the
 * databases hold with the demo set (every table emptied first). Works while `npm start` runs.
 */
await runScript(async () => {
  const force = process.argv.includes('--force');
  const dbs = await openDatabases(console.log, { reuseRunning: true });
  try {
    await migrateAll(dbs.urls);
    const started = Date.now();
    if (force) await resetData(dbs.urls);
    const result = force ? await seed(dbs.urls) : await seedIfEmpty(dbs.urls);
    console.log(
      result
        ? `seeded in ${Date.now() - started} ms: ${result}`
        : 'databases already hold data; nothing seeded (`npm run seed -- --force` replaces it)',
    );
  } finally {
    await dbs.stop();
  }
});
