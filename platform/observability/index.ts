import type express from 'express';
import type { BaseConfig } from '../config.js';
import { createServiceMetrics } from './metrics.js';
import type { ServiceMetrics } from './metrics.js';
import { startTracing, tracingMiddleware } from './tracing.js';

export type { ServiceMetrics } from './metrics.js';
export { startMetricsServer } from './metrics.js';
export { createRequestTelemetry, requestTelemetryPlugin } from './request-plugin.js';
export type { RequestTelemetry } from './request-plugin.js';
export { registerEventMetrics } from './events.js';
export { createFetchObserver, createSubgraphFetchMetrics } from './subgraph-fetch.js';
export type { FetchObserver } from './subgraph-fetch.js';

/** Tracing from the service's config: a no-op unless OTEL_EXPORTER_OTLP_ENDPOINT is set (or a test registered a provider). */
export function startTracingFromConfig(
  service: string,
  config: Pick<BaseConfig, 'OTEL_EXPORTER_OTLP_ENDPOINT' | 'OTEL_TRACES_SAMPLER_ARG'>,
): void {
  startTracing({ serviceName: service, endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT, sampleRatio: config.OTEL_TRACES_SAMPLER_ARG });
}

/**
 * Every service's metrics registry, and what it mounts first on its public app: the request's
 * server span. /metrics is not on the public app: `listen` serves it on METRICS_PORT.
 */
export function createServiceObservability(service: string): { metrics: ServiceMetrics; middleware: express.RequestHandler[] } {
  const metrics = createServiceMetrics(service);
  return { metrics, middleware: [tracingMiddleware(service)] };
}
