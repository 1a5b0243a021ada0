import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { OperationTypeNode } from 'graphql';
import { ApolloServerPluginInlineTraceDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { ApolloServerPluginCacheControl } from '@apollo/server/plugin/cacheControl';
import { cacheTagsPlugin } from './cache-tags.js';
import { consistencyPlugin } from './consistency.js';
import type { Database } from './db.js';
import { inputRulesPlugin } from './input-rules.js';
import type { Logger } from './logger.js';
import { requestTelemetryPlugin } from './observability/index.js';
import type { ServiceMetrics } from './observability/index.js';

interface PluginContext extends BaseContext {
  caller: string;
  requestId: string;
  db: { useWriteMode(): void; readonly readFromReplica: boolean };
}

/**
 * A mutation reads and writes on the primary (it must see what it just wrote), and may have
 * committed outbox rows: `afterMutation` publishes them now rather than at the next poll.
 */
export function mutationPlugin<C extends PluginContext>(afterMutation: () => void): ApolloServerPlugin<C> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation, contextValue }) {
          if (operation?.operation === OperationTypeNode.MUTATION) contextValue.db.useWriteMode();
        },
        async willSendResponse({ operation }) {
          if (operation?.operation === OperationTypeNode.MUTATION) afterMutation();
        },
      };
    },
  };
}

/** Every plugin a subgraph's Apollo Server runs, in order. */
export function subgraphPlugins<C extends PluginContext>(opts: {
  name: string;
  database: Pick<Database<Record<string, unknown>>, 'commitLsn'>;
  metrics: ServiceMetrics;
  log: Logger;
  afterMutation: () => void;
}): ApolloServerPlugin<C>[] {
  return [
    // The same request rules as the gateway's (NUL in strings), for any caller that reaches a subgraph.
    inputRulesPlugin<C>(),
    consistencyPlugin<C>(opts.name, opts.database),
    requestTelemetryPlugin<C>({ metrics: opts.metrics, log: opts.log, clientOf: (c) => c.caller, requestIdOf: (c) => c.requestId }),
    ApolloServerPluginInlineTraceDisabled(),
    // Apollo's default, spelled out because the gateway depends on it: the @cacheControl hints in the
    // SDL become this response's Cache-Control header (no hint = maxAge 0 = no-store), and the
    // gateway keeps the strictest header of all subgraphs it called.
    ApolloServerPluginCacheControl({ calculateHttpHeaders: true, defaultMaxAge: 0 }),
    // Which entities the answer holds, for the gateway's event-invalidated cache (gateway/cache/).
    cacheTagsPlugin<C>(),
    ApolloServerPluginLandingPageDisabled(),
    mutationPlugin<C>(opts.afterMutation),
  ];
}
