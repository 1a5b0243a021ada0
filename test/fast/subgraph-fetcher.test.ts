import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSubgraphFetcher, respond, withHeader, withParsedBody } from '../../gateway/subgraph-fetcher.js';
import { failureReason, isRetriable } from '../../gateway/subgraph-failure.js';

/**
 * The gateway's fetch to subgraphs (gateway/subgraph-fetcher.ts, undici's pools) at the wire: what
 * Apollo reads of an answer, and each failure as the rest of the stack must see it (its reason, and
 * whether a query may be retried), against a real local server.
 */

let server: http.Server;
let base = '';
const hung: http.ServerResponse[] = [];
beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.url === '/hang') hung.push(res);
      else if (req.url === '/cut') req.socket.destroy();
      else {
        res.writeHead(201, { 'content-type': 'application/json', 'x-twice': ['a', 'b'] });
        res.end(JSON.stringify({ method: req.method, body, token: req.headers['x-internal-token'] ?? null }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  for (const res of hung) res.destroy();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const failureOf = (p: Promise<unknown>) =>
  p.then(
    () => expect.unreachable('the fetch should have failed'),
    (err: unknown) => err,
  );

describe('subgraph fetcher', () => {
  const fetcher = createSubgraphFetcher({ timeoutMs: 2_000, connectTimeoutMs: 500 });

  it('sends the method, headers and body, and answers with the status, headers and body', async () => {
    const response = await fetcher(`${base}/graphql`, { method: 'POST', headers: { 'x-internal-token': 't1' }, body: '{"q":1}' });
    expect(response.status).toBe(201);
    expect(response.ok).toBe(true);
    expect(response.headers.get('Content-Type')).toBe('application/json');
    expect(response.headers.get('x-twice')).toBe('a, b');
    expect(await response.json()).toEqual({ method: 'POST', body: '{"q":1}', token: 't1' });
  });

  it('a subgraph that never answers fails at the fetch deadline: timed out, not retried', async () => {
    const started = performance.now();
    const err = await failureOf(fetcher(`${base}/hang`, { method: 'POST', body: '{}', timeoutMs: 300 } as never));
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(failureReason(err)).toBe('timed out');
    expect(isRetriable(err)).toBe(false);
    // The pool behind it was retired, not the fetcher: the next fetch answers.
    expect((await fetcher(`${base}/graphql`, { method: 'POST', body: '{}' })).status).toBe(201);
  });

  it('a connection the subgraph cuts is a reset, which a query may retry', async () => {
    const err = await failureOf(fetcher(`${base}/cut`, { method: 'POST', body: '{}' }));
    expect(failureReason(err)).toBe('connection reset');
    expect(isRetriable(err)).toBe(true);
  });

  it('a port nobody listens on is a refusal, which a query may retry', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const err = await failureOf(fetcher(`http://127.0.0.1:${port}/graphql`, { method: 'POST', body: '{}' }));
    expect(failureReason(err)).toBe('connection refused');
    expect(isRetriable(err)).toBe(true);
  });

  it('an answer handed on already parsed gives that object to one reader only: clones and later reads parse the bytes', async () => {
    const parsed = { data: { _entities: [{ id: '1' }] } };
    const bytes = Buffer.from(JSON.stringify(parsed));
    // As the entity cache hands it on: parsed, then its private max-age masked.
    const response = withHeader(
      withParsedBody(respond('http://x/graphql', 200, 'OK', { 'content-type': 'application/json' }, bytes), parsed),
      'x-y',
      'z',
    );
    const clone = response.clone();
    expect(await response.json()).toBe(parsed);
    const again = await response.json();
    expect(again).toEqual(parsed);
    expect(again).not.toBe(parsed);
    const cloned = await clone.json();
    expect(cloned).toEqual(parsed);
    expect(cloned).not.toBe(parsed);
    expect(response.headers.get('x-y')).toBe('z');
  });

  it('a body given as a function is made only when its bytes are read, once, and clones read the same bytes', async () => {
    let made = 0;
    const body = () => (made++, Buffer.from('{"data":{"ok":true}}'));
    const parsed = { data: { ok: true } };
    const response = withParsedBody(respond('http://x/graphql', 200, 'OK', { 'content-type': 'application/json' }, body), parsed);
    expect(await response.json()).toBe(parsed);
    expect(made).toBe(0);
    const clone = response.clone();
    expect(await clone.text()).toBe('{"data":{"ok":true}}');
    expect(await response.json()).toEqual(parsed);
    expect(await response.clone().text()).toBe('{"data":{"ok":true}}');
    expect(made).toBe(1);
  });
});
