import { execFile } from 'node:child_process';
import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import postgres from 'postgres';
import { describe, expect, inject, it } from 'vitest';
import { SUBGRAPHS, ensureDatabase, migrateSubgraph } from '../platform/migrate.js';
import type { Subgraph } from '../platform/migrate.js';
import { generateLocalKeys, localEnv } from '../platform/local-env.js';
import { ROOT } from '../scripts/compose-supergraph.js';
import { EmbeddedPostgresError, startEmbeddedPostgres } from '../scripts/embedded-postgres.js';
import { resetData, seed } from '../scripts/seed-data.js';

/** The friction a newcomer met on the way from the README to a running supergraph. */
const run = promisify(execFile);
const npm = (args: string[]) => run('npm', args, { cwd: ROOT, env: { ...process.env, NODE_OPTIONS: '' } });

describe('getting started', () => {
  it('an embedded Postgres that cannot start says what Postgres said and what to do', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    const dataDir = path.join(await mkdtemp(path.join(os.tmpdir(), 'newcomer-pg-')), 'postgres');
    try {
      const error = await startEmbeddedPostgres({ dataDir, port, persistent: false }).then(
        () => null,
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(EmbeddedPostgresError);
      const { message } = error as Error;
      expect(message).toMatch(/Address already in use/);
      expect(message).toMatch(/FATAL/);
      expect(message).toContain('EMBEDDED_POSTGRES_PORT');
      expect(message).not.toBe('undefined');
    } finally {
      blocker.close();
    }
  }, 120_000);

  it('`npm run keys -- --out` writes a clean .env (no npm banner) and never overwrites one by accident', async () => {
    const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'newcomer-keys-')), '.env');
    await npm(['run', 'keys', '--', '--out', file]);
    const text = await readFile(file, 'utf8');
    const lines = text.trim().split('\n');
    // Seven signing keys (JSON) and three passwords: everything docker-compose.yml interpolates.
    expect(lines).toHaveLength(10);
    for (const line of lines) expect(line).toMatch(/^[A-Z_]+='[^']+'$/);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const again = await npm(['run', '--silent', 'keys', '--', '--out', file]).then(
      () => null,
      (err: unknown) => err as { code: number; stderr: string },
    );
    expect(again?.code).toBe(1);
    expect(again?.stderr).toMatch(/exists.*--force/);
    expect(again?.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
    expect(await readFile(file, 'utf8')).toBe(text);
    // The stdout form, for `npm run --silent keys > .env`, is exactly the same shape.
    const { stdout } = await npm(['run', '--silent', 'keys']);
    expect(
      stdout
        .trim()
        .split('\n')
        .every((l) => /^[A-Z_]+='[^']+'$/.test(l)),
    ).toBe(true);
  }, 60_000);

  it('.env (private keys) and dist/ are git-ignored', async () => {
    const { stdout } = await run('git', ['check-ignore', '.env', 'dist/index.js', '.data/keys.json'], { cwd: ROOT });
    expect(stdout.trim().split('\n')).toEqual(['.env', 'dist/index.js', '.data/keys.json']);
  });

  it('npm start hands each service the production variables it reads, and keeps the topology its own', async () => {
    const env = localEnv({
      keys: await generateLocalKeys(),
      databaseUrls: {
        users: 'postgres://u/users',
        catalog: 'postgres://u/catalog',
        orders: 'postgres://u/orders',
        billing: 'postgres://u/billing',
      },
      ports: { gateway: 4000, users: 4001, catalog: 4002, orders: 4003, billing: 4004 },
      environment: {
        PARTNER_API_KEYS: '[{"id":"k1","client":"acme","sha256":"' + 'a'.repeat(64) + '"}]',
        SAFELIST_MODES: '{"*":"enforce"}',
        RATE_LIMIT_PARTNER: '7',
        DATABASE_POOL_MAX: '3',
        PORT: '9999',
        DATABASE_URL: 'postgres://elsewhere/x',
        UNRELATED_SECRET: 'nope',
      },
    });
    expect(env.gateway).toMatchObject({ SAFELIST_MODES: '{"*":"enforce"}', RATE_LIMIT_PARTNER: '7', PORT: '4000' });
    expect(env.gateway.PARTNER_API_KEYS).toContain('acme');
    expect(env.gateway.DATABASE_POOL_MAX).toBeUndefined();
    expect(env.gateway.UNRELATED_SECRET).toBeUndefined();
    expect(env.orders).toMatchObject({ DATABASE_POOL_MAX: '3', DATABASE_URL: 'postgres://u/orders', PORT: '4003' });
    expect(env.orders.SAFELIST_MODES).toBeUndefined();
  });

  it('seeding again with --force replaces the data instead of failing on a duplicate key', async () => {
    const { adminUrl } = inject('postgres');
    const prefix = `newcomer_${Date.now().toString(36)}`;
    const urls = {} as Record<Subgraph, string>;
    for (const name of SUBGRAPHS) {
      await ensureDatabase(adminUrl, `${prefix}_${name}`);
      const url = new URL(adminUrl);
      url.pathname = `/${prefix}_${name}`;
      urls[name] = url.toString();
      await migrateSubgraph(name, urls[name]);
    }
    const size = { users: 20, products: 10, categories: 3, orders: 30 };
    const first = await seed(urls, size);
    await expect(seed(urls, size)).rejects.toThrow(/duplicate key/); // what `--force` used to do
    await resetData(urls);
    expect(await seed(urls, size)).toBe(first);
    const sql = postgres(urls.orders, { max: 1, onnotice: () => {} });
    try {
      expect((await sql`select count(*)::int as n from orders`)[0]!.n).toBe(30);
    } finally {
      await sql.end();
    }
  }, 120_000);
});
