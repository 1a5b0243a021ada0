import type { Redis } from 'ioredis';
import type { ReadinessCheck } from '../platform/http.js';
import type { SubgraphRegistry } from './subgraph-registry.js';

/** How long /health/ready waits on any one dependency: load balancer and kubelet probes time out at ~1 s. */
const CHECK_BUDGET_MS = 500;

async function redisUp(redis: Redis): Promise<boolean> {
  if (redis.status !== 'ready') return false;
  const timeout = new Promise<false>((resolve) => setTimeout(() => resolve(false), CHECK_BUDGET_MS).unref());
  return Promise.race([
    redis.ping().then(
      () => true, // ioredis resolves PING with 'PONG' or rejects
      () => false,
    ),
    timeout,
  ]);
}

/**
 * The gateway is ready when it can serve: its supergraph is loaded and its own Redis (when
 * configured) answers. Subgraphs are details: a subgraph that is down makes its fields fail fast
 * (breaker) while the rest is served, so it must not take every gateway out of rotation.
 */
export function createGatewayReadiness(opts: {
  supergraphLoaded: () => boolean;
  redis: Redis | null;
  subgraphs: SubgraphRegistry;
}): ReadinessCheck {
  return async () => {
    const [redis, { subgraphs, breakers }] = await Promise.all([
      opts.redis ? redisUp(opts.redis) : Promise.resolve(undefined),
      opts.subgraphs.health(CHECK_BUDGET_MS),
    ]);
    const supergraph = opts.supergraphLoaded();
    return {
      ready: supergraph && redis !== false,
      details: {
        supergraph: supergraph ? 'loaded' : 'missing',
        redis: redis === undefined ? 'not configured' : redis ? 'ready' : 'unavailable',
        subgraphs,
        breakers,
      },
    };
  };
}
