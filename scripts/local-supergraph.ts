import { gatewaySchema, httpServerSchema, parseConfig, subgraphSchemas } from '../platform/config.js';
import type { LocalTopology } from '../platform/local-env.js';
import { localEnv } from '../platform/local-env.js';
import { httpTimeouts, listen } from '../platform/run-service.js';
import { freePort } from './free-port.js';
import type { Listening, RunnableService } from '../platform/run-service.js';
import type { Logger } from '../platform/logger.js';
import { applyApolloTelemetrySetting } from '../gateway/apollo-telemetry.js';
import { createGatewayServer } from '../gateway/server.js';
import { SERVICES } from '../platform/subgraphs.js';
import type { ServiceName } from '../platform/subgraphs.js';
import { createUsersSubgraph } from '../subgraphs/users/server.js';
import { createCatalogSubgraph } from '../subgraphs/catalog/server.js';
import { createOrdersSubgraph } from '../subgraphs/orders/server.js';
import { createBillingSubgraph } from '../subgraphs/billing/server.js';

export type { ServiceName } from '../platform/subgraphs.js';

/** Each service built from its own environment, parsed exactly as its index.ts would. */
const builders: Record<ServiceName, (env: Record<string, string>) => Promise<RunnableService & { log: Logger }>> = {
  users: (env) => createUsersSubgraph(parseConfig(subgraphSchemas.users, env)),
  catalog: (env) => createCatalogSubgraph(parseConfig(subgraphSchemas.catalog, env)),
  orders: (env) => createOrdersSubgraph(parseConfig(subgraphSchemas.orders, env)),
  billing: (env) => createBillingSubgraph(parseConfig(subgraphSchemas.billing, env)),
  gateway: (env) => {
    const config = parseConfig(gatewaySchema, env);
    applyApolloTelemetrySetting(config);
    return createGatewayServer(config);
  },
};

async function startService(name: ServiceName, env: Record<string, string>, port: number): Promise<Listening> {
  const service = await builders[name](env);
  // Single-machine runs stop fast unless told otherwise (the scale-out test asks for a drain window).
  const timeouts = httpTimeouts(parseConfig(httpServerSchema, env));
  return listen(service, {
    port,
    host: env.HOST!,
    graceMs: 2_000,
    drainMs: Number(env.SHUTDOWN_DRAIN_MS ?? 0),
    metricsPort: Number(env.METRICS_PORT ?? 0),
    timeouts,
    log: service.log,
  });
}

/** One more gateway instance over the same subgraphs (scale-out, cross-instance tests). */
export async function startExtraGateway(
  topology: LocalTopology,
  port: number,
): Promise<{ url: string; metricsUrl: string; close(): Promise<void> }> {
  const env = localEnv({ ...topology, ports: { ...topology.ports, gateway: port }, metricsPorts: {} });
  const listening = await startService('gateway', env.gateway, port);
  return { url: `${listening.url}/graphql`, metricsUrl: listening.metricsUrl!, close: () => listening.close() };
}

export interface LocalSupergraph {
  /** The ports the services really listen on. */
  ports: Record<ServiceName, number>;
  gatewayUrl: string;
  urls: Record<ServiceName, string>;
  /** Each running service's /metrics listener (its own port); a restarted service gets a new one. */
  metricsUrls: Record<ServiceName, string>;
  /** Stops one service gracefully (fault tests); `start` brings it back on the same port. */
  stop(name: ServiceName): Promise<void>;
  start(name: ServiceName): Promise<void>;
  close(): Promise<void>;
}

const ORDER: readonly ServiceName[] = SERVICES;

/** Starts the four subgraphs and then the gateway in this process, each on its own port. */
export async function startLocalSupergraph(topology: LocalTopology): Promise<LocalSupergraph> {
  // Port 0 means "any free port": services start in dependency order (users, catalog, orders,
  // billing, then the gateway), each told the real ports of those before it, so nothing races for ports.
  const ports = { ...topology.ports };
  // Catalog and orders call each other (stock reservations, order-holds checks): whichever starts
  // first must know the other's port, so orders' is chosen up front.
  if (ports.orders === 0) ports.orders = await freePort();
  const running = new Map<ServiceName, Listening>();
  const start = async (name: ServiceName) => {
    if (running.has(name)) return;
    const env = localEnv({ ...topology, ports })[name];
    const listening = await startService(name, env, ports[name]);
    ports[name] = Number(new URL(listening.url).port);
    running.set(name, listening);
  };
  const stop = async (name: ServiceName) => {
    const listening = running.get(name);
    running.delete(name);
    await listening?.close();
  };
  try {
    for (const name of ORDER) await start(name);
  } catch (err) {
    await Promise.allSettled([...running.keys()].map(stop));
    throw err;
  }
  const host = topology.host ?? '127.0.0.1';
  const url = (name: ServiceName) => `http://${host}:${ports[name]}`;
  return {
    ports,
    gatewayUrl: `${url('gateway')}/graphql`,
    urls: Object.fromEntries(ORDER.map((n) => [n, url(n)])) as Record<ServiceName, string>,
    get metricsUrls() {
      return Object.fromEntries([...running].map(([n, l]) => [n, l.metricsUrl!])) as Record<ServiceName, string>;
    },
    start,
    stop,
    async close() {
      // Gateway first, so nothing new reaches the subgraphs while they drain.
      await stop('gateway');
      await Promise.allSettled(ORDER.map(stop));
    },
  };
}
