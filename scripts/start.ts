import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { parseConfig } from '../platform/config.js';
import { generateLocalKeys } from '../platform/local-env.js';
import type { LocalKeys } from '../platform/local-env.js';
import { migrateAll, openDatabases } from './databases.js';
import { startLocalSupergraph } from './local-supergraph.js';
import { seedIfEmpty } from './seed-data.js';
import { watchSchemaSources } from './schema-watch.js';
import { ROOT } from './compose-supergraph.js';
import { ExplainedError, runScript } from './run-script.js';

/**
 * `npm start`: the whole supergraph in one process on the embedded default (or on POSTGRES_URL):
 * Postgres, migrations, demo data when empty, four subgraphs on 4001-4004, the gateway on 4000.
 * Production runs each service as its own process instead (see docker-compose.yml). A `.env` file
 * in the project folder is read first (variables already set win), and every variable a
 * production service reads (PARTNER_API_KEYS, SAFELIST_MODES, LIMIT_*, ...) reaches it here too.
 */
const envFile = path.join(ROOT, '.env');
if (existsSync(envFile)) process.loadEnvFile(envFile);

const port = z.coerce.number().int().min(1).max(65535).optional();
const startEnv = z.object({
  /** The gateway's port; the subgraphs take the next four (users, catalog, orders, billing). */
  PORT_BASE: z.coerce.number().int().min(1).max(65530).default(4000),
  GATEWAY_PORT: port,
  USERS_PORT: port,
  CATALOG_PORT: port,
  ORDERS_PORT: port,
  BILLING_PORT: port,
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
});

function portsOf(env: z.infer<typeof startEnv>) {
  const base = env.PORT_BASE;
  return {
    gateway: env.GATEWAY_PORT ?? base,
    users: env.USERS_PORT ?? base + 1,
    catalog: env.CATALOG_PORT ?? base + 2,
    orders: env.ORDERS_PORT ?? base + 3,
    billing: env.BILLING_PORT ?? base + 4,
  };
}

const dataDir = process.env.DATA_DIR ?? path.join(ROOT, '.data');
await mkdir(dataDir, { recursive: true });

async function loadKeys(): Promise<LocalKeys> {
  const file = path.join(dataDir, 'keys.json');
  if (existsSync(file)) return JSON.parse(await readFile(file, 'utf8')) as LocalKeys;
  const keys = await generateLocalKeys();
  await writeFile(file, JSON.stringify(keys), { mode: 0o600 });
  return keys;
}

await runScript(async () => {
  const env = parseConfig(startEnv);
  // Partners onboarded with `npm run partner` land here; the gateway re-reads it (no restart).
  process.env.CLIENT_REGISTRY_DIR ??= path.join(dataDir, 'clients');
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
      ports: portsOf(env),
      metricsPorts: { gateway: 9400, users: 9401, catalog: 9402, orders: 9403, billing: 9404 },
      logLevel: process.env.LOG_LEVEL ?? 'warn',
      nodeEnv: env.NODE_ENV,
      environment: process.env,
      // Unset: events and subscriptions use the in-process bus (one process, so that is enough).
      ...(process.env.REDIS_URL ? { redisUrl: process.env.REDIS_URL } : {}),
    });
    console.log(`\nSupergraph ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${supergraph.gatewayUrl}`);
    console.log('Demo accounts: admin@example.com / admin-password-1 (ADMIN), ada@example.com / customer-password-1 (CUSTOMER)');
    // Edit a subgraph's SDL in schema/: composed again, and the gateway reloads the supergraph.
    const schemaWatch = watchSchemaSources();
    console.log('Ctrl-C stops everything.\n');
    const shutdown = async () => {
      if (shuttingDown) return;
      shuttingDown = true;
      console.log('stopping...');
      schemaWatch.close();
      await supergraph.close();
      await dbs.stop();
      process.exit(0);
    };
    process.on('SIGINT', () => void shutdown());
    process.on('SIGTERM', () => void shutdown());
  } catch (err) {
    await dbs.stop();
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new ExplainedError(
        `A port of npm start is taken (${(err as Error).message}): another npm start running? Stop it, or choose other ports with PORT_BASE (or GATEWAY_PORT, USERS_PORT, ...).`,
        { cause: err },
      );
    }
    throw err;
  }
});
