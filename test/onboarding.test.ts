import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parse, print } from 'graphql';
import { addTypenameToDocument } from '@apollo/client/utilities';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../scripts/compose-supergraph.js';
import { registryBadFiles, runPartner, writeApolloManifest } from './support/partner.js';
import { eventually, startStack } from './support/stack.js';
import type { Stack } from './support/stack.js';

/**
 * A partner onboarded as docs/partners.md says, through the real `npm run partner` commands, against a
 * running supergraph of two gateway instances: nothing is restarted, every change shows on both.
 */
const run = promisify(execFile);
let stack: Stack;
let registry: string;
let second: { url: string; metricsUrl: string; close(): Promise<void> };
let opsDir: string;

/** `npm run partner -- <args>` as a process (the CLI itself, its exit code and its stderr). */
const partnerCli = async (...args: string[]) =>
  (await run('npm', ['run', '--silent', 'partner', '--', ...args], { cwd: ROOT, env: { ...process.env, CLIENT_REGISTRY_DIR: registry } }))
    .stdout;
const partner = (...args: string[]) => runPartner(registry, args);

beforeAll(async () => {
  registry = await mkdtemp(path.join(os.tmpdir(), 'client-registry-'));
  opsDir = await mkdtemp(path.join(os.tmpdir(), 'partner-ops-'));
  stack = await startStack({ extra: { gateway: { CLIENT_REGISTRY_DIR: registry, CLIENT_REGISTRY_POLL_MS: '500' } } });
  second = await stack.extraGateway();
}, 120_000);
afterAll(async () => {
  await stack?.close();
});

/** What a partner's app sends: the operation's id only, and its key. */
async function persisted(url: string, key: string, id: string, variables: Record<string, unknown> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': key },
    body: JSON.stringify({ variables, extensions: { persistedQuery: { version: 1, sha256Hash: id } } }),
  });
  return { status: res.status, body: (await res.json()) as { data?: any; errors?: { extensions?: { code?: string } }[] } };
}
const code = (r: { body: { errors?: { extensions?: { code?: string } }[] } }) => r.body.errors?.[0]?.extensions?.code;

describe('partner onboarding without restarts', () => {
  it('create, publish, run, refuse the unlisted, ship a new version, retire the old, revoke', async () => {
    const product = await stack.product();
    const gateways = [stack.url, second.url];

    // 1. A client and its key. Known at once, but without a manifest nothing may run (no crash).
    const key = (await partnerCli('create', 'acme')).trim();
    expect(key).toMatch(/^pk_[\w-]{43}$/);
    for (const url of gateways) {
      await eventually(async () => ((await persisted(url, key, 'f'.repeat(64))).status === 404 ? true : undefined));
    }

    // 2. Manifest 3.2 built from a .graphql file (ids computed by the command, not by the partner).
    const v32 = path.join(opsDir, 'v3.2.graphql');
    await writeFile(
      v32,
      'query ProductBySku($sku: String!) { productBySku(sku: $sku) { id ...Price } }\nfragment Price on Product { price { amountCents } }\n',
    );
    const published = await partner('publish', 'acme', '3.2', v32);
    const idBySku = /ProductBySku\s+([0-9a-f]{64})/.exec(published)![1]!;
    const started = Date.now();
    for (const url of gateways) {
      await eventually(
        async () => ((await persisted(url, key, idBySku, { sku: product.sku })).body.data?.productBySku ? true : undefined),
        { timeoutMs: 10_000 },
      );
    }
    const effectiveMs = Date.now() - started;
    expect(effectiveMs).toBeLessThan(10_000);
    expect((await persisted(stack.url, key, idBySku, { sku: product.sku })).body.data.productBySku.id).toBe(product.id);

    // 3. Anything not in its manifests is refused, by id or as text.
    const unlisted = await fetch(stack.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': key },
      body: JSON.stringify({ query: '{ categories { id } }' }),
    });
    expect(unlisted.status).toBe(403);
    expect((await unlisted.json()).errors[0].extensions.code).toBe('PERSISTED_QUERY_NOT_IN_LIST');

    // 4. Version 3.3 ships while 3.2 keeps working; then 3.2 is retired.
    const v33 = path.join(opsDir, 'v3.3.graphql');
    await writeFile(v33, 'query ProductById($id: ID!) { product(id: $id) { id name } }\n');
    const idById = /ProductById\s+([0-9a-f]{64})/.exec(await partner('publish', 'acme', '3.3', v33))![1]!;
    await eventually(async () => ((await persisted(stack.url, key, idById, { id: product.id })).body.data?.product ? true : undefined));
    expect((await persisted(stack.url, key, idBySku, { sku: product.sku })).body.data.productBySku.id).toBe(product.id);
    await partner('retire', 'acme', '3.2');
    for (const url of gateways)
      await eventually(async () =>
        code(await persisted(url, key, idBySku, { sku: product.sku })) === 'PERSISTED_QUERY_NOT_IN_LIST' ? true : undefined,
      );
    expect((await persisted(stack.url, key, idById, { id: product.id })).body.data.product.id).toBe(product.id);

    // 5. A broken entry of another client is reported by name and skipped; acme is still served.
    const metricsUrls = [stack.supergraph.metricsUrls.gateway, second.metricsUrl];
    const badBefore = await Promise.all(metricsUrls.map(registryBadFiles));
    await mkdir(path.join(registry, 'broken'), { recursive: true });
    await writeFile(path.join(registry, 'broken', 'client.json'), '{ "name": "broken", "keys": [');
    expect(await partner('list')).toMatch(/broken: BAD ENTRY: .*client\.json: not valid JSON/);
    // Every gateway has read the broken file and skipped it (its gauge says so) before acme asks again.
    for (const [i, url] of metricsUrls.entries())
      await eventually(async () => ((await registryBadFiles(url)) === badBefore[i]! + 1 ? true : undefined), { timeoutMs: 30_000 });
    for (const url of gateways) expect((await persisted(url, key, idById, { id: product.id })).body.data.product.id).toBe(product.id);

    // 6. Revoked: 401 on every gateway.
    const keyId = /key (acme-\S+)\s+active/.exec(await partner('list'))![1]!;
    await partner('revoke', 'acme', keyId);
    for (const url of gateways) {
      const revoked = await eventually(async () => {
        const r = await persisted(url, key, idById, { id: product.id });
        return r.status === 401 ? r : undefined;
      });
      expect(code(revoked)).toBe('UNAUTHENTICATED');
    }
    console.log(`registry change effective on both gateways after ${effectiveMs} ms`);
  }, 180_000);

  it('a partner-only or retired operation does not run without the key, even once its text sat in the APQ store', async () => {
    const product = await stack.product();
    const key = (await partner('create', 'apq-co')).trim();
    const ops = path.join(opsDir, 'apq-co.graphql');
    await writeFile(ops, 'query ApqCoProduct($id: ID!) { product(id: $id) { id name } }\n');
    const id = /ApqCoProduct\s+([0-9a-f]{64})/.exec(await partner('publish', 'apq-co', '1', ops))![1]!;
    const body = (
      JSON.parse(await readFile(path.join(registry, 'apq-co', 'manifests', '1.json'), 'utf8')) as { operations: { body: string }[] }
    ).operations[0]!.body;
    // The partner sends the text with its hash, as Apollo Client's persisted-query link does after a miss.
    const withText = { query: body, variables: { id: product.id }, extensions: { persistedQuery: { version: 1, sha256Hash: id } } };
    await eventually(async () => {
      const r = await fetch(stack.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': key },
        body: JSON.stringify(withText),
      });
      return ((await r.json()) as { data?: { product?: unknown } }).data?.product ? true : undefined;
    });
    const anonymous = async () => {
      const r = await fetch(stack.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ variables: { id: product.id }, extensions: { persistedQuery: { version: 1, sha256Hash: id } } }),
      });
      return { status: r.status, body: (await r.json()) as { data?: any; errors?: { extensions?: { code?: string } }[] } };
    };
    // Knowing a partner's id is not knowing its text: no key, no run.
    const partnerOnly = await anonymous();
    expect(partnerOnly.body.data?.product).toBeUndefined();
    expect(code(partnerOnly)).toBe('PERSISTED_QUERY_NOT_FOUND');
    await partner('retire', 'apq-co', '1');
    await eventually(async () =>
      code(await persisted(stack.url, key, id, { id: product.id })) === 'PERSISTED_QUERY_NOT_IN_LIST' ? true : undefined,
    );
    const retired = await anonymous();
    expect(retired.body.data?.product).toBeUndefined();
    expect(code(retired)).toBe('PERSISTED_QUERY_NOT_FOUND');
  }, 120_000);

  it("publishes Apollo's manifest as generated (its ids, __typename added); freeform text matches whitespace and comments aside", async () => {
    const product = await stack.product();
    const key = (await partner('create', 'apollo-tools')).trim();
    // What @apollo/generate-persisted-query-manifest writes: Apollo Client's document transform, top-level definitions sorted, printed.
    const source = parse(
      'query ToolsProduct($id: ID!) { product(id: $id) { id ...ToolsPrice } } fragment ToolsPrice on Product { price { amountCents } }',
    );
    const body = print(addTypenameToDocument(source));
    const file = path.join(opsDir, 'apollo-manifest.json');
    const id = (await writeApolloManifest(file, [{ name: 'ToolsProduct', type: 'query', body }]))[0]!;
    expect(await partner('publish', 'apollo-tools', '1.0', file)).toContain(id);
    await eventually(async () => ((await persisted(stack.url, key, id, { id: product.id })).body.data?.product ? true : undefined));
    expect((await persisted(stack.url, key, id, { id: product.id })).body.data.product).toMatchObject({
      __typename: 'Product',
      id: product.id,
    });

    // The partner's own one-line file, published from .graphql, then sent as it is written (comment and spacing included).
    const oneLine = 'query ToolsName($id: ID!) { product(id: $id) { id name } } # the partner keeps this comment\n';
    const graphqlFile = path.join(opsDir, 'tools-name.graphql');
    await writeFile(graphqlFile, oneLine);
    await partner('publish', 'apollo-tools', '1.1', graphqlFile);
    const freeform = async (query: string) => {
      const r = await fetch(stack.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': key },
        body: JSON.stringify({ query, variables: { id: product.id } }),
      });
      return { status: r.status, body: (await r.json()) as { data?: any; errors?: { extensions?: { code?: string } }[] } };
    };
    const asWritten = await eventually(async () => {
      const r = await freeform(oneLine);
      return r.status === 200 ? r : undefined;
    });
    expect(asWritten.body.data.product.id).toBe(product.id);
    const respaced = await freeform('query ToolsName( $id : ID! ) {\n  product(id: $id) {\n    id\n    name\n  }\n}');
    expect(respaced.body.data.product.id).toBe(product.id);
    // A different operation is still refused: only ignored characters may differ.
    const changed = await freeform('query ToolsName($id: ID!) { product(id: $id) { id name description } }');
    expect(changed.status).toBe(403);
    expect(code(changed)).toBe('PERSISTED_QUERY_NOT_IN_LIST');
  }, 120_000);

  it('bad command input is a message, not a stack trace', async () => {
    const failed = await partnerCli('publish', 'nobody', '1.0', '/nonexistent.graphql').then(
      () => null,
      (e: unknown) => e as { code: number; stderr: string },
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toMatch(/no client "nobody"/);
    expect(failed?.stderr).not.toMatch(/\n\s+at /);
    const typo = path.join(opsDir, 'typo.graphql');
    await writeFile(typo, 'query Typo { productz { id } }\n');
    await partner('create', 'typo-co');
    await expect(partner('publish', 'typo-co', '1.0', typo)).rejects.toThrow(/Cannot query field "productz"/);
  }, 180_000);
});
