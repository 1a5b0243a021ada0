import { Redis } from 'ioredis';
import { createTaggedStore } from '../gateway/cache/tagged-store.js';
import { createLogger } from '../platform/logger.js';
import { createRedisGuard } from '../platform/redis-guard.js';
import { freePort } from '../scripts/free-port.js';
import { startRedisServer } from '../scripts/redis-server.js';
import { findPids, processCpuMs } from './proc-cpu.js';

/**
 * `npm run bench:cache-writes`: what the entity cache's writes cost per entry, by how many entries
 * one `putMany` carries (gateway/cache/write-batcher.ts gathers them): this process's CPU (the
 * gateway's side: the command, its promise, the socket write) and redis-server's, against a real
 * Redis on loopback. Entries are shaped like the benchmark's product entities (a ~150-byte body, two tags).
 */
const ENTRIES = Number(process.env.BENCH_ENTRIES ?? 40_000);
const BATCHES = (process.env.BENCH_BATCH_SIZES ?? '1,5,20,60').split(',').map(Number);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

const body = JSON.stringify({ __typename: 'Product', name: 'Product 1234, a name of the usual length', price: { amountCents: 1299 } });

async function main() {
  const server = await startRedisServer(await freePort());
  const log = createLogger('bench', 'error');
  const client = new Redis(server.url);
  const store = createTaggedStore({
    redis: createRedisGuard(client, 'cache', log),
    prefix: 'bench:',
    localMaxBytes: 0,
    eventSkewMs: 0,
    log,
  });
  const redisPid = findPids('redis-server', `:${server.port}`)[0]!;
  try {
    await client.ping();
    console.log(`${ENTRIES} entries per run, ${ROUNDS} rounds; node ${process.version}`);
    console.log('| entries per putMany | gateway CPU µs/entry | Redis CPU µs/entry | wall µs/entry |\n|---:|---:|---:|---:|');
    for (let round = 0; round < ROUNDS; round++)
      for (const size of BATCHES) {
        const cpu0 = process.cpuUsage();
        const redis0 = processCpuMs(redisPid);
        const t0 = performance.now();
        for (let k = 0; k < ENTRIES; k += size) {
          const entries = Array.from({ length: size }, (_, i) => ({
            key: `n:${(k + i) % 5_000}-a-sha-256-long-key-in-base64url-000000`,
            body,
            tags: [`Product:${(k + i) % 5_000}`, `Category:${(k + i) % 50}`],
          }));
          await store.putMany(entries, 60_000, store.begin());
        }
        const cpu = process.cpuUsage(cpu0);
        const perEntry = (ms: number) => ((ms * 1000) / ENTRIES).toFixed(1);
        console.log(
          `| ${size} | ${perEntry((cpu.user + cpu.system) / 1000)} | ${perEntry(processCpuMs(redisPid) - redis0)} | ${perEntry(performance.now() - t0)} |`,
        );
      }
  } finally {
    await store.close();
    await server.stop();
  }
}

await main();
