import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, gatewaySchema, parseConfig } from '../platform/config.js';
import { ROOT } from '../platform/paths.js';
import { freePort } from '../scripts/free-port.js';
import { startExtraGateway } from '../scripts/local-supergraph.js';
import { startStack } from './support/stack.js';
import type { Stack, TestUser } from './support/stack.js';

/**
 * A browser app on another origin calls the gateway (CORS_ORIGINS). The app is Apollo Client,
 * bundled from node_modules with esbuild (its ESM graph pulls graphql's .mjs files, rxjs, optimism,
 * @wry/*, tslib: an import map would list every one of them by hand), served by a static server on
 * its own port, and run in headless Chromium. The same page is refused when opened from an origin the
 * gateway does not list (`localhost` instead of `127.0.0.1` is another origin to the browser).
 */
let stack: Stack;
let gateway: Awaited<ReturnType<typeof startExtraGateway>>;
let page: Server;
let pagePort: number;
let browser: Browser | undefined;

const APP = `
import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';
window.runApp = async (uri, sku, email, password) => {
  // credentials: 'include' sends and accepts cookies (the consistency cookie), so the gateway must allow credentials.
  const client = new ApolloClient({ link: new HttpLink({ uri, credentials: 'include' }), cache: new InMemoryCache() });
  const product = await client.query({ query: gql\`query Product($sku: String!) { productBySku(sku: $sku) { id } }\`, variables: { sku } });
  const login = await client.mutate({
    mutation: gql\`mutation LogIn($input: LogInInput!) { logIn(input: $input) { token } }\`,
    variables: { input: { email, password } },
  });
  return { productId: product.data.productBySku.id, token: login.data.logIn.token };
};
`;

async function startPageServer(port: number): Promise<Server> {
  const bundle = await build({
    stdin: { contents: APP, resolveDir: ROOT, loader: 'js' },
    bundle: true,
    format: 'esm',
    write: false,
    logLevel: 'silent',
  });
  const js = bundle.outputFiles[0]!.text;
  const server = createServer((req, res) => {
    if (req.url === '/app.js') return res.writeHead(200, { 'content-type': 'text/javascript' }).end(js);
    res
      .writeHead(200, { 'content-type': 'text/html' })
      .end('<!doctype html><title>app</title><script type="module" src="/app.js"></script>');
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

beforeAll(async () => {
  stack = await startStack();
  pagePort = await freePort();
  page = await startPageServer(pagePort);
  gateway = await startExtraGateway(
    {
      ...stack.topology,
      extra: {
        ...stack.topology.extra,
        gateway: {
          ...stack.topology.extra?.gateway,
          CORS_ORIGINS: `http://127.0.0.1:${pagePort},https://*.example.com`,
          CONSISTENCY_COOKIE: 'true',
        },
      },
    },
    0,
  );
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await gateway?.close();
  page?.close();
  await stack?.close();
});

const preflight = (url: string, origin: string) =>
  fetch(url, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
  });

describe('CORS at the gateway', () => {
  it('answers a preflight from a listed origin (exact or pattern) before the CSRF check, with Vary: Origin', async () => {
    for (const origin of [`http://127.0.0.1:${pagePort}`, 'https://app.example.com']) {
      const res = await preflight(gateway.url, origin);
      expect(res.status, origin).toBe(204);
      expect(res.headers.get('access-control-allow-origin'), origin).toBe(origin);
      expect(res.headers.get('access-control-allow-credentials'), origin).toBe('true');
      expect(res.headers.get('vary'), origin).toMatch(/Origin/);
    }
    for (const origin of [`http://localhost:${pagePort}`, 'https://example.com.evil.io', 'https://evil-example.com']) {
      const res = await preflight(gateway.url, origin);
      expect(res.headers.get('access-control-allow-origin'), origin).toBeNull();
      expect(res.headers.get('vary'), origin).toMatch(/Origin/);
    }
    // No CORS_ORIGINS (the default): same-origin only, nothing allows another origin.
    expect((await preflight(stack.url, `http://127.0.0.1:${pagePort}`)).headers.get('access-control-allow-origin')).toBeNull();
  });

  it('refuses a CORS_ORIGINS entry that is not an origin, naming the variable', () => {
    expect(() => parseConfig(gatewaySchema, { CORS_ORIGINS: 'https://app.example.com/path' })).toThrow(ConfigError);
    expect(() => parseConfig(gatewaySchema, { CORS_ORIGINS: '*' })).toThrow(/CORS_ORIGINS/);
  });

  it('in Chromium, Apollo Client on a listed origin runs a query and a mutation; on another origin it is refused', async () => {
    const [customer, product] = await Promise.all([stack.customer('Cora Cross-Origin'), stack.product()]);
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const listed = await runInBrowser(`http://127.0.0.1:${pagePort}/`, customer, product.sku);
    expect(listed.result).toMatchObject({ productId: product.id, token: expect.any(String) });
    expect(listed.console.filter((l) => l.includes('CORS'))).toEqual([]);

    const other = await runInBrowser(`http://localhost:${pagePort}/`, customer, product.sku);
    expect(other.result).toBeUndefined();
    expect(other.error).toMatch(/Failed to fetch/);
    expect(other.console.join('\n')).toMatch(/blocked by CORS policy/);
  }, 120_000);
});

async function runInBrowser(pageUrl: string, user: TestUser, sku: string) {
  const context = await browser!.newContext();
  try {
    const tab = await context.newPage();
    const consoleLines: string[] = [];
    tab.on('console', (m) => consoleLines.push(m.text()));
    await tab.goto(pageUrl);
    await tab.waitForFunction(() => 'runApp' in globalThis, undefined, { timeout: 30_000 });
    const outcome = await tab.evaluate(
      async ([uri, s, email, password]) => {
        const run = (globalThis as unknown as { runApp: (...a: string[]) => Promise<unknown> }).runApp;
        try {
          return { result: await run(uri!, s!, email!, password!) };
        } catch (err) {
          return { error: String(err) };
        }
      },
      [gateway.url, sku, user.email, user.password],
    );
    return { ...outcome, console: consoleLines };
  } finally {
    await context.close();
  }
}
