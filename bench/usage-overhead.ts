import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import { createLogger } from '../platform/logger.js';
import { createCoordinateCache, operationCoordinates } from '../gateway/usage/coordinates.js';
import { createUsageRecorder } from '../gateway/usage/usage-recorder.js';
import { startRedisServer } from '../scripts/redis-server.js';
import { freePort } from '../scripts/free-port.js';
import { createGatewayTester } from '../test/support/gateway-tester.js';
import type { GatewayTester } from '../test/support/gateway-tester.js';

/**
 * `npm run bench:usage`: the request latency field-usage recording adds, through the real gateway.
 * Two gateways alike but for USAGE_RECORDING (true / false), over the same inline subgraph and one
 * Redis server (the recording one flushes to it every second, so flushes land inside the run);
 * requests alternate between them one by one, so load from anything else on the machine falls on
 * both alike. Sequential requests: latency, not throughput. Prints p50/p99 of each and the difference.
 */
const REQUESTS = Number(process.env.BENCH_USAGE_REQUESTS ?? 2_000);
const WARMUP = Number(process.env.BENCH_USAGE_WARMUP ?? 200);
/** Distinct clients (name and version) the requests cycle through: usage keys multiply by them. */
const CLIENTS = 20;

// A subgraph SDL (federation directives): plain text, not a document checked against the API schema.
const SHOP = `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key"])
  enum Sort { NEWEST CHEAPEST }
  type Query { products(first: Int!, sort: Sort): [Product!]! }
  type Product @key(fields: "id") { id: ID! name: String! price: Int! description(short: Boolean): String! tags: [String!]! }
`;
const resolvers = {
  Query: {
    products: (_: unknown, { first }: { first: number }) =>
      Array.from({ length: first }, (_x, i) => ({
        id: `p${i}`,
        name: `Product ${i}`,
        price: 100 + i,
        description: 'A product.',
        tags: ['a', 'b'],
      })),
  },
};
/** A document of a typical size: a dozen coordinates, arguments and an enum literal. */
const QUERY = 'query Shelf { products(first: 10, sort: CHEAPEST) { id name price description(short: true) tags } }';

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

async function timed(gateway: GatewayTester, i: number): Promise<number> {
  const headers = { 'apollographql-client-name': `app-${i % CLIENTS}`, 'apollographql-client-version': `1.${i % 7}` };
  const started = performance.now();
  const res = await gateway.post({ query: QUERY }, headers);
  const ms = performance.now() - started;
  if (res.status !== 200 || res.body.errors) throw new Error(`request failed: ${res.status} ${JSON.stringify(res.body)}`);
  return ms;
}

/**
 * The same work in process, without HTTP noise: CPU per request of the walk on a new document, and
 * of what every request pays once its document is cached (lookup + map updates). On a loaded
 * machine this is the steadier figure; the HTTP percentiles show it drowns in the rest.
 */
function inProcess(): void {
  const schema = buildSubgraphSchema({ typeDefs: parse(SHOP), resolvers });
  const document = parse(QUERY);
  const perCall = (n: number, fn: (i: number) => void) => {
    const started = process.cpuUsage();
    for (let i = 0; i < n; i++) fn(i);
    const used = process.cpuUsage(started);
    return ((used.user + used.system) / n).toFixed(2);
  };
  const walk = perCall(5_000, () => operationCoordinates(schema, document));
  const cached = createCoordinateCache();
  const recorder = createUsageRecorder({
    store: { kind: 'file', write: async () => {}, read: async () => [] },
    log: createLogger('bench', 'silent'),
    flushMs: 60_000,
    maxEntries: 50_000,
  });
  const hit = perCall(200_000, (i) =>
    recorder.record(
      { client: `app-${i % CLIENTS}`, version: `1.${i % 7}`, partnerId: '', operation: 'Shelf' },
      cached(schema, QUERY, document),
    ),
  );
  void recorder.stop();
  console.log(`in process: coordinates of a new document ${walk} µs CPU; a cached document recorded ${hit} µs CPU per request`);
}

async function main() {
  inProcess();
  const redis = await startRedisServer(await freePort());
  const start = (recording: boolean) =>
    createGatewayTester({
      subgraphs: { shop: { typeDefs: SHOP, resolvers } },
      env: {
        REDIS_URL: redis.url,
        EVENT_NAMESPACE: 'bench-usage:',
        USAGE_RECORDING: String(recording),
        USAGE_FLUSH_MS: '1000',
        // Every request comes from 127.0.0.1: request rate limits out of the way, as in the test stacks.
        RATE_LIMIT_ANONYMOUS: '1000000',
      },
    });
  const on = await start(true);
  const off = await start(false);
  try {
    const samples = { on: [] as number[], off: [] as number[] };
    for (let i = 0; i < WARMUP + REQUESTS; i++) {
      // Alternate which goes first, so neither always follows the other's garbage.
      const order = i % 2 ? (['on', 'off'] as const) : (['off', 'on'] as const);
      for (const mode of order) {
        const ms = await timed(mode === 'on' ? on : off, i);
        if (i >= WARMUP) samples[mode].push(ms);
      }
    }
    const row = (xs: number[]) => ({ p50: percentile(xs, 50), p99: percentile(xs, 99) });
    const [a, b] = [row(samples.on), row(samples.off)];
    console.log(`usage recording, ${REQUESTS} requests each, alternating, ${CLIENTS} clients:`);
    console.log(`  on : p50 ${a.p50.toFixed(3)} ms, p99 ${a.p99.toFixed(3)} ms`);
    console.log(`  off: p50 ${b.p50.toFixed(3)} ms, p99 ${b.p99.toFixed(3)} ms`);
    console.log(`  added: p50 ${(a.p50 - b.p50).toFixed(3)} ms, p99 ${(a.p99 - b.p99).toFixed(3)} ms`);
  } finally {
    await Promise.all([on.close(), off.close()]);
    await redis.stop();
  }
}

await main();
