import { SpanKind, SpanStatusCode, context, propagation } from '@opentelemetry/api';
import type { Fetcher, FetcherResponse } from '@apollo/utils.fetcher';
import { Histogram } from 'prom-client';
import { LATENCY_BUCKETS } from './metrics.js';
import type { ServiceMetrics } from './metrics.js';
import { tracerFor, tracingEnabled } from './tracing.js';

/** The gateway's fetch latency per subgraph (one series per subgraph and outcome). */
export function createSubgraphFetchMetrics(metrics: ServiceMetrics): Histogram<'subgraph' | 'outcome'> {
  return new Histogram({
    name: 'gateway_subgraph_fetch_duration_seconds',
    help: 'Latency of each gateway fetch to a subgraph, by subgraph and outcome (ok, http_error, error).',
    labelNames: ['subgraph', 'outcome'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [metrics.registry],
  });
}

/** One fetch observed: sent through `send`, timed, and traced when tracing is on. */
export type FetchObserver = (url: string, init: Parameters<Fetcher>[1], send: Fetcher) => Promise<FetcherResponse>;

/**
 * The metrics step of the gateway's subgraph fetch stack (gateway/subgraph-fetch-stack.ts) for one
 * subgraph: times every fetch and, when tracing, makes a client span (child of @apollo/gateway's
 * own fetch span) whose context goes out as `traceparent`, so the subgraph's server span continues
 * the same trace. RemoteGraphQLDataSource hands the fetcher a plain header object, which the
 * default propagation setter writes into.
 */
export function createFetchObserver(subgraph: string, histogram: Histogram<'subgraph' | 'outcome'>): FetchObserver {
  const tracer = tracerFor('gateway');
  // The three series of this subgraph, bound once: prom-client hashes a labels object on every observe.
  const series = {
    ok: histogram.labels({ subgraph, outcome: 'ok' }),
    http_error: histogram.labels({ subgraph, outcome: 'http_error' }),
    error: histogram.labels({ subgraph, outcome: 'error' }),
  };
  return async (url, init, send) => {
    const started = performance.now();
    const observe = (outcome: 'ok' | 'http_error' | 'error') => series[outcome].observe((performance.now() - started) / 1000);
    if (!tracingEnabled()) {
      try {
        const response = await send(url, init);
        observe(response.ok ? 'ok' : 'http_error');
        return response;
      } catch (err) {
        observe('error');
        throw err;
      }
    }
    return tracer.startActiveSpan(
      `POST ${subgraph}`,
      {
        kind: SpanKind.CLIENT,
        attributes: { 'service.name': 'gateway', 'peer.service': subgraph, 'http.request.method': 'POST', 'url.full': url },
      },
      async (span) => {
        const headers = { ...init?.headers };
        propagation.inject(context.active(), headers);
        try {
          const response = await send(url, { ...init, headers });
          span.setAttribute('http.response.status_code', response.status);
          if (!response.ok) span.setStatus({ code: SpanStatusCode.ERROR });
          observe(response.ok ? 'ok' : 'http_error');
          return response;
        } catch (err) {
          span.recordException(err as Error);
          span.setStatus({ code: SpanStatusCode.ERROR });
          observe('error');
          throw err;
        } finally {
          span.end();
        }
      },
    );
  };
}
