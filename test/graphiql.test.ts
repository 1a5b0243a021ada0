import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { startExtraGateway } from '../scripts/local-supergraph.js';
import { startStack } from './support/stack.js';
import type { Stack } from './support/stack.js';

/**
 * GraphiQL for frontend teams: served by the gateway from the npm bundle, so it works with no
 * internet at all. The browser test refuses every request that leaves the loopback interface.
 */
let stack: Stack;
let browser: Browser | undefined;

beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

const asBrowser = (url: string) =>
  fetch(url, { headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8', 'accept-encoding': 'gzip' } });

/** A gateway over the stack's subgraphs with other settings. */
const gatewayWith = (vars: Record<string, string>) =>
  startExtraGateway({ ...stack.topology, extra: { ...stack.topology.extra, gateway: { ...stack.topology.extra?.gateway, ...vars } } }, 0);

describe('GraphiQL', () => {
  it('a browser GET /graphql gets a self-contained GraphiQL page; JSON clients still get GraphQL', async () => {
    const res = await asBrowser(stack.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toContain('YogaGraphiQL.renderYogaGraphiQL');
    // Nothing is loaded from elsewhere: no external script, stylesheet or font.
    expect(html).not.toMatch(/<(script|link)[^>]+(src|href)="https?:/);
    const get = await fetch(`${stack.url}?query=${encodeURIComponent('{ __typename }')}`, {
      headers: { accept: 'application/json', 'apollo-require-preflight': 'true' },
    });
    expect(await get.json()).toMatchObject({ data: { __typename: 'Query' } });
  });

  it('production serves no explorer unless GRAPHIQL=true', async () => {
    const production = await gatewayWith({ NODE_ENV: 'production' });
    const configured = await gatewayWith({ NODE_ENV: 'production', GRAPHIQL: 'true' });
    try {
      const none = await asBrowser(production.url);
      expect(none.headers.get('content-type') ?? '').not.toMatch(/text\/html/);
      expect(await none.text()).not.toContain('GraphiQL');
      expect((await asBrowser(configured.url)).headers.get('content-type')).toMatch(/^text\/html/);
    } finally {
      await Promise.all([production.close(), configured.close()]);
    }
  }, 60_000);

  it('in headless Chromium with only loopback reachable, a typed query runs and its result shows', async () => {
    const [customer, product] = await Promise.all([stack.customer('Grace In GraphiQL'), stack.product()]);
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const context = await browser.newContext();
    const refused: string[] = [];
    await context.route('**/*', (route) => {
      const { protocol, hostname } = new URL(route.request().url());
      const local = hostname === '127.0.0.1' || hostname === 'localhost' || protocol === 'data:' || protocol === 'blob:';
      if (local) return route.continue();
      refused.push(route.request().url());
      return route.abort('internetdisconnected');
    });
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(stack.url);

    // The editor is ready; the headers editor and the docs explorer are there.
    const editor = page.locator('.graphiql-query-editor .monaco-editor').first();
    await editor.waitFor({ timeout: 60_000 });
    await expect(page.getByText('Headers', { exact: true }).first().isVisible()).resolves.toBe(true);
    await page
      .getByRole('button', { name: /documentation explorer/i })
      .first()
      .click();
    await page.locator('.graphiql-doc-explorer').getByText('Query', { exact: true }).first().waitFor({ timeout: 30_000 });

    // Type a query (Monaco closes braces and quotes itself and types over them).
    await editor.click();
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Delete');
    await page.keyboard.type(`{ me { name } productBySku(sku: "${product.sku}") { id } }`, { delay: 15 });
    await page.keyboard.press('Escape');
    // The signed-in part needs the token, typed into the headers editor.
    await page.getByRole('button', { name: 'Headers', exact: true }).click();
    const headers = page.locator('.graphiql-editor-tool .graphiql-editor:not(.hidden) .monaco-editor').first();
    await headers.click();
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Delete');
    await page.keyboard.type(`{ "Authorization": "Bearer ${customer.token}" }`, { delay: 2 });
    await page.keyboard.press('Escape');
    await editor.click();
    await page.keyboard.press('Control+Enter');
    // The response editor wraps long lines: compare without whitespace.
    const shownText = async () => (await page.locator('.graphiql-response').innerText()).replace(/\s+/g, '');
    await expect.poll(shownText, { timeout: 30_000 }).toContain(`"productBySku":{"id":"${product.id}"}`);
    const shown = await shownText();
    expect(shown).toContain('"me":{"name":"GraceInGraphiQL"}');
    expect(shown).not.toContain('"errors"');
    expect(pageErrors).toEqual([]);
    expect(refused).toEqual([]);
  }, 120_000);
});
