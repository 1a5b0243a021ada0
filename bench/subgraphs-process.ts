import http from 'node:http';
import { parseConfig, subgraphSchemas } from '../platform/config.js';
import { sqlStatementCounter } from '../platform/db.js';
import { listen } from '../platform/run-service.js';
import type { Listening } from '../platform/run-service.js';
import { createUsersSubgraph } from '../subgraphs/users/server.js';
import { createCatalogSubgraph } from '../subgraphs/catalog/server.js';
import { createOrdersSubgraph } from '../subgraphs/orders/server.js';
import { createBillingSubgraph } from '../subgraphs/billing/server.js';

/**
 * The four subgraphs in one process (the benchmark's 2 cores cannot give each its own), each
 * built from the env `localEnv` gives it (JSON in BENCH_SUBGRAPH_ENV). Plus, for the benchmark
 * only, a loopback debug port that reports the driver's statement counter (platform/db.ts), so
 * SQL statements per operation are counted where they are sent.
 */
const env = JSON.parse(process.env.BENCH_SUBGRAPH_ENV!) as Record<'users' | 'catalog' | 'orders' | 'billing', Record<string, string>>;
// The bench's "DataLoader off" restart sets it on this process; every subgraph's config reads it.
if (process.env.DATALOADER_DISABLED) for (const e of Object.values(env)) e.DATALOADER_DISABLED = process.env.DATALOADER_DISABLED;
const builders = {
  users: (e: Record<string, string>) => createUsersSubgraph(parseConfig(subgraphSchemas.users, e)),
  catalog: (e: Record<string, string>) => createCatalogSubgraph(parseConfig(subgraphSchemas.catalog, e)),
  orders: (e: Record<string, string>) => createOrdersSubgraph(parseConfig(subgraphSchemas.orders, e)),
  billing: (e: Record<string, string>) => createBillingSubgraph(parseConfig(subgraphSchemas.billing, e)),
};
const running: Listening[] = [];
for (const name of ['users', 'catalog', 'orders', 'billing'] as const) {
  const service = await builders[name](env[name]);
  running.push(await listen(service, { port: Number(env[name].PORT), host: '127.0.0.1', graceMs: 1_000, drainMs: 0, log: service.log }));
}
const debug = http.createServer((_req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ total: sqlStatementCounter.total, primary: sqlStatementCounter.primary, replica: sqlStatementCounter.replica }));
});
debug.listen(Number(process.env.BENCH_DEBUG_PORT), '127.0.0.1', () => process.send?.({ ready: true }));
async function shutdown(): Promise<void> {
  debug.close();
  await Promise.allSettled(running.map((l) => l.close()));
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown());
