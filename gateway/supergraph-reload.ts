import { Counter } from 'prom-client';
import type { GraphQLSchema } from 'graphql';
import type { Logger } from '../platform/logger.js';
import type { ServiceMetrics } from '../platform/observability/index.js';
import type { LoadedSupergraph } from './supergraph-load.js';
import { sha256 } from './supergraph.js';

/** What /health/ready says about the supergraph: the one serving, and the last one refused. */
export interface SupergraphStatus {
  hash: string;
  loadedAt: string;
  source: string;
  lastRefused: { hash: string; source: string; at: string; reason: string } | null;
}

export type ReloadResult = 'loaded' | 'unchanged' | 'refused';

/**
 * The supergraph a gateway serves, and its swaps. A new SDL is derived whole first
 * (`load`: parse, federation build, every derivation), then handed to @apollo/gateway's own
 * `update`, which builds its planner and tells Apollo Server; only when both succeed does it
 * become current. Anything failing refuses it: the last good one keeps serving, and the refusal
 * shows in a log line, `gateway_supergraph_reloads_total{result="refused"}` and /health/ready.
 *
 * Apollo Server gives each request the schema it validated against; `forSchema` maps that schema
 * back to its load, so a request that started before a swap can finish on its own supergraph.
 */
export function createSupergraphState(deps: {
  initial: LoadedSupergraph;
  load: (sdl: string) => LoadedSupergraph;
  log: Logger;
  metrics: ServiceMetrics;
}) {
  const record = createReloadRecord(deps.log, deps.metrics);
  let current = deps.initial;
  let source = 'start-up';
  // The load @apollo/gateway is being handed: its schema listener binds Apollo's schema to it.
  let pending: LoadedSupergraph | undefined;
  let lastSchema: GraphQLSchema | undefined;
  const bySchema = new WeakMap<GraphQLSchema, LoadedSupergraph>();
  let update: ((gatewaySdl: string) => void) | undefined;

  /** Check, then swap. Synchronous, as @apollo/gateway's update is: two offers never interleave. */
  const offer = (sdl: string, from: string): ReloadResult => {
    const hash = sha256(sdl);
    if (hash === current.supergraph.hash || hash === record.lastRefused()?.hash) return 'unchanged';
    const refuse = (err: unknown) => record.refused(hash, from, current.supergraph.hash, err);
    if (!update) return refuse(new Error('the gateway has not loaded its first supergraph yet'));
    let next: LoadedSupergraph;
    try {
      next = deps.load(sdl);
    } catch (err) {
      return refuse(err);
    }
    pending = next;
    const before = lastSchema;
    try {
      update(next.gatewaySdl);
    } catch (err) {
      return refuse(err);
    } finally {
      pending = undefined;
    }
    // The same schema for @apollo/gateway (only the text's layout changed): no new schema was announced.
    if (before && lastSchema === before) bySchema.set(before, next);
    current = next;
    source = from;
    return record.loaded(hash, from);
  };

  return {
    current: () => current,
    forSchema: (schema: GraphQLSchema): LoadedSupergraph | undefined => bySchema.get(schema),
    /** For the outermost gateway's onSchemaLoadOrUpdate: the schema Apollo Server will hand requests. */
    bindSchema(schema: GraphQLSchema) {
      lastSchema = schema;
      bySchema.set(schema, pending ?? current);
    },
    /** @apollo/gateway's `update`, once it has loaded the first supergraph. */
    attach(gatewayUpdate: (gatewaySdl: string) => void) {
      update = gatewayUpdate;
    },
    offer,
    status: (): SupergraphStatus => ({
      hash: current.supergraph.hash,
      loadedAt: current.loadedAt.toISOString(),
      source,
      lastRefused: record.lastRefused(),
    }),
  };
}

export type SupergraphState = ReturnType<typeof createSupergraphState>;

/** Each reload's outcome: `gateway_supergraph_reloads_total{result}`, a log line, and the last refusal for readiness. */
function createReloadRecord(log: Logger, metrics: ServiceMetrics) {
  const reloads = new Counter({
    name: 'gateway_supergraph_reloads_total',
    help: 'Supergraph reloads by result: loaded (now serving) or refused (the previous one kept serving).',
    labelNames: ['result'] as const,
    registers: [metrics.registry],
  });
  let lastRefused: SupergraphStatus['lastRefused'] = null;
  return {
    lastRefused: () => lastRefused,
    refused(hash: string, source: string, serving: string, err: unknown): ReloadResult {
      const reason = err instanceof Error ? err.message : String(err);
      lastRefused = { hash, source, at: new Date().toISOString(), reason: reason.slice(0, 2_000) };
      reloads.inc({ result: 'refused' });
      log.error({ supergraph: hash, source, serving, reason }, 'supergraph refused; the previous one keeps serving');
      return 'refused';
    },
    loaded(hash: string, source: string): ReloadResult {
      // A refusal is reported until a newer supergraph loads.
      lastRefused = null;
      reloads.inc({ result: 'loaded' });
      log.info({ supergraph: hash, source }, 'supergraph loaded');
      return 'loaded';
    },
  };
}
