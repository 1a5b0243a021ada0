import path from 'node:path';
import { ROOT } from './paths.js';
import postgres from 'postgres';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';

import type { Subgraph } from './subgraphs.js';

// The registry lives in subgraphs.ts; re-exported for the scripts and tests that migrate.
export { SUBGRAPHS } from './subgraphs.js';
export type { Subgraph } from './subgraphs.js';

/** Applies migrations/<subgraph>/ to the database at url; already-applied ones are skipped. */
export async function migrateSubgraph(name: Subgraph, url: string): Promise<void> {
  const client = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await migrate(drizzle(client), { migrationsFolder: path.join(ROOT, 'migrations', name) });
  } finally {
    await client.end();
  }
}

/** Creates a database if it is missing (development and tests; production provisions its own). */
export async function ensureDatabase(adminUrl: string, database: string): Promise<void> {
  const client = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    const [exists] = await client`select 1 from pg_database where datname = ${database}`;
    if (!exists) await client.unsafe(`create database "${database.replace(/"/g, '')}"`);
  } finally {
    await client.end();
  }
}
