import http from 'node:http';
import { createGatewayRuntime } from '@graphql-hive/gateway-runtime';
import { INTERNAL_TOKEN_HEADER } from '../platform/auth/service-token.js';
import { peerSupergraphSdl } from './peer-sdl.js';

/**
 * The Hive Gateway peer (`@graphql-hive/gateway-runtime`, the runtime behind the `hive-gateway`
 * CLI) with its defaults: no usage reporting (none is configured), no landing page or GraphiQL,
 * loopback only. Same SDL as the stock peer (authorization links removed); `x-internal-token`
 * is propagated from the client to every subgraph call.
 */
const sdl = await peerSupergraphSdl();
const gateway = createGatewayRuntime({
  supergraph: sdl,
  graphiql: false,
  landingPage: false,
  logging: 'error',
  propagateHeaders: {
    fromClientToSubgraphs: ({ request }) => ({ [INTERNAL_TOKEN_HEADER]: request.headers.get(INTERNAL_TOKEN_HEADER) }),
  },
});
const server = http.createServer((req, res) => void gateway(req, res));
server.listen(Number(process.env.PORT), '127.0.0.1', () => process.send?.({ ready: `http://127.0.0.1:${process.env.PORT}/graphql` }));
process.on('SIGTERM', () => {
  server.close();
  void gateway.dispose();
  process.exit(0);
});
