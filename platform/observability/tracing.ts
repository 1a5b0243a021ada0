import { ROOT_CONTEXT, SpanKind, SpanStatusCode, context, propagation, trace } from '@opentelemetry/api';
import type { Tracer } from '@opentelemetry/api';
import { NodeTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace-node';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-node';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type express from 'express';
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * OpenTelemetry tracing: one trace per request, gateway -> subgraphs -> SQL, joined by W3C
 * `traceparent` headers. Spans are made by hand at three places (the HTTP server span of every
 * service, each gateway fetch to a subgraph, each SQL statement) plus the spans @apollo/gateway
 * makes itself (plan, execute, fetch) through the global API. No monkey-patching instrumentation:
 * it needs a preload hook under ESM and only covers the first two of those three.
 *
 * Free when off: without OTEL_EXPORTER_OTLP_ENDPOINT no provider is registered, the API hands out
 * no-op spans, no propagator writes headers, and the middleware below is not even installed.
 */

let provider: NodeTracerProvider | undefined;

/** Whether a tracer provider is registered in this process (ours, or a test's in-memory one). */
export const tracingEnabled = () => provider !== undefined;

export interface TracingOptions {
  serviceName: string;
  /** OTLP/HTTP base URL (`/v1/traces` is appended, as the OTLP spec says for the base variable). */
  endpoint?: string | undefined;
  /** Fraction of new traces sampled (a sampled parent's decision is always followed). */
  sampleRatio?: number;
  /** Instead of the OTLP exporter (tests: an in-memory exporter). */
  spanProcessor?: SpanProcessor;
}

/**
 * Registers the process's tracer provider once. Later calls (the other services of an in-process
 * run) keep the first provider: its resource names the first service, so every span also carries
 * `service.name` as a span attribute.
 */
export function startTracing(opts: TracingOptions): void {
  if (provider || (!opts.endpoint && !opts.spanProcessor)) return;
  const processor =
    opts.spanProcessor ??
    new BatchSpanProcessor(new OTLPTraceExporter({ url: new URL('v1/traces', opts.endpoint!.replace(/\/?$/, '/')).toString() }));
  provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': opts.serviceName }),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(opts.sampleRatio ?? 1) }),
    spanProcessors: [processor],
  });
  // AsyncLocalStorage context manager and the W3C trace-context + baggage propagators.
  provider.register();
}

/** Flushes and unregisters (tests; a process exiting). */
export async function stopTracing(): Promise<void> {
  const p = provider;
  provider = undefined;
  await p?.shutdown();
  trace.disable();
  propagation.disable();
  context.disable();
}

export const tracerFor = (service: string): Tracer => trace.getTracer(`supergraph.${service}`);

/** The active trace id, for logs (undefined outside a sampled request). */
export function activeTraceId(): string | undefined {
  const ctx = trace.getActiveSpan()?.spanContext();
  return ctx && ctx.traceFlags & 1 ? ctx.traceId : undefined;
}

/**
 * The server span of every HTTP request: continues the caller's trace from `traceparent` and
 * makes the span current for everything the request does. A pass-through when tracing is off.
 */
/** The key of res.locals saying a server span is open for this response already. */
export const SPAN_OPENED = 'spanOpened';

export function tracingMiddleware(service: string): express.RequestHandler {
  const inSpan = serverSpan(service);
  return (req, res, next) => {
    // A handler in front of express (the gateway's cache-hit lane) opened this request's span already.
    if (res.locals[SPAN_OPENED]) next();
    else inSpan(req, res, req.path, String(res.locals.requestId ?? ''), next);
  };
}

/** The same server span for a handler on plain `node:http` (a subgraph's /graphql). */
export function serverSpan(
  service: string,
): (req: IncomingMessage, res: ServerResponse, path: string, requestId: string, next: () => void) => void {
  const tracer = tracerFor(service);
  return (req, res, path, requestId, next) => {
    // Probes are not worth a trace each (they come every few seconds from every load balancer).
    if (!provider || path.startsWith('/health/')) {
      next();
      return;
    }
    const parent = propagation.extract(ROOT_CONTEXT, req.headers);
    const span = tracer.startSpan(
      `${req.method} ${path}`,
      {
        kind: SpanKind.SERVER,
        // The request id (assigned before this runs) joins a trace to its log lines and error reports.
        attributes: { 'service.name': service, 'http.request.method': req.method ?? '', 'url.path': path, 'request.id': requestId },
      },
      parent,
    );
    res.once('close', () => {
      span.setAttribute('http.response.status_code', res.statusCode);
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    context.with(trace.setSpan(parent, span), next);
  };
}
