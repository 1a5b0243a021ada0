import type { ReadinessCheck } from '../platform/http.js';
import { redisDetails } from '../platform/redis-guard.js';
import type { RedisStatus } from '../platform/redis-guard.js';
import type { SubgraphRegistry } from './subgraph-registry.js';
import type { SupergraphStatus } from './supergraph-reload.js';

/** How long /health/ready waits on any one dependency: load balancer and kubelet probes time out at ~1 s. */
const CHECK_BUDGET_MS = 500;

/**
 * The gateway is ready when it can serve: its supergraph is loaded. Subgraphs and Redis are
 * details: a subgraph that is down makes its fields fail fast (breaker) while the rest is served,
 * and without Redis every feature has a fallback (docs/operators.md, "When Redis misbehaves"), so neither
 * may take every gateway out of rotation at once. Redis's state is read from the connections
 * (status, breaker), never by waiting on a command. `supergraphStatus` names the loaded schema
 * (its sha256) and the last supergraph a reload refused, if any: a refusal leaves the gateway ready
 * (the previous supergraph serves) but visible.
 */
export function createGatewayReadiness(opts: {
  supergraphLoaded: () => boolean;
  supergraph: () => SupergraphStatus;
  redis: () => RedisStatus[];
  subgraphs: SubgraphRegistry;
}): ReadinessCheck {
  return async () => {
    const { subgraphs, breakers } = await opts.subgraphs.health(CHECK_BUDGET_MS);
    const supergraph = opts.supergraphLoaded();
    return {
      ready: supergraph,
      details: {
        supergraph: supergraph ? 'loaded' : 'missing',
        supergraphStatus: opts.supergraph(),
        redis: redisDetails(opts.redis()),
        subgraphs,
        breakers,
      },
    };
  };
}
