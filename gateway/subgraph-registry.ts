import type { Fetcher } from '@apollo/utils.fetcher';
import { Counter, Gauge } from 'prom-client';
import type { Histogram } from 'prom-client';
import { ConfigError } from '../platform/config.js';
import type { GatewayConfig } from '../platform/config.js';
import type { Logger } from '../platform/logger.js';
import { createFetchObserver } from '../platform/observability/index.js';
import type { FetchObserver, ServiceMetrics } from '../platform/observability/index.js';
import type { ServiceTokenSigner } from '../platform/auth/service-token.js';
import { createSubgraphBreaker } from './circuit-breaker.js';
import type { BreakerState, SubgraphBreaker } from './circuit-breaker.js';
import { isBreakerFailure } from './subgraph-failure.js';
import type { FailureReason } from './subgraph-failure.js';
import type { GatewayCache } from './cache/index.js';
import { breakerStep, composeFetchStack, deadlineStep, httpSend, metricsStep, retriesStep } from './subgraph-fetch-stack.js';
import type { FetchStep, SendFetch } from './subgraph-fetch-stack.js';
import { createSubgraphFetcher } from './subgraph-fetcher.js';
import { createDedupStep } from './subgraph-fetch-dedup.js';
import { SubgraphDataSource } from './subgraph-source.js';
import type { Supergraph } from './supergraph.js';

/** The subgraphs a supergraph names (`@join__graph(name: …)`): the gateway hard-codes none. */
export function supergraphSubgraphNames(supergraph: Supergraph): string[] {
  return supergraph.subgraphs.map((s) => s.name);
}

/** No entity cache: the fetch goes on down the stack. */
const withoutCache: FetchStep = (fetch, next) => next(fetch);
/** SUBGRAPH_DEDUP_ENABLED=false: every fetch is sent. */
const withoutDedup: FetchStep = (fetch, next) => next(fetch);

/** Gauge values: ordered by how bad, so `max by (subgraph)` over gateways shows the worst. */
const STATE_VALUE: Record<BreakerState, number> = { closed: 0, 'half-open': 1, open: 2 };

interface Entry {
  url: string;
  breaker: SubgraphBreaker;
  fetcher: Fetcher;
}

/** Failed fetches by reason, retries, and each breaker's state (read at scrape time). */
function registerMetrics(metrics: ServiceMetrics, entries: Map<string, Entry>) {
  const registers = [metrics.registry];
  new Gauge({
    name: 'gateway_subgraph_breaker_state',
    help: "Each subgraph's circuit breaker at this gateway: 0 closed, 1 half-open (probing), 2 open (its fields fail at once).",
    labelNames: ['subgraph'] as const,
    registers,
    collect() {
      for (const [name, entry] of entries) this.set({ subgraph: name }, STATE_VALUE[entry.breaker.state()]);
    },
  });
  return {
    failures: new Counter({
      name: 'gateway_subgraph_fetch_failures_total',
      help: 'Subgraph fetches that failed for good (after retries), by reason (timed out, connection refused, HTTP 503, circuit open, ...).',
      labelNames: ['subgraph', 'reason'] as const,
      registers,
    }),
    deduplicated: new Counter({
      name: 'gateway_subgraph_fetch_deduplicated_total',
      help: 'Query fetches not sent: an identical fetch (same URL, body and headers) was on its way, and its answer was shared.',
      labelNames: ['subgraph'] as const,
      registers,
    }),
    retries: new Counter({
      name: 'gateway_subgraph_fetch_retries_total',
      help: 'Query fetches sent again after a refused or reset connection or a 502/503/504.',
      labelNames: ['subgraph'] as const,
      registers,
    }),
  };
}

/** One subgraph's fetch stack, its steps made from config; their order is SUBGRAPH_FETCH_STACK's (gateway/subgraph-fetch-stack.ts). */
function subgraphFetchStack(parts: {
  config: GatewayConfig;
  entityCache: FetchStep;
  breaker: SubgraphBreaker;
  queryTimeoutMs: number;
  onRetry(): void;
  onShared(): void;
  observe: FetchObserver;
  fetcher: Fetcher;
}): SendFetch {
  const { config, observe, fetcher } = parts;
  return composeFetchStack(
    {
      'entity-cache': parts.entityCache,
      dedup: config.SUBGRAPH_DEDUP_ENABLED === 'true' ? createDedupStep({ onShared: () => parts.onShared() }) : withoutDedup,
      retries: retriesStep({ retries: config.SUBGRAPH_RETRIES, onRetry: () => parts.onRetry() }),
      breaker: breakerStep(parts.breaker),
      deadline: deadlineStep({ queryTimeoutMs: parts.queryTimeoutMs, mutationTimeoutMs: config.SUBGRAPH_MUTATION_TIMEOUT_MS }),
      metrics: metricsStep(observe),
    },
    httpSend(fetcher),
  );
}

export interface SubgraphRegistry {
  /** The data source for one subgraph (ApolloGateway's buildService): its fetch stack, fetch latency observed in `fetchMetrics`. */
  dataSource(name: string, url: string, fetchMetrics: Histogram<'subgraph' | 'outcome'>): SubgraphDataSource;
  /** For /health/ready: each subgraph's readiness (a short check, skipped while its breaker is open) and breaker. */
  health(budgetMs: number): Promise<{ subgraphs: Record<string, 'ready' | 'unavailable'>; breakers: Record<string, BreakerState> }>;
  close(): void;
}

/**
 * Everything the gateway keeps per subgraph: its URL, its breaker (state as a Prometheus gauge,
 * `gateway_subgraph_breaker_state`), and counters of failed fetches by reason and of retries.
 */
// eslint-disable-next-line max-lines-per-function -- a factory: the length is its returned methods, which share the closure's state; each method is short
export function createSubgraphRegistry(opts: {
  config: GatewayConfig;
  supergraph: Supergraph;
  signer: ServiceTokenSigner;
  metrics: ServiceMetrics;
  log: Logger;
  /** The entity cache, the stack's outermost step: a hit skips the breaker, retries and the wire (none: private max-ages masked only). */
  cache?: Pick<GatewayCache, 'entityCache'>;
}): SubgraphRegistry {
  const { config, log } = opts;
  const names = supergraphSubgraphNames(opts.supergraph);
  const unknown = Object.keys(config.SUBGRAPH_TIMEOUTS).filter((n) => !names.includes(n));
  if (unknown.length)
    throw new ConfigError(unknown.map((n) => `SUBGRAPH_TIMEOUTS: "${n}" is not a subgraph of the supergraph (${names.join(', ')})`));

  const entries = new Map<string, Entry>();
  const { failures, retries, deduplicated } = registerMetrics(opts.metrics, entries);

  const settings = {
    consecutiveFailures: config.SUBGRAPH_BREAKER_CONSECUTIVE_FAILURES,
    failureRate: config.SUBGRAPH_BREAKER_FAILURE_RATE,
    windowMs: config.SUBGRAPH_BREAKER_WINDOW_MS,
    halfOpenAfterMs: config.SUBGRAPH_BREAKER_HALF_OPEN_MS,
  };

  return {
    dataSource(name, url, fetchMetrics) {
      const queryTimeoutMs = config.SUBGRAPH_TIMEOUTS[name] ?? config.SUBGRAPH_TIMEOUT_MS;
      const fetcher = createSubgraphFetcher({ timeoutMs: queryTimeoutMs, connectTimeoutMs: config.SUBGRAPH_CONNECT_TIMEOUT_MS });
      entries.get(name)?.breaker.close(); // a schema reload builds the sources again
      const breaker = createSubgraphBreaker({
        settings,
        isFailure: isBreakerFailure,
        probe: () => source.probe(fetcher, queryTimeoutMs),
        onStateChange: (state) =>
          (state === 'closed' ? log.info : log.warn).call(log, { subgraph: name, breaker: state }, `subgraph ${name}: circuit ${state}`),
      });
      const onFailure = (reason: FailureReason, err: unknown, requestId: string | undefined) => {
        failures.inc({ subgraph: name, reason });
        // The reason and the error's code only: the error's own message names the host and port.
        if (reason !== 'circuit open')
          log.warn({ subgraph: name, reason, code: (err as { code?: string }).code, requestId }, 'subgraph fetch failed');
      };
      const stack = subgraphFetchStack({
        config,
        entityCache: opts.cache?.entityCache(name) ?? withoutCache,
        breaker,
        queryTimeoutMs,
        onRetry: () => retries.inc({ subgraph: name }),
        onShared: () => deduplicated.inc({ subgraph: name }),
        observe: createFetchObserver(name, fetchMetrics),
        fetcher,
      });
      const source = new SubgraphDataSource(name, url, opts.signer, onFailure, stack);
      entries.set(name, { url, breaker, fetcher });
      return source;
    },
    async health(budgetMs) {
      const checks = await Promise.all(
        [...entries].map(async ([name, { url, breaker, fetcher }]) => {
          const state = breaker.state();
          // An open breaker already knows; otherwise ask, but never wait long (a blackholed subgraph must not stall the probe).
          const ok =
            state === 'closed' &&
            (await fetcher(new URL('/health/ready', url).toString(), { method: 'GET', timeoutMs: budgetMs } as never).then(
              (r) => r.ok,
              () => false,
            ));
          return [name, ok ? 'ready' : 'unavailable', state] as const;
        }),
      );
      return {
        subgraphs: Object.fromEntries(checks.map(([n, s]) => [n, s])),
        breakers: Object.fromEntries(checks.map(([n, , b]) => [n, b])),
      };
    },
    close() {
      for (const entry of entries.values()) entry.breaker.close();
    },
  };
}
