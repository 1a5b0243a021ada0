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

/**
 * Per GraphQL operation: rate, errors by code and latency by operation and client, and one
 * `request completed` log line with the request id, trace id, operation, client, duration and
 * error codes (never variables, headers or the document).
 */
export function requestTelemetryPlugin<C extends BaseContext>(opts: RequestTelemetryOptions<C>): ApolloServerPlugin<C> {
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
  return {
    async requestDidStart({ contextValue }) {
      const started = performance.now();
      return {
        async willSendResponse({ operationName, operation, response, request }) {
          const seconds = (performance.now() - started) / 1000;
          const labels = {
            operation: labelOf(contextValue, request, operationName, operation !== undefined),
            client: clientLabel(opts.clientOf(contextValue), 'unknown'),
          };
          metrics.requests.inc(labels);
          metrics.requestDuration.observe(labels, seconds);
          const errors = response.body.kind === 'single' ? (response.body.singleResult.errors ?? []) : [];
          const errorCodes = errors.map((e) => (typeof e.extensions?.code === 'string' ? e.extensions.code : 'UNKNOWN'));
          for (const code of errorCodes) metrics.requestErrors.inc({ ...labels, code });
          if (!log.isLevelEnabled('info')) return;
          // Without tracing in this process, the caller's trace id (from its traceparent) still joins the logs.
          const traceId = activeTraceId() ?? TRACEPARENT.exec(request.http?.headers.get('traceparent') ?? '')?.[1];
          log.info(
            {
              requestId: opts.requestIdOf(contextValue),
              traceId,
              operation: operationName ?? null,
              client: opts.clientOf(contextValue) ?? null,
              durationMs: Math.round(seconds * 10_000) / 10,
              status: response.http.status ?? 200,
              ...(errorCodes.length ? { errorCodes } : {}),
            },
            'request completed',
          );
        },
      };
    },
  };
}
