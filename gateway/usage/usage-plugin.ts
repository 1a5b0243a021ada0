import type { ApolloServerPlugin } from '@apollo/server';
import type { ClientInfo, GatewayContext, OperationFacts } from '../request.js';
import { createCoordinateCache } from './coordinates.js';
import type { UsageRecorder } from './usage-recorder.js';

/** The operation name recorded for an operation sent without one. */
export const ANONYMOUS_OPERATION = '(anonymous)';

/**
 * Records which schema coordinates each operation used, per client and operation. At
 * didResolveOperation the document has parsed and validated against the schema this request runs
 * on, whatever it came as (text, APQ, a persisted id), so one hook covers every HTTP request. Work
 * on the request path: a cache lookup by document text and a few map updates; storage is written
 * later, in batches (usage-recorder.ts).
 */
export function fieldUsagePlugin(recorder: UsageRecorder): ApolloServerPlugin<GatewayContext> {
  const coordinatesOf = createCoordinateCache();
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ schema, document, source, operationName, operation, contextValue }) {
          const usage = {
            operation: operationName ?? operation?.name?.value ?? ANONYMOUS_OPERATION,
            coordinates: coordinatesOf(schema, source, document),
          };
          recordUsage(recorder, contextValue.client, usage);
          if (contextValue.facts) contextValue.facts.usage = usage;
        },
      };
    },
  };
}

/** One use of an operation's coordinates by one client (also replayed for answers given before the pipeline). */
export function recordUsage(recorder: UsageRecorder, client: ClientInfo, usage: NonNullable<OperationFacts['usage']>): void {
  recorder.record(
    { client: client.name ?? '', version: client.version ?? '', partnerId: client.partnerId ?? '', operation: usage.operation },
    usage.coordinates,
  );
}
