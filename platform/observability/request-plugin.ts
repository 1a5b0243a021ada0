import type { ApolloServerPlugin, BaseContext, GraphQLRequest } from '@apollo/server';
import type { Logger } from '../logger.js';
import { boundedLabel } from './labels.js';
import type { ServiceMetrics } from './metrics.js';
import { activeTraceId } from './tracing.js';

const TRACEPARENT = /^[\da-f]{2}-([\da-f]{32})-[\da-f]{16}-[\da-f]{2}$/;

export interface RequestTelemetryOptions<C> {
  metrics: ServiceMetrics;
  log: Logger;
  /** Who is calling: the client application at the gateway, the calling service at a subgraph. */
  clientOf(context: C): string | null | undefined;
  requestIdOf(context: C): string | undefined;
  /**
   * How far an operation's name can be trusted as a label (default: accountable). `listed`: a
   * persisted or registered operation, its name always a label (a budget of its own, which only
   * manifests fill); `accountable`: a caller with an identity, names from a bounded budget;
   * `untrusted`: an anonymous unlisted operation, labelled `unlisted`, so made-up names cannot take
   * the budget the others use.
   */
  trustOf?(context: C, request: GraphQLRequest): 'listed' | 'accountable' | 'untrusted';
}

/** One finished operation, as the telemetry records it. */
export interface CompletedOperation<C> {
  context: C;
  /** What the trust of its name is judged on (`trustOf`). */
  request: GraphQLRequest;
  operationName: string | null | undefined;
  /** The document parsed and validated (else its label is `invalid`). */
  resolved: boolean;
  status: number;
  errorCodes: string[];
  seconds: number;
}

/**
 * Per GraphQL operation: rate, errors by code and latency by operation and client, and one
 * `request completed` log line with the request id, trace id, operation, client, duration and
 * error codes (never variables, headers or the document). `plugin` records what runs through
 * Apollo's pipeline; `record` is the same for an answer given before it (the gateway's edge hits).
 */
export function createRequestTelemetry<C extends BaseContext>(opts: RequestTelemetryOptions<C>) {
  const { metrics, log } = opts;
  const listedLabel = boundedLabel(1000);
  const operationLabel = boundedLabel();
  const clientLabel = boundedLabel(100);
  const labelOf = (context: C, request: GraphQLRequest, name: string | null | undefined, resolved: boolean) => {
    // Unnamed operations are "anonymous"; a document that never parsed or validated is "invalid".
    if (!name) return resolved ? 'anonymous' : 'invalid';
    const trust = opts.trustOf?.(context, request) ?? 'accountable';
    if (trust === 'listed') return listedLabel(name, 'anonymous');
    return trust === 'accountable' ? operationLabel(name, 'anonymous') : 'unlisted';
  };
  const record = ({ context, request, operationName, resolved, status, errorCodes, seconds }: CompletedOperation<C>) => {
    const labels = {
      operation: labelOf(context, request, operationName, resolved),
      client: clientLabel(opts.clientOf(context), 'unknown'),
    };
    metrics.requests.inc(labels);
    metrics.requestDuration.observe(labels, seconds);
    for (const code of errorCodes) metrics.requestErrors.inc({ ...labels, code });
    if (!log.isLevelEnabled('info')) return;
    // Without tracing in this process, the caller's trace id (from its traceparent) still joins the logs.
    const traceId = activeTraceId() ?? TRACEPARENT.exec(request.http?.headers.get('traceparent') ?? '')?.[1];
    log.info(
      {
        requestId: opts.requestIdOf(context),
        traceId,
        operation: operationName ?? null,
        client: opts.clientOf(context) ?? null,
        durationMs: Math.round(seconds * 10_000) / 10,
        status,
        ...(errorCodes.length ? { errorCodes } : {}),
      },
      'request completed',
    );
  };
  const plugin: ApolloServerPlugin<C> = {
    async requestDidStart({ contextValue }) {
      const started = performance.now();
      return {
        async willSendResponse({ operationName, operation, response, request }) {
          const errors = response.body.kind === 'single' ? (response.body.singleResult.errors ?? []) : [];
          record({
            context: contextValue,
            request,
            operationName,
            resolved: operation !== undefined,
            status: response.http.status ?? 200,
            errorCodes: errors.map((e) => (typeof e.extensions?.code === 'string' ? e.extensions.code : 'UNKNOWN')),
            seconds: (performance.now() - started) / 1000,
          });
        },
      };
    },
  };
  return { plugin, record };
}

export type RequestTelemetry<C extends BaseContext> = ReturnType<typeof createRequestTelemetry<C>>;

/** The telemetry as an Apollo plugin alone (the subgraphs'). */
export function requestTelemetryPlugin<C extends BaseContext>(opts: RequestTelemetryOptions<C>): ApolloServerPlugin<C> {
  return createRequestTelemetry(opts).plugin;
}
