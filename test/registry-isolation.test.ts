import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeJsonAtomic } from '../gateway/persisted-queries/client-registry.js';
import { runPartner } from './support/partner.js';
import { eventually, startStack } from './support/stack.js';
import type { Stack } from './support/stack.js';

/**
 * One bad file of the client registry costs only what it holds, on a running gateway and on one
 * started after the file broke (once, a restarted gateway answered 401 for every key of a partner
 * with one truncated manifest, and of another with a broken client.json, while running replicas
 * answered 200: the same key, 200 or 401 by replica).
 */
let stack: Stack;
let registry: string;
let opsDir: string;

const partner = (...args: string[]) => runPartner(registry, args);

beforeAll(async () => {
  registry = await mkdtemp(path.join(os.tmpdir(), 'client-registry-'));
  opsDir = await mkdtemp(path.join(os.tmpdir(), 'partner-ops-'));
  stack = await startStack({ extra: { gateway: { CLIENT_REGISTRY_DIR: registry, CLIENT_REGISTRY_POLL_MS: '300' } } });
}, 120_000);
afterAll(async () => {
  await stack?.close();
});

async function persisted(url: string, key: string, id: string, variables: Record<string, unknown>) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': key },
    body: JSON.stringify({ variables, extensions: { persistedQuery: { version: 1, sha256Hash: id } } }),
  });
  return { status: res.status, body: (await res.json()) as { data?: { product?: { id: string } | null } } };
}

/** Publishes one operation as `version` of client; its id. */
async function publish(client: string, version: string, name: string) {
  const file = path.join(opsDir, `${client}-${version}.graphql`);
  await writeFile(file, `query ${name}($id: ID!) { product(id: $id) { id } }\n`);
  return new RegExp(`${name}\\s+([0-9a-f]{64})`).exec(await partner('publish', client, version, file))![1]!;
}

describe('client registry: a bad file is isolated to its client and its manifest', () => {
  it('a gateway started after one manifest and one client.json broke still serves every valid key', async () => {
    const product = await stack.product();
    const keyA = (await partner('create', 'iso-a')).trim();
    const a1 = await publish('iso-a', '1.0', 'IsoAOld');
    const a2 = await publish('iso-a', '2.0', 'IsoANew');
    const keyB = (await partner('create', 'iso-b')).trim();
    const b1 = await publish('iso-b', '1.0', 'IsoB');
    const runs = async (url: string, key: string, id: string) => (await persisted(url, key, id, { id: product.id })).body.data?.product?.id;
    const cases: [string, string][] = [
      [keyA, a1],
      [keyA, a2],
      [keyB, b1],
    ];
    for (const [key, id] of cases) await eventually(async () => ((await runs(stack.url, key, id)) === product.id ? true : undefined));

    // C lists a version whose manifest no gateway ever read whole: no last good copy anywhere.
    const keyC = (await partner('create', 'iso-c')).trim();
    const c1 = await publish('iso-c', '1.0', 'IsoC');
    const entryC = JSON.parse(await readFile(path.join(registry, 'iso-c', 'client.json'), 'utf8')) as {
      manifests: Record<string, unknown>;
    };
    await writeFile(
      path.join(registry, 'iso-c', 'manifests', '2.0.json'),
      '{ "format": "apollo-persisted-query-manifest", "version": 1, "oper',
    );
    await writeJsonAtomic(path.join(registry, 'iso-c', 'client.json'), {
      ...entryC,
      manifests: { ...entryC.manifests, '2.0': { publishedAt: new Date().toISOString(), retired: false } },
    });
    cases.push([keyC, c1]);

    // One of A's two manifests truncated; B's client.json broken.
    await writeFile(path.join(registry, 'iso-a', 'manifests', '1.0.json'), '{ "format": "apollo-persisted-query-manifest", "vers');
    await writeFile(path.join(registry, 'iso-b', 'client.json'), '{ "name": "iso-b", "keys": [');
    // The running gateway reads the folder every 300 ms: a client created after every write above is
    // known to it only from a read that began after them (reads run one at a time, in order).
    const keyD = (await partner('create', 'iso-d')).trim();
    await eventually(async () => ((await persisted(stack.url, keyD, c1, { id: product.id })).status !== 401 ? true : undefined));
    const restarted = await stack.extraGateway();
    const statuses = await Promise.all(
      cases.map(async ([key, id]) => (await persisted(restarted.url, key, id, { id: product.id })).status),
    );
    console.log(`restarted gateway over the broken files: ${statuses.join(', ')}`);
    for (const [i, [key, id]] of cases.entries()) {
      expect(await runs(restarted.url, key, id), `case ${i} on the restarted gateway`).toBe(product.id);
      expect(await runs(stack.url, key, id), `case ${i} on the running gateway`).toBe(product.id);
    }
  }, 180_000);
});
