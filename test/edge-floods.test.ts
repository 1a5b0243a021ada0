import net from 'node:net';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startStack } from './support/stack.js';
import type { Stack } from './support/stack.js';

/**
 * Cheap floods against the gateway: a flood of idle anonymous WebSockets from one address, and
 * clients that trickle a request a byte at a time. The gateway must keep serving ordinary HTTP
 * queries at their usual latency throughout. In-process services (the flooding client shares the
 * gateway's process and event loop, which makes the latency figures pessimistic): the process
 * harness could not bring five processes up within its 60 s on this shared two-core machine.
 */

const PER_IP = 100;
const IDLE_MS = 8_000;
const REQUEST_TIMEOUT_MS = 3_000;
const HEADERS_TIMEOUT_MS = 2_000;
const FLOOD = 5_000;

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({
    extra: {
      gateway: {
        WS_MAX_CONNECTIONS_PER_IP: String(PER_IP),
        WS_ANONYMOUS_IDLE_MS: String(IDLE_MS),
        HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
        HTTP_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS),
      },
    },
  });
  await stack.product({ stock: 5 });
}, 300_000);
afterAll(() => stack?.close());

const QUERY = JSON.stringify({ query: '{ categories { id name } products(first: 5) { edges { node { id name stock } } } }' });

/** n sequential catalog queries through the gateway; latency of each (ms). */
async function latencies(n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    const res = await fetch(stack.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: QUERY });
    const body = (await res.json()) as { errors?: unknown };
    out.push(performance.now() - started);
    if (res.status !== 200 || body.errors) throw new Error(`query failed during the flood: ${res.status} ${JSON.stringify(body.errors)}`);
  }
  return out;
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
};
const summary = (values: number[]) => ({
  p50: Math.round(percentile(values, 50) * 10) / 10,
  p99: Math.round(percentile(values, 99) * 10) / 10,
});

type Outcome = { accepted: true; socket: WebSocket; closed: Promise<number> } | { accepted: false; status: number | null };

/** One anonymous graphql-transport-ws connection that initialises and then does nothing. */
function idleSocket(wsUrl: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = new WebSocket(wsUrl, 'graphql-transport-ws');
    const closed = new Promise<number>((r) => socket.once('close', (code) => r(code)));
    socket.once('open', () => socket.send(JSON.stringify({ type: 'connection_init', payload: {} })));
    socket.on('message', (data) => {
      if (JSON.parse((data as Buffer).toString()).type === 'connection_ack') resolve({ accepted: true, socket, closed });
    });
    socket.once('unexpected-response', (_req, res) => {
      resolve({ accepted: false, status: res.statusCode ?? null });
      socket.terminate();
    });
    socket.once('error', () => resolve({ accepted: false, status: null }));
  });
}

/** n connections from this address, `concurrency` handshakes at a time; onOutcome sees each as it settles. */
async function flood(n: number, concurrency: number, onOutcome: (o: Outcome) => void): Promise<Outcome[]> {
  const wsUrl = stack.url.replace(/^http/, 'ws');
  const outcomes: Outcome[] = [];
  for (let i = 0; i < n; i += concurrency) {
    const batch = Array.from({ length: Math.min(concurrency, n - i) }, () => idleSocket(wsUrl).then((o) => (onOutcome(o), o)));
    outcomes.push(...(await Promise.all(batch)));
  }
  return outcomes;
}

describe('the edge holds under floods', () => {
  it(`${FLOOD} idle anonymous WebSockets from one address: capped, idle ones closed, HTTP latency unchanged`, async () => {
    await latencies(20); // warm the query plan and connections
    const before = summary(await latencies(200));

    // The flood and the ordinary traffic at the same time.
    let open = 0;
    let maxOpen = 0;
    const floodDone = flood(FLOOD, 250, (o) => {
      if (!o.accepted) return;
      open += 1;
      maxOpen = Math.max(maxOpen, open);
      void o.closed.then(() => (open -= 1));
    });
    const during = summary(await latencies(200));
    const outcomes = await floodDone;
    const accepted = outcomes.filter((o): o is Extract<Outcome, { accepted: true }> => o.accepted);
    const refused = outcomes.filter((o): o is Extract<Outcome, { accepted: false }> => !o.accepted);
    console.log(
      `[edge-floods] ${FLOOD} initialised idle sockets from 127.0.0.1: at most ${maxOpen} open at once, ${accepted.length} accepted in all (idle ones closed after ${IDLE_MS} ms free their slots), ${refused.length} refused (429: ${refused.filter((r) => r.status === 429).length})`,
    );
    console.log(
      `[edge-floods] HTTP catalog query latency ms (200 sequential): before p50 ${before.p50} p99 ${before.p99}; during the flood p50 ${during.p50} p99 ${during.p99}`,
    );

    expect(maxOpen).toBeLessThanOrEqual(PER_IP);
    expect(accepted.length).toBeGreaterThanOrEqual(PER_IP);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((r) => r.status === 429)).toBe(true);
    // While handshakes pour in, the gateway spends CPU on each refusal (two cores shared with the
    // flooding client here), so only the median is held to the usual figure; every query still answers.
    expect(during.p50).toBeLessThan(Math.max(before.p50 * 3, before.p50 + 20));
    expect(during.p99).toBeLessThan(2_000);

    // Initialised but subscribed to nothing: every accepted socket is closed by the idle timeout.
    const codes = await Promise.all(accepted.map((o) => o.closed));
    expect(new Set(codes)).toEqual(new Set([4410]));

    // The slots are free again; with a full quota of idle sockets held open, HTTP is as before.
    const held = await flood(PER_IP + 50, 150, () => {});
    const heldOpen = held.filter((o): o is Extract<Outcome, { accepted: true }> => o.accepted);
    const stillOpen = heldOpen.filter((o) => o.socket.readyState === WebSocket.OPEN).length;
    const whileHeld = summary(await latencies(50)); // well inside the idle timeout
    console.log(
      `[edge-floods] ${stillOpen} idle sockets held open (${held.length - heldOpen.length} more refused): HTTP p50 ${whileHeld.p50} p99 ${whileHeld.p99} ms`,
    );
    expect(heldOpen.length).toBe(PER_IP);
    expect(stillOpen).toBe(PER_IP);
    expect(whileHeld.p50).toBeLessThan(Math.max(before.p50 * 2, before.p50 + 20));
    expect(whileHeld.p99).toBeLessThan(Math.max(before.p99 * 3, before.p99 + 100));
    for (const o of heldOpen) o.socket.terminate();
  }, 150_000);

  it('an anonymous socket with a subscription open is not closed as idle', async () => {
    const product = await stack.product({ stock: 3 });
    const open = await idleSocket(stack.url.replace(/^http/, 'ws'));
    if (!open.accepted) throw new Error('connection refused');
    open.socket.send(
      JSON.stringify({
        id: '1',
        type: 'subscribe',
        payload: { query: `subscription { stockChanged(productId: "${product.id}") { stock } }` },
      }),
    );
    const opened = Date.now();
    await new Promise((r) => setTimeout(r, IDLE_MS + 1_500));
    expect(open.socket.readyState).toBe(WebSocket.OPEN);
    expect(Date.now() - opened).toBeGreaterThan(IDLE_MS);
    // Completing its last subscription starts the idle clock again.
    open.socket.send(JSON.stringify({ id: '1', type: 'complete' }));
    expect(await open.closed).toBe(4410);
  }, 30_000);

  /** Opens a raw TCP connection, sends `head`, then one byte of `trickle` per second; resolves when the server closes it. */
  function trickle(head: string, trickleText: string): Promise<{ closedAfterMs: number; response: string }> {
    return new Promise((resolve) => {
      const { port } = new URL(stack.url);
      const socket = net.connect(Number(port), '127.0.0.1');
      const started = Date.now();
      let response = '';
      let timer: NodeJS.Timeout | undefined;
      socket.on('data', (d) => (response += String(d)));
      socket.on('error', () => {});
      socket.once('close', () => {
        clearInterval(timer);
        resolve({ closedAfterMs: Date.now() - started, response });
      });
      socket.once('connect', () => {
        socket.write(head);
        let i = 0;
        timer = setInterval(() => {
          if (i < trickleText.length && !socket.destroyed) socket.write(trickleText[i++]!);
        }, 1_000);
      });
    });
  }

  it('a body sent a byte per second is cut within the request timeout (408)', async () => {
    const body = QUERY;
    const cut = await trickle(
      `POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
      body,
    );
    console.log(`[edge-floods] slow body cut after ${cut.closedAfterMs} ms (HTTP_REQUEST_TIMEOUT_MS ${REQUEST_TIMEOUT_MS})`);
    expect(cut.response).toMatch(/^HTTP\/1\.1 408/);
    expect(cut.closedAfterMs).toBeLessThan(REQUEST_TIMEOUT_MS + 2_000);
  }, 30_000);

  it('headers sent a byte per second are cut within the headers timeout', async () => {
    const cut = await trickle('POST /graphql HTTP/1.1\r\n', 'Host: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa\r\n');
    console.log(`[edge-floods] slow headers cut after ${cut.closedAfterMs} ms (HTTP_HEADERS_TIMEOUT_MS ${HEADERS_TIMEOUT_MS})`);
    expect(cut.closedAfterMs).toBeLessThan(HEADERS_TIMEOUT_MS + 2_000);
  }, 30_000);

  it('a gateway under a slow-body flood still answers queries', async () => {
    const slow = Array.from({ length: 200 }, () =>
      trickle(`POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n`, '{"query":'),
    );
    const during = summary(await latencies(50));
    console.log(`[edge-floods] 200 slow bodies open: HTTP p50 ${during.p50} p99 ${during.p99} ms`);
    const cuts = await Promise.all(slow);
    const slowest = Math.max(...cuts.map((c) => c.closedAfterMs));
    console.log(`[edge-floods] 200 slow bodies: all cut, the last after ${slowest} ms`);
    // Node checks request timers on an interval; under 200 at once on a busy machine allow a few seconds.
    expect(slowest).toBeLessThan(REQUEST_TIMEOUT_MS + 5_000);
    await eventually(async () => ((await latencies(1))[0]! < 1_000 ? true : undefined));
  }, 60_000);
});
