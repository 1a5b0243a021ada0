import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../../scripts/compose-supergraph.js';
import { createFileUsageStore, utcDay } from '../../gateway/usage/index.js';
import type { UsageStore } from '../../gateway/usage/index.js';
import { SchemaCheckFailure, runSchemaCheck } from '../../scripts/schema-checks/run-check.js';
import type { SchemaCheckOptions } from '../../scripts/schema-checks/run-check.js';
import { formatSummary } from '../../scripts/schema-checks/summary.js';
import { runPartner } from '../support/partner.js';

/**
 * `npm run schema:check` on the project's own schemas: the catalog team proposes an SDL, the check
 * composes it with the other three subgraphs (rover.yaml), diffs the API schemas with
 * graphql-inspector, checks persisted-queries/ and a real client registry (written by the partner
 * commands), and recorded usage in a real per-day usage store. No servers: files only.
 */
const DAY_MS = 86_400_000;
let catalogSdl: string;
let supergraphSdl: string;
let opsDir: string;

/** catalog.graphql with one line of Product's fields replaced (or removed, with ''). */
const withProductField = (field: RegExp, replacement: string) => {
  const next = catalogSdl.replace(field, replacement);
  expect(next).not.toBe(catalogSdl);
  return next;
};
const withoutCreatedAt = () => withProductField(/^ {2}createdAt: DateTime!\n/m, '');

async function freshDir(prefix: string) {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

/** A registry with one client that published one manifest version of `operations` (name -> body). */
async function registryWith(client: string, version: string, operations: Record<string, string>, retire = false) {
  const registry = await freshDir('schema-check-registry-');
  const files = await Promise.all(
    Object.entries(operations).map(async ([name, body]) => {
      const file = path.join(opsDir, `${client}-${version}-${name}.graphql`);
      await writeFile(file, body);
      return file;
    }),
  );
  await runPartner(registry, ['create', client]);
  await runPartner(registry, ['publish', client, version, ...files]);
  if (retire) await runPartner(registry, ['retire', client, version]);
  return registry;
}

const check = async (opts: Partial<SchemaCheckOptions> & { sdl: string }) =>
  runSchemaCheck({
    subgraph: 'catalog',
    currentSupergraphSdl: supergraphSdl,
    persistedDir: path.join(ROOT, 'persisted-queries'),
    registryDir: await freshDir('schema-check-empty-'),
    days: 30,
    accept: [],
    ...opts,
  });

const NEW_ARRIVALS = 'query NewArrivals { products(first: 5) { edges { node { id name createdAt } } } }';

beforeAll(async () => {
  catalogSdl = await readFile(path.join(ROOT, 'schema/catalog.graphql'), 'utf8');
  supergraphSdl = await readFile(path.join(ROOT, 'schema/supergraph.graphql'), 'utf8');
  opsDir = await freshDir('schema-check-ops-');
});

describe('schema:check', () => {
  it("fails a removal one partner's published operation selects, naming the partner, its manifest version and the operation", async () => {
    const registryDir = await registryWith('globex', '2.1', { NewArrivals: NEW_ARRIVALS });
    const report = await check({ sdl: withoutCreatedAt(), registryDir });
    expect(report.ok).toBe(false);
    expect(report.failures).toEqual([{ code: SchemaCheckFailure.TRUSTED_DOCUMENT_BROKEN, count: 1 }]);
    expect(report.changes).toContainEqual(expect.objectContaining({ type: 'FIELD_REMOVED', level: 'breaking', path: 'Product.createdAt' }));
    expect(report.documents.failures).toEqual([
      expect.objectContaining({
        source: 'client-registry',
        client: 'globex',
        version: '2.1',
        operation: 'NewArrivals',
        coordinates: ['Product.createdAt'],
      }),
    ]);
    expect(formatSummary(report)).toMatch(/client "globex" version 2\.1, operation "NewArrivals"/);
    // The team may accept the named break: the same check then passes.
    expect((await check({ sdl: withoutCreatedAt(), registryDir, accept: ['Product.createdAt'] })).ok).toBe(true);
  });

  it('passes a removal only a retired manifest used', async () => {
    const registryDir = await registryWith('initech', '1.0', { NewArrivals: NEW_ARRIVALS }, true);
    const report = await check({ sdl: withoutCreatedAt(), registryDir });
    expect(report.documents.retired).toEqual(['initech@1.0']);
    expect(report.documents.failures).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it('fails a removal a mobile client version used yesterday (recorded usage), naming the client and version', async () => {
    const usage: UsageStore = createFileUsageStore(await freshDir('schema-check-usage-'), 35);
    const yesterday = Date.now() - DAY_MS;
    const used = { client: 'ios-app', partnerId: '', operation: 'ProductList', day: utcDay(yesterday), lastSeen: yesterday };
    await usage.write([
      { ...used, coordinate: 'Product.createdAt', version: '5.2.0', count: 3 },
      { ...used, coordinate: 'Product.name', version: '5.3.0', count: 9 },
    ]);
    const report = await check({ sdl: withoutCreatedAt(), usage });
    expect(report.ok).toBe(false);
    expect(report.failures).toEqual([{ code: SchemaCheckFailure.USED_COORDINATE_BROKEN, count: 1 }]);
    expect(report.usage.failures).toEqual([
      expect.objectContaining({ coordinate: 'Product.createdAt', client: 'ios-app', version: '5.2.0', operation: 'ProductList', count: 3 }),
    ]);
    expect(formatSummary(report)).toMatch(/Product\.createdAt: client "ios-app" version 5\.2\.0, operation "ProductList", 3 request/);
    // Outside the window, the same use no longer blocks the removal.
    expect((await check({ sdl: withoutCreatedAt(), usage, now: Date.now() + 40 * DAY_MS, days: 30 })).ok).toBe(true);
  });

  it('passes an added nullable field as a safe change', async () => {
    const report = await check({ sdl: withProductField(/^ {2}weightGrams: Int!\n/m, '  weightGrams: Int!\n  subtitle: String\n') });
    expect(report.ok).toBe(true);
    expect(report.changes).toEqual([expect.objectContaining({ type: 'FIELD_ADDED', level: 'safe', path: 'Product.subtitle' })]);
  });

  it('reports a composition error as such', async () => {
    // orders declares Product.weightGrams @external as Int!: catalog cannot make it a String.
    const report = await check({ sdl: withProductField(/^ {2}weightGrams: Int!$/m, '  weightGrams: String!') });
    expect(report.ok).toBe(false);
    expect(report.failures).toEqual([{ code: SchemaCheckFailure.COMPOSITION_FAILED, count: report.composition.errors.length }]);
    expect(report.composition.errors.join('\n')).toMatch(/weightGrams/);
    expect(formatSummary(report)).toMatch(/^COMPOSITION_FAILED/);
  });

  it('as a command: exits 1 with the summary on stderr and the JSON report written', async () => {
    const dir = await freshDir('schema-check-cli-');
    const sdl = path.join(dir, 'catalog.graphql');
    await writeFile(sdl, withProductField(/^ {2}weightGrams: Int!$/m, '  weightGrams: String!'));
    const out = path.join(dir, 'report.json');
    // No Redis: usage is read from the test's own (empty) folder.
    const env: NodeJS.ProcessEnv = { ...process.env, CLIENT_REGISTRY_DIR: path.join(dir, 'clients'), USAGE_DIR: path.join(dir, 'usage') };
    delete env.REDIS_URL;
    delete env.REDIS_SENTINELS;
    const failed = await promisify(execFile)(
      'npm',
      ['run', '--silent', 'schema:check', '--', '--subgraph', 'catalog', '--sdl', sdl, '--json', out],
      {
        cwd: ROOT,
        env,
      },
    ).then(
      () => undefined,
      (err: unknown) => err as { code: number; stderr: string },
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toMatch(/COMPOSITION_FAILED: the proposed catalog schema does not compose/);
    const report = JSON.parse(await readFile(out, 'utf8')) as { ok: boolean; failures: { code: string }[] };
    expect(report.ok).toBe(false);
    expect(report.failures.map((f) => f.code)).toEqual([SchemaCheckFailure.COMPOSITION_FAILED]);
  });
});
