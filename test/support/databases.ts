import { randomUUID } from 'node:crypto';
import postgres from 'postgres';
import { SUBGRAPHS, ensureDatabase, migrateSubgraph } from '../../platform/migrate.js';
import type { Subgraph } from '../../platform/migrate.js';

/** The run's migrated copy of each subgraph's schema, made once by the global setup. */
const templateName = (name: Subgraph) => `template_${name}`;

/**
 * Migrates one template database per subgraph, once per run. Each test file then gets its
 * databases as copies of them (CREATE DATABASE … TEMPLATE, a block copy: milliseconds) instead of
 * replaying every migration four times per file.
 */
export async function createTemplateDatabases(adminUrl: string): Promise<void> {
  await Promise.all(
    SUBGRAPHS.map(async (name) => {
      await ensureDatabase(adminUrl, templateName(name));
      const url = new URL(adminUrl);
      url.pathname = `/${templateName(name)}`;
      await migrateSubgraph(name, url.toString());
    }),
  );
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    // Nobody connects to a template afterwards: a copy fails while the source has sessions.
    for (const name of SUBGRAPHS)
      await admin.unsafe(`alter database "${templateName(name)}" with is_template true allow_connections false`);
  } finally {
    await admin.end();
  }
}

const checked = new Map<string, Promise<void>>();

/** A file's own server (replica tests start one) has no templates until its first stack makes them. */
function ensureTemplates(adminUrl: string): Promise<void> {
  let done = checked.get(adminUrl);
  if (!done) {
    done = (async () => {
      const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
      const rows = await admin`select 1 from pg_database where datname = ${templateName(SUBGRAPHS[0])}`.finally(() => admin.end());
      if (rows.length === 0) await createTemplateDatabases(adminUrl);
    })();
    checked.set(adminUrl, done);
  }
  return done;
}

/** Fresh databases for the four subgraphs on the given server, copied from the run's templates. */
export async function createTestDatabases(adminUrl: string): Promise<{ prefix: string; databaseUrls: Record<Subgraph, string> }> {
  await ensureTemplates(adminUrl);
  const prefix = `t_${randomUUID().replace(/-/g, '').slice(0, 10)}`;
  const admin = postgres(adminUrl, { max: 4, onnotice: () => {} });
  try {
    const entries = await Promise.all(
      SUBGRAPHS.map(async (name) => {
        const database = `${prefix}_${name}`;
        await admin.unsafe(`create database "${database}" template "${templateName(name)}"`);
        const url = new URL(adminUrl);
        url.pathname = `/${database}`;
        return [name, url.toString()] as const;
      }),
    );
    return { prefix, databaseUrls: Object.fromEntries(entries) as Record<Subgraph, string> };
  } finally {
    await admin.end();
  }
}
