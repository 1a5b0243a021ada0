import { gatewaySchema, parseConfig, subgraphSchemas } from '../platform/config.js';
import type { LocalTopology } from '../platform/local-env.js';
import { localEnv } from '../platform/local-env.js';
import { listen } from '../platform/run-service.js';
import type { Listening } from '../platform/run-service.js';
import { createGatewayServer } from '../gateway/server.js';
import { createUsersServer } from '../subgraphs/users/server.js';
import { createCatalogServer } from '../subgraphs/catalog/server.js';
import { createOrdersServer } from '../subgraphs/orders/server.js';
import { createBillingServer } from '../subgraphs/billing/server.js';

/** One more gateway instance over the same subgraphs (scale-out, cross-instance tests). */
export async function startExtraGateway(topology: LocalTopology, port: number): Promise<{ url: string; close(): Promise<void> }> {
  const env = localEnv({ ...topology, ports: { ...topology.ports, gateway: port } });
  const gateway = await createGatewayServer(parseConfig(gatewaySchema, env.gateway));
  const listening = await listen(gateway, { port, host: env.gateway.HOST!, graceMs: 2_000, log: gateway.log });
  return { url: `${listening.url}/graphql`, close: () => listening.close() };
}

export interface LocalSupergraph {
  gatewayUrl: string;
  urls: Record<'gateway' | 'users' | 'catalog' | 'orders' | 'billing', string>;
  close(): Promise<void>;
}

/**
 * Starts the four subgraphs and the gateway in this process, each on its own port with its own
 * config parsed exactly as its index.ts would (same schemas, same variables).
 */
export async function startLocalSupergraph(topology: LocalTopology): Promise<LocalSupergraph> {
  const env = localEnv(topology);
  const started: Listening[] = [];
  const opts = (name: keyof typeof env, grace = 2_000) => ({ port: topology.ports[name], host: env[name].HOST!, graceMs: grace });
  try {
    const users = await createUsersServer(parseConfig(subgraphSchemas.users, env.users));
    started.push(await listen(users, { ...opts('users'), log: users.log }));
    const catalog = await createCatalogServer(parseConfig(subgraphSchemas.catalog, env.catalog));
    started.push(await listen(catalog, { ...opts('catalog'), log: catalog.log }));
    const orders = await createOrdersServer(parseConfig(subgraphSchemas.orders, env.orders));
    started.push(await listen(orders, { ...opts('orders'), log: orders.log }));
    const billing = await createBillingServer(parseConfig(subgraphSchemas.billing, env.billing));
    started.push(await listen(billing, { ...opts('billing'), log: billing.log }));
    const gateway = await createGatewayServer(parseConfig(gatewaySchema, env.gateway));
    started.push(await listen(gateway, { ...opts('gateway'), log: gateway.log }));
  } catch (err) {
    await Promise.allSettled(started.map((s) => s.close()));
    throw err;
  }
  const [users, catalog, orders, billing, gateway] = started.map((s) => s.url) as [string, string, string, string, string];
  return {
    gatewayUrl: `${gateway}/graphql`,
    urls: { gateway, users, catalog, orders, billing },
    async close() {
      // Gateway first, so nothing new reaches the subgraphs while they drain.
      await started.at(-1)!.close();
      await Promise.allSettled(started.slice(0, -1).map((s) => s.close()));
    },
  };
}
