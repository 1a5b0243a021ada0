import type { ApolloServerPlugin } from '@apollo/server';
import type { GatewayContext } from '../context.js';
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
          const client = contextValue.client;
          recorder.record(
            {
              client: client.name ?? '',
              version: client.version ?? '',
              partnerId: client.partnerId ?? '',
              operation: operationName ?? operation?.name?.value ?? ANONYMOUS_OPERATION,
            },
            coordinatesOf(schema, source, document),
          );
        },
      };
    },
  };
}
