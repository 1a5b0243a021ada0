import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generateLocalKeys } from '../platform/local-env.js';
import type { LocalKeys } from '../platform/local-env.js';
import { migrateAll, openDatabases } from './databases.js';
import { startLocalSupergraph } from './local-supergraph.js';
import { seedIfEmpty } from './seed-data.js';
import { ROOT } from './compose-supergraph.js';

/**
 * `npm start`: the whole supergraph in one process on the embedded default (or on POSTGRES_URL):
 * Postgres, migrations, demo data when empty, four subgraphs on 4001-4004, the gateway on 4000.
 * Production runs each service as its own process instead (see docker-compose.yml).
 */
const dataDir = process.env.DATA_DIR ?? path.join(ROOT, '.data');
await mkdir(dataDir, { recursive: true });

async function loadKeys(): Promise<LocalKeys> {
  const file = path.join(dataDir, 'keys.json');
  if (existsSync(file)) return JSON.parse(await readFile(file, 'utf8')) as LocalKeys;
  const keys = await generateLocalKeys();
  await writeFile(file, JSON.stringify(keys), { mode: 0o600 });
  return keys;
}

const started = Date.now();
const dbs = await openDatabases();
let shuttingDown = false;
try {
  await migrateAll(dbs.urls);
  const seeded = await seedIfEmpty(dbs.urls);
  if (seeded) console.log(`seeded demo data: ${seeded}`);
  const supergraph = await startLocalSupergraph({
    keys: await loadKeys(),
    databaseUrls: dbs.urls,
    ...(dbs.replicaUrls ? { replicaUrls: dbs.replicaUrls } : {}),
    ports: { gateway: 4000, users: 4001, catalog: 4002, orders: 4003, billing: 4004 },
    metricsPorts: { gateway: 9400, users: 9401, catalog: 9402, orders: 9403, billing: 9404 },
    logLevel: process.env.LOG_LEVEL ?? 'warn',
    // Unset: events and subscriptions use the in-process bus (one process, so that is enough).
    ...(process.env.REDIS_URL ? { redisUrl: process.env.REDIS_URL } : {}),
  });
  console.log(`\nSupergraph ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${supergraph.gatewayUrl}`);
  console.log('Demo accounts: admin@example.com / admin-password-1 (ADMIN), ada@example.com / customer-password-1 (CUSTOMER)');
  console.log('Ctrl-C stops everything.\n');
  const shutdown = async () => {
    if (shuttingDown) return;
    shuttingDown = true;
    console.log('stopping...');
    await supergraph.close();
    await dbs.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown());
  process.on('SIGTERM', () => void shutdown());
} catch (err) {
  console.error(err);
  await dbs.stop();
  process.exit(1);
}
