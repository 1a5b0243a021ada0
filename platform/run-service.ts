import { settledWithin } from './shutdown.js';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type express from 'express';
import type { HttpServerConfig } from './config.js';
import type { Logger } from './logger.js';
import { startMetricsServer } from './observability/index.js';
import type { ServiceMetrics } from './observability/index.js';

export interface RunnableService {
  app: express.Application;
  /** What the public port serves, when it is more than `app` (a subgraph's /graphql on plain node:http). */
  handler?: http.RequestListener;
  /** Releases pools, timers and connections; called after the HTTP server has drained. */
  stop(): Promise<void>;
  /** Called once the HTTP server exists (e.g. to accept WebSocket upgrades on it). */
  attach?(server: http.Server): void;
  /** Called when draining starts (readiness should then report unavailable). */
  onDrain?(): void;
  /** Hooked before draining, e.g. to close WebSocket subscriptions with a proper code. */
  beforeDrain?(): Promise<void>;
  /** Served as GET /metrics on a port of its own (ListenOptions.metricsPort). */
  metrics?: ServiceMetrics;
}

export interface Listening {
  server: http.Server;
  url: string;
  /** Where GET /metrics answers (a port other than the public one), when the service has metrics. */
  metricsUrl?: string;
  /** Stops taking connections, lets in-flight requests finish (bounded by graceMs), then stops the service. */
  close(): Promise<void>;
}

export interface ListenOptions {
  port: number;
  host: string;
  /** Longest wait for in-flight requests after the drain window. */
  graceMs: number;
  /** How long to keep serving (every response closing its connection) before refusing connections. */
  drainMs?: number;
  /** METRICS_PORT: /metrics listens here, on the same host (0 = any free port). */
  metricsPort?: number;
  /** How long a client may take to send headers, and a whole request (HTTP_HEADERS_TIMEOUT_MS, HTTP_REQUEST_TIMEOUT_MS). */
  timeouts?: { headersMs: number; requestMs: number };
  log: Logger;
}

/**
 * The longest a service's stop (its background work and connections) may take once requests are
 * done. Orchestrators' stop windows cover SHUTDOWN_DRAIN_MS + SHUTDOWN_GRACE_MS + this (deploy tests).
 */
export const SERVICE_STOP_MS = 15_000;

export async function listen(service: RunnableService, opts: ListenOptions): Promise<Listening> {
  /*
   * A client that trickles its headers or body holds a socket (and a file descriptor) for as long
   * as the server lets it: Node's defaults are 60 s for headers and 300 s for the whole request.
   * requestTimeout covers the body too (408, connection closed); Node checks these timers on an
   * interval, so the interval is kept to a fraction of the bound for the cut to land close to it.
   */
  const timeouts = opts.timeouts ?? { headersMs: 10_000, requestMs: 30_000 };
  const server = http.createServer(
    {
      headersTimeout: Math.min(timeouts.headersMs, timeouts.requestMs), // Node refuses headers > request
      requestTimeout: timeouts.requestMs,
      connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(timeouts.headersMs / 4))),
    },
    service.handler ?? service.app,
  );
  service.attach?.(server);
  let inFlight = 0;
  let draining = false;
  let onIdle: (() => void) | undefined;
  server.on('request', (_req, res) => {
    // While draining, every response closes its connection, so a load balancer's pool of idle
    // keep-alive connections to this instance empties before the listener closes.
    if (draining) res.shouldKeepAlive = false;
    inFlight += 1;
    res.once('close', () => {
      inFlight -= 1;
      if (inFlight === 0) onIdle?.();
    });
  });
  server.keepAliveTimeout = 65_000; // longer than common load balancer idle timeouts
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.host === '0.0.0.0' ? '127.0.0.1' : opts.host;
  const metricsServer =
    service.metrics && opts.metricsPort !== undefined ? await startMetricsServer(service.metrics, opts.metricsPort, opts.host) : undefined;
  let closing: Promise<void> | undefined;
  /*
   * Graceful stop: first a drain window in which requests are still served but every connection is
   * closed after its response (so no idle keep-alive connection is left for a load balancer to send
   * a request on just as it is destroyed); then refuse new connections (a load balancer retries a
   * refused connection on another instance), finish what is in flight, drop idle connections; after
   * graceMs whatever is left is cut.
   */
  const close = () =>
    (closing ??= (async () => {
      draining = true;
      service.onDrain?.();
      await service.beforeDrain?.();
      if (opts.drainMs) await new Promise((resolve) => setTimeout(resolve, opts.drainMs));
      const drained = new Promise<void>((resolve) => server.close(() => resolve()));
      const idle = new Promise<void>((resolve) => {
        onIdle = resolve;
        if (inFlight === 0) resolve();
      });
      const timer = setTimeout(() => server.closeAllConnections(), opts.graceMs);
      await idle;
      server.closeIdleConnections();
      await drained;
      clearTimeout(timer);
      // Each dependency's own step is bounded (platform/shutdown.ts); this bounds whatever else could hang.
      const stopped = service.stop();
      if (await settledWithin(stopped, SERVICE_STOP_MS)) await stopped;
      else opts.log.error({ waitedMs: SERVICE_STOP_MS }, 'service stop did not finish in time; closing anyway');
      await metricsServer?.close();
    })());
  return { server, url: `http://${host}:${port}`, ...(metricsServer ? { metricsUrl: metricsServer.url } : {}), close };
}

/** For index.ts: listen, log the URL, and shut down gracefully on SIGTERM / SIGINT. */
export async function runService(name: string, service: RunnableService, opts: ListenOptions): Promise<Listening> {
  const listening = await listen(service, opts);
  opts.log.info({ url: listening.url, metricsUrl: listening.metricsUrl }, `${name} listening`);
  const shutdown = (signal: string) => {
    opts.log.info({ signal }, `${name} shutting down`);
    listening
      .close()
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        opts.log.error({ err }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  return listening;
}

/** The whole of a service's index.ts after its config is parsed. */
export const runWithConfig = (
  name: string,
  service: RunnableService & { log: Logger },
  config: { PORT: number; METRICS_PORT: number; HOST: string; SHUTDOWN_GRACE_MS: number; SHUTDOWN_DRAIN_MS: number } & HttpServerConfig,
) =>
  runService(name, service, {
    port: config.PORT,
    host: config.HOST,
    graceMs: config.SHUTDOWN_GRACE_MS,
    drainMs: config.SHUTDOWN_DRAIN_MS,
    metricsPort: config.METRICS_PORT,
    timeouts: httpTimeouts(config),
    log: service.log,
  });

export const httpTimeouts = (config: HttpServerConfig) => ({
  headersMs: config.HTTP_HEADERS_TIMEOUT_MS,
  requestMs: config.HTTP_REQUEST_TIMEOUT_MS,
});
