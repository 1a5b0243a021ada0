import { readFile, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHash, randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mintPartnerKey } from '../gateway/identity/partner-keys.js';
import { loadManifests } from '../gateway/persisted-queries/manifest.js';
import { ROOT } from '../platform/paths.js';
import { eventually, startStack } from './support/stack.js';
import type { Stack } from './support/stack.js';

/**
 * The persisted-query safelist and partner keys hold for operations sent over the WebSocket exactly
 * as over HTTP (once, with `SAFELIST_MODES={"*":"enforce"}`, an unlisted logIn, `users { email role }`
 * and createCategory all ran over the socket).
 */

let stack: Stack;
let logFile: string;
let adminToken: string;
let storefront: string;
let productBySku: string;
let me: string;
const partner = mintPartnerKey('acme-partner');
const revoked = mintPartnerKey('acme-partner');
const FIXTURES = { 'apollographql-client-name': 'fixtures' };

beforeAll(async () => {
  logFile = path.join(await mkdtemp(path.join(os.tmpdir(), 'supergraph-ws-safelist-')), 'gateway.log');
  stack = await startStack({
    logLevel: 'info',
    extra: {
      gateway: {
        LOG_DESTINATION: logFile,
        PARTNER_API_KEYS: JSON.stringify([partner.entry, { ...revoked.entry, revoked: true }]),
        // Everyone is held to the union of the manifests; "web" only audited; the test's own fixtures exempt.
        SAFELIST_MODES: JSON.stringify({ '*': 'enforce', web: 'audit', fixtures: 'off' }),
      },
    },
  });
  const email = `${randomUUID()}@example.test`;
  const signUp = await stack.gql(
    'mutation($i: SignUpInput!) { signUp(input: $i) { user { id } } }',
    { i: { email, name: 'WS Admin', password: 'correct-horse-battery' } },
    { headers: FIXTURES },
  );
  await stack.sql.users`update users set role = 'ADMIN' where id = ${signUp.data.signUp.user.id}`;
  const logIn = await stack.gql(
    'mutation($i: LogInInput!) { logIn(input: $i) { token } }',
    { i: { email, password: 'correct-horse-battery' } },
    { headers: FIXTURES },
  );
  adminToken = logIn.data.logIn.token;
  const manifests = await loadManifests(path.join(ROOT, 'persisted-queries'));
  const body = (client: string, name: string) => [...manifests.get(client)!.operations.values()].find((o) => o.name === name)!.body;
  storefront = body('ios-app', 'Storefront');
  productBySku = body('acme-partner', 'ProductBySku');
  me = body('ios-app', 'Me');
});
afterAll(() => stack?.close());

interface Result {
  data?: any;
  errors?: { message: string; extensions?: { code?: string } }[];
}

/** One operation on a fresh socket with these connectionParams; the first result, the error, or the close code. */
async function overSocket(
  params: Record<string, unknown>,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<Result & { closeCode?: number }> {
  let closeCode: number | undefined;
  const client = createClient({
    url: stack.url.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: params,
    retryAttempts: 0,
    on: { closed: (e) => (closeCode = (e as { code: number }).code) },
  });
  try {
    return await new Promise((resolve) => {
      const results: Result[] = [];
      client.subscribe(
        { query, variables },
        {
          next: (r) => results.push(r as Result),
          error: (err) => resolve(Array.isArray(err) ? { errors: err } : { closeCode: (err as { code?: number }).code ?? closeCode }),
          complete: () => resolve(results[0] ?? {}),
        },
      );
    });
  } finally {
    await client.dispose();
  }
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const code = (r: Result) => r.errors?.map((e) => e.extensions?.code);
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('the safelist over WebSocket (SAFELIST_MODES "*": enforce)', () => {
  it('refuses an unlisted logIn from an anonymous socket', async () => {
    const r = await overSocket({}, 'mutation { logIn(input: { email: "ada@example.com", password: "customer-password-1" }) { token } }');
    expect(code(r)).toEqual(['PERSISTED_QUERY_NOT_IN_LIST']);
    expect(r.data).toBeUndefined();
  });

  it('refuses an unlisted `users { email role }` even for an admin', async () => {
    const r = await overSocket(bearer(adminToken), '{ users { edges { node { email role } } } }');
    expect(code(r)).toEqual(['PERSISTED_QUERY_NOT_IN_LIST']);
  });

  it('refuses an unlisted createCategory, and no category is written', async () => {
    const slug = `ws-${randomUUID().slice(0, 8)}`;
    const r = await overSocket(bearer(adminToken), `mutation { createCategory(input: { slug: "${slug}", name: "Nope" }) { id } }`);
    expect(code(r)).toEqual(['PERSISTED_QUERY_NOT_IN_LIST']);
    expect(await stack.sql.catalog`select 1 from categories where slug = ${slug}`).toHaveLength(0);
  });

  it('refuses an unlisted subscription', async () => {
    const r = await overSocket({}, `subscription { stockChanged(productId: "${randomUUID()}") { stock } }`);
    expect(code(r)).toEqual(['PERSISTED_QUERY_NOT_IN_LIST']);
  });

  it("refuses a partner's operation without its key: the union is the first-party manifests", async () => {
    const r = await overSocket({}, productBySku, { sku: 'no-such-sku' });
    expect(code(r)).toEqual(['PERSISTED_QUERY_NOT_IN_LIST']);
    const byId = await fetch(stack.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        variables: { sku: 'no-such-sku' },
        extensions: { persistedQuery: { version: 1, sha256Hash: sha256(productBySku) } },
      }),
    });
    expect(byId.status).toBe(404);
    expect(code((await byId.json()) as Result)).toEqual(['PERSISTED_QUERY_NOT_IN_LIST']);
  });

  it('runs a listed operation sent as its exact text', async () => {
    const r = await overSocket({}, storefront);
    expect(r.errors).toBeUndefined();
    expect(Array.isArray(r.data.categories)).toBe(true);
  });

  it('audit mode runs the unlisted operation and logs its name, never its variables', async () => {
    const slug = `ws-audit-${randomUUID().slice(0, 8)}`;
    const r = await overSocket(
      { ...bearer(adminToken), 'apollographql-client-name': 'web' },
      'mutation AuditedCreate($i: CreateCategoryInput!) { createCategory(input: $i) { id } }',
      { i: { slug, name: 'Audited' } },
    );
    expect(r.errors).toBeUndefined();
    expect(await stack.sql.catalog`select 1 from categories where slug = ${slug}`).toHaveLength(1);
    const line = await eventually(async () =>
      (await readFile(logFile, 'utf8').catch(() => '')).split('\n').find((l) => l.includes('audit only') && l.includes('AuditedCreate')),
    );
    expect(JSON.parse(line)).toMatchObject({ client: 'web', operationName: 'AuditedCreate' });
    expect(line).not.toContain(slug);
  });
});

describe('partner keys over WebSocket', () => {
  it('a revoked or unknown key closes the socket at connection_init (4403)', async () => {
    for (const key of [revoked.key, 'pk_not-a-key']) {
      const r = await overSocket({ 'x-api-key': key }, storefront);
      expect(r.closeCode).toBe(4403);
    }
  });

  it("a partner runs its own manifest's operations and nothing else", async () => {
    const listed = await overSocket({ 'x-api-key': partner.key }, productBySku, { sku: 'no-such-sku' });
    expect(listed.errors).toBeUndefined();
    expect(listed.data).toEqual({ productBySku: null });
    // Listed for another client (ios-app's Me), but not in the partner's own manifest.
    const foreign = await overSocket({ 'x-api-key': partner.key }, me);
    expect(code(foreign)).toEqual(['PERSISTED_QUERY_NOT_IN_LIST']);
    const unlisted = await overSocket({ 'x-api-key': partner.key }, '{ categories { id } }');
    expect(code(unlisted)).toEqual(['PERSISTED_QUERY_NOT_IN_LIST']);
  });
});
