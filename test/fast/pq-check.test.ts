import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse, print, visit } from 'graphql';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkManifests } from '../../gateway/persisted-queries/check.js';
import { loadManifests, operationId } from '../../gateway/persisted-queries/manifest.js';
import { ROOT } from '../../platform/paths.js';

/** `npm run pq:check`: manifests against the supergraph, so a schema change cannot silently break a client. */

const MANIFESTS = path.join(ROOT, 'persisted-queries');
let supergraphSdl: string;

/** The committed supergraph with one field taken out: the breaking change a subgraph team might make. */
function withoutField(sdl: string, type: string, field: string): string {
  return print(
    visit(parse(sdl), {
      ObjectTypeDefinition(node) {
        if (node.name.value !== type) return undefined;
        return { ...node, fields: node.fields?.filter((f) => f.name.value !== field) };
      },
    }),
  );
}

const manifestOf = (operations: { name: string; type?: string; body: string; id?: string }[]) =>
  JSON.stringify({
    format: 'apollo-persisted-query-manifest',
    version: 1,
    operations: operations.map((o) => ({ id: o.id ?? operationId(o.body), name: o.name, type: o.type ?? 'query', body: o.body })),
  });

beforeAll(async () => {
  supergraphSdl = await readFile(path.join(ROOT, 'schema/supergraph.graphql'), 'utf8');
});

describe('pq:check', () => {
  it('passes for the committed manifests and supergraph, which the gateway also loads', async () => {
    expect(await checkManifests({ dir: MANIFESTS, supergraphSdl })).toEqual([]);
    const loaded = await loadManifests(MANIFESTS);
    expect(loaded.get('acme-partner')?.operations.size).toBeGreaterThanOrEqual(3);
  });

  it('names every client and operation that a removed field breaks', async () => {
    const broken = withoutField(supergraphSdl, 'Product', 'description');
    const problems = await checkManifests({ dir: MANIFESTS, supergraphSdl: broken });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ client: 'acme-partner', operation: 'ProductBySku', message: expect.stringContaining('description') }),
        expect.objectContaining({ client: 'ios-app', operation: 'ProductDetail', message: expect.stringContaining('description') }),
      ]),
    );
    // Operations that do not use the field are not reported.
    expect(problems.map((p) => p.operation)).not.toContain('Storefront');
  });

  it('reports wrong ids, misnamed operations and unknown fields in a new manifest', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'pq-check-'));
    const good = 'query Cats { categories { id name } }';
    await writeFile(
      path.join(dir, 'tmp-partner.json'),
      manifestOf([
        { name: 'Cats', body: good },
        { name: 'WrongId', body: 'query WrongId { categories { id } }', id: operationId(good) },
        { name: 'Gone', body: 'query Gone { products { edges { node { colour } } } }' },
        { name: 'Misnamed', body: 'query SomethingElse { categories { id } }' },
        { name: 'NotAQuery', type: 'mutation', body: 'query NotAQuery { categories { id } }' },
      ]),
    );
    await writeFile(path.join(dir, 'broken.json'), '{ "format": "something-else" }');
    const problems = await checkManifests({ dir, supergraphSdl });
    const where = problems.map((p) => `${p.client}/${p.operation}`);
    expect(where).toEqual(
      expect.arrayContaining([
        'broken/(manifest)',
        'tmp-partner/WrongId',
        'tmp-partner/Gone',
        'tmp-partner/Misnamed',
        'tmp-partner/NotAQuery',
      ]),
    );
    expect(where).not.toContain('tmp-partner/Cats');
    expect(problems.find((p) => p.operation === 'Gone')?.message).toMatch(/colour/);
    // The gateway refuses to start on such a directory rather than serve a half-understood safelist.
    await expect(loadManifests(dir)).rejects.toThrow(/broken\.json/);
  });

  it('the npm script exits non-zero and names client and operation', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'pq-check-'));
    await writeFile(path.join(dir, 'tmp-partner.json'), manifestOf([{ name: 'Gone', body: 'query Gone { product(id: "1") { colour } }' }]));
    const run = promisify(execFile)(process.execPath, ['--import', 'tsx', 'scripts/pq-check.ts'], {
      cwd: ROOT,
      env: { ...process.env, PERSISTED_QUERIES_DIR: dir },
    });
    await expect(run).rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(/client "tmp-partner", operation "Gone": .*colour/) });
  });
});
