import http from 'node:http';
import { createGatewayRuntime } from '@graphql-hive/gateway-runtime';
import type { GatewayConfigSupergraph } from '@graphql-hive/gateway-runtime';
import { unifiedGraphHandler } from '@graphql-hive/router-runtime';
import RedisCache from '@graphql-mesh/cache-redis';
import { DefaultLogger, LogLevel } from '@graphql-mesh/utils';
import { decodeJwt } from 'jose';
import { INTERNAL_TOKEN_HEADER } from '../platform/auth/service-token.js';
import { subgraphCacheHints } from './cache-hints.js';
import { peerSupergraphSdl } from './peer-sdl.js';

/**
 * The Hive Gateway peer (`@graphql-hive/gateway-runtime`, the runtime behind the `hive-gateway`
 * CLI) with its defaults: no usage reporting (none is configured), no landing page or GraphiQL,
 * loopback only. Same SDL as the stock peer (authorization links removed); `x-internal-token`
 * is propagated from the client to every subgraph call.
 *
 * BENCH_HIVE_MODE picks how a Hive user would run it at its best:
 * - `plain` (the default): as above;
 * - `response-cache`: `responseCaching` (Hive's response cache) on Redis (`@graphql-mesh/cache-redis`,
 *   the `cache` a Hive user configures; BENCH_RESPONSE_CACHE_REDIS), as Apollo's is, its TTLs and scopes copied from the subgraphs'
 *   `@cacheControl` hints (the supergraph carries none for it to read), anything unhinted uncached
 *   (`ttl: 0`, Apollo's default too), PRIVATE answers per user (the forwarded token's subject), and
 *   hits marked in the extensions so the benchmark can count them;
 * - `rust`: the Rust query planner (`unifiedGraphHandler` of `@graphql-hive/router-runtime`).
 */
const mode = process.env.BENCH_HIVE_MODE ?? 'plain';

async function responseCaching() {
  const hints = await subgraphCacheHints();
  return {
    ttl: 0,
    ttlPerSchemaCoordinate: hints.ttlMs,
    scopePerSchemaCoordinate: hints.scope,
    includeExtensionMetadata: true,
    session: (request: Request) => {
      const token = request.headers.get(INTERNAL_TOKEN_HEADER);
      const sub = token ? decodeJwt(token).sub : undefined;
      return sub && sub !== 'anonymous' ? sub : null;
    },
  };
}

/** The runtime has no store of its own for the response cache: Hive's Redis cache, as a deployment of several gateways uses. */
const redisCache = () =>
  new RedisCache({ url: process.env.BENCH_RESPONSE_CACHE_REDIS!, logger: new DefaultLogger('cache', LogLevel.error) });

const config: GatewayConfigSupergraph = {
  supergraph: await peerSupergraphSdl(),
  graphiql: false,
  landingPage: false,
  logging: 'error',
  propagateHeaders: {
    fromClientToSubgraphs: ({ request }) => ({ [INTERNAL_TOKEN_HEADER]: request.headers.get(INTERNAL_TOKEN_HEADER) }),
  },
  ...(mode === 'response-cache' ? { responseCaching: await responseCaching(), cache: redisCache() } : {}),
  ...(mode === 'rust' ? { unifiedGraphHandler } : {}),
};
const gateway = createGatewayRuntime(config);
const server = http.createServer((req, res) => void gateway(req, res));
server.listen(Number(process.env.PORT), '127.0.0.1', () => process.send?.({ ready: `http://127.0.0.1:${process.env.PORT}/graphql` }));
process.on('SIGTERM', () => {
  server.close();
  void gateway.dispose();
  process.exit(0);
});
