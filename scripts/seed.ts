import { migrateAll, openDatabases } from './databases.js';
import { seed, seedIfEmpty } from './seed-data.js';

/** `npm run seed`: the demo data set into empty databases (`-- --force` seeds even when not empty). */
const dbs = await openDatabases();
try {
  await migrateAll(dbs.urls);
  const started = Date.now();
  const result = process.argv.includes('--force') ? await seed(dbs.urls) : await seedIfEmpty(dbs.urls);
  console.log(result ? `seeded in ${Date.now() - started} ms: ${result}` : 'databases already hold data; nothing seeded (use -- --force)');
} finally {
  await dbs.stop();
}
