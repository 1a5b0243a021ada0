import { sql } from 'drizzle-orm';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { createDatabase, sqlStatementCounter } from '../platform/db.js';
import type { Database } from '../platform/db.js';
import { tables as catalogSchema } from '../subgraphs/catalog/db/tables.js';
import { categoriesByIds, insertCategory } from '../subgraphs/catalog/db/queries.js';
import { createTestDatabases } from './support/databases.js';

/**
 * The database layer under the resolvers, on a real Postgres: the client Drizzle is given
 * (platform/sql-intercept.ts: timing, spans) keeps transactions on their own connection, and the
 * prepared hot statements (platform/db.ts preparedPer) answer like the builders they replace,
 * with one statement text whatever the batch size.
 */
let database: Database<typeof catalogSchema>;
const registry = new Registry();

beforeAll(async () => {
  const { databaseUrls } = await createTestDatabases(inject('postgres').adminUrl);
  database = createDatabase({ DATABASE_URL: databaseUrls.catalog, DATABASE_REPLICA_URLS: [], DATABASE_POOL_MAX: 4 }, catalogSchema, {
    applicationName: 'sql-client-test',
  });
  database.telemetry.register(registry);
}, 60_000);
afterAll(() => database?.close());

const statementsOk = async () => {
  const metric = (await registry.getSingleMetric('db_statement_duration_seconds')!.get()) as {
    values: { metricName?: string; labels: Record<string, string | number>; value: number }[];
  };
  return (
    metric.values.find((v) => v.metricName?.endsWith('_count') && v.labels.role === 'primary' && v.labels.outcome === 'ok')?.value ?? 0
  );
};

describe('the instrumented client', () => {
  it('runs a transaction on one connection: its write is visible inside, invisible outside, gone after a rollback', async () => {
    const before = await statementsOk();
    const slug = `tx-${Date.now()}`;
    const seen = await database.primary
      .transaction(async (tx) => {
        await tx.execute(sql`insert into categories (name, slug) values ('In a transaction', ${slug})`);
        const inside = await tx.execute(sql`select count(*)::int as n from categories where slug = ${slug}`);
        const outside = await database.primary.execute(sql`select count(*)::int as n from categories where slug = ${slug}`);
        // Thrown to roll back, carrying what each side saw.
        throw Object.assign(new Error('rollback'), { inside: inside[0]!.n, outside: outside[0]!.n });
      })
      .catch((err: unknown) => err as { inside?: number; outside?: number });
    expect(seen).toMatchObject({ inside: 1, outside: 0 });
    const after = await database.primary.execute(sql`select count(*)::int as n from categories where slug = ${slug}`);
    expect(after[0]!.n).toBe(0);
    // Every statement, inside the transaction too, was timed.
    expect((await statementsOk()) - before).toBeGreaterThanOrEqual(4);
  });

  it('prepared statements return the same rows as before, for any batch size, as one statement text', async () => {
    const made = [];
    for (let i = 0; i < 3; i++)
      made.push(await insertCategory(database.primary, { name: `Prepared ${i}`, slug: `prepared-${Date.now()}-${i}` }));
    const texts = new Set<string>();
    sqlStatementCounter.listener = (s) => {
      if (s.application === 'sql-client-test' && s.query.includes('from "categories"')) texts.add(s.query);
    };
    try {
      const one = await categoriesByIds(database.primary, [made[0]!.id]);
      const three = await categoriesByIds(database.primary, [made[2]!.id, made[0]!.id, made[1]!.id, 'not-an-id']);
      expect(one).toEqual([made[0]]);
      expect(three.map((c) => c.id).sort()).toEqual(made.map((c) => c.id).sort());
      expect(await categoriesByIds(database.primary, ['not-an-id'])).toEqual([]);
    } finally {
      sqlStatementCounter.listener = undefined;
    }
    expect(texts.size).toBe(1);
    expect([...texts][0]).toMatch(/= any\(\$1::uuid\[\]\)/);
  });
});
