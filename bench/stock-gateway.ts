import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { INTERNAL_TOKEN_HEADER } from '../platform/auth/service-token.js';
import { peerSupergraphSdl } from './peer-sdl.js';

/**
 * The stock peer: `@apollo/gateway` + `@apollo/server` standalone, default settings. It refuses
 * the supergraph's `for: SECURITY` links (@authenticated/@requiresScopes), so it gets the SDL
 * with those removed (readPolicies(...).gatewaySdl) and enforces no authorization at all.
 * Subgraphs trust only `x-internal-token`: the bench client sends one (minted with the gateway's
 * service key) and this gateway copies it through, nothing else.
 */
const sdl = await peerSupergraphSdl();
const gateway = new ApolloGateway({
  supergraphSdl: sdl,
  buildService: ({ url }) =>
    new RemoteGraphQLDataSource<{ token?: string }>({
      url,
      willSendRequest({ request, context }) {
        if (context.token) request.http?.headers.set(INTERNAL_TOKEN_HEADER, context.token);
      },
    }),
});
const server = new ApolloServer({ gateway });
const { url } = await startStandaloneServer(server, {
  listen: { port: Number(process.env.PORT), host: '127.0.0.1' },
  context: async ({ req }) => ({ token: req.headers[INTERNAL_TOKEN_HEADER] as string | undefined }),
});
process.send?.({ ready: url });
async function shutdown(): Promise<void> {
  await server.stop();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown());
