import type express from 'express';
import type { BaseConfig } from '../config.js';
import { createServiceMetrics, metricsRoute } from './metrics.js';
import type { ServiceMetrics } from './metrics.js';
import { startTracing, tracingMiddleware } from './tracing.js';

export type { ServiceMetrics } from './metrics.js';
export { requestTelemetryPlugin } from './request-plugin.js';
export { registerEventMetrics } from './events.js';
export { createSubgraphFetchMetrics, instrumentFetcher } from './subgraph-fetch.js';

/** Tracing from the service's config: a no-op unless OTEL_EXPORTER_OTLP_ENDPOINT is set (or a test registered a provider). */
export function startTracingFromConfig(service: string, config: Pick<BaseConfig, 'OTEL_EXPORTER_OTLP_ENDPOINT' | 'OTEL_TRACES_SAMPLER_ARG'>): void {
  startTracing({ serviceName: service, endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT, sampleRatio: config.OTEL_TRACES_SAMPLER_ARG });
}

/**
 * What every service mounts first: GET /metrics (its own registry) and the request's server span.
 * Like /health, /metrics needs no token: keep it off the public edge (the nginx config denies it).
 */
export function createServiceObservability(service: string): { metrics: ServiceMetrics; middleware: express.RequestHandler[] } {
  const metrics = createServiceMetrics(service);
  return { metrics, middleware: [metricsRoute(metrics), tracingMiddleware(service)] };
}
