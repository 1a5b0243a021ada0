import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type express from 'express';
import type { Logger } from './logger.js';

export interface RunnableService {
  app: express.Application;
  /** Releases pools, timers and connections; called after the HTTP server has drained. */
  stop(): Promise<void>;
  /** Called once the HTTP server exists (e.g. to accept WebSocket upgrades on it). */
  attach?(server: http.Server): void;
  /** Hooked before draining, e.g. to close WebSocket subscriptions with a proper code. */
  beforeDrain?(): Promise<void>;
}

export interface Listening {
  server: http.Server;
  url: string;
  /** Stops taking connections, lets in-flight requests finish (bounded by graceMs), then stops the service. */
  close(): Promise<void>;
}

export async function listen(service: RunnableService, opts: { port: number; host: string; graceMs: number; log: Logger }): Promise<Listening> {
  const server = http.createServer(service.app);
  service.attach?.(server);
  server.keepAliveTimeout = 65_000; // longer than common load balancer idle timeouts
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.host === '0.0.0.0' ? '127.0.0.1' : opts.host;
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await service.beforeDrain?.();
      const drained = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), opts.graceMs);
      await drained;
      clearTimeout(timer);
      await service.stop();
    })());
  return { server, url: `http://${host}:${port}`, close };
}

/** For index.ts: listen, log the URL, and shut down gracefully on SIGTERM / SIGINT. */
export async function runService(name: string, service: RunnableService, opts: { port: number; host: string; graceMs: number; log: Logger }): Promise<Listening> {
  const listening = await listen(service, opts);
  opts.log.info({ url: listening.url }, `${name} listening`);
  const shutdown = (signal: string) => {
    opts.log.info({ signal }, `${name} shutting down`);
    listening
      .close()
      .then(() => process.exit(0))
      .catch((err) => {
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
  config: { PORT: number; HOST: string; SHUTDOWN_GRACE_MS: number },
) => runService(name, service, { port: config.PORT, host: config.HOST, graceMs: config.SHUTDOWN_GRACE_MS, log: service.log });
