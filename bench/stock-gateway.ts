import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import type { ApolloServerPlugin } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import responseCachePlugin from '@apollo/server-plugin-response-cache';
import { KeyvAdapter } from '@apollo/utils.keyvadapter';
import KeyvRedis from '@keyv/redis';
import { decodeJwt } from 'jose';
import Keyv from 'keyv';
import { INTERNAL_TOKEN_HEADER } from '../platform/auth/service-token.js';
import { peerSupergraphSdl } from './peer-sdl.js';

/**
 * The stock peer: `@apollo/gateway` + `@apollo/server` standalone, default settings. It refuses
 * the supergraph's `for: SECURITY` links (@authenticated/@requiresScopes), so it gets the SDL
 * with those removed (readPolicies(...).gatewaySdl) and enforces no authorization at all.
 * Subgraphs trust only `x-internal-token`: the bench client sends one (minted with the gateway's
 * service key) and this gateway copies it through, nothing else.
 *
 * BENCH_RESPONSE_CACHE_REDIS (a Redis URL): the same gateway with Apollo's response-cache plugin,
 * set up as Apollo documents it (the server's `cache` a KeyvAdapter over Keyv + @keyv/redis). The
 * plugin caches what the overall cache policy allows, and over a gateway that policy is the strictest
 * of the subgraphs' `Cache-Control` headers (RemoteGraphQLDataSource honours them), which our
 * subgraphs derive from the `@cacheControl` hints in their SDL (Product 120 s, Product.stock 30 s,
 * Category 300 s; orders, invoices, users 60 s PRIVATE): no gateway-side `defaultMaxAge`, which
 * applies only to fields the server resolves itself (a gateway resolves none). PRIVATE answers are
 * cached per `sessionId`: the caller's user id, read from the forwarded token (as a user would key
 * it on their session; the subgraphs verify that token).
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

/** The caller's user id, or null (anonymous: the public cache). */
function sessionOf(token: string | undefined): string | null {
  if (!token) return null;
  const sub = decodeJwt(token).sub;
  return sub && sub !== 'anonymous' ? sub : null;
}

function responseCache(redisUrl: string | undefined) {
  if (!redisUrl) return { plugins: [] as ApolloServerPlugin[] };
  return {
    // KeyvAdapter is typed against keyv 4; keyv 5 (what @keyv/redis 5 plugs into) has the same get/set/delete.
    cache: new KeyvAdapter<string>(new Keyv<string>({ store: new KeyvRedis(redisUrl), namespace: 'bench-stock-rc' }) as never),
    plugins: [
      responseCachePlugin({
        sessionId: async ({ request }) => sessionOf(request.http?.headers.get(INTERNAL_TOKEN_HEADER) ?? undefined),
      }),
    ],
  };
}

const server = new ApolloServer({ gateway, ...responseCache(process.env.BENCH_RESPONSE_CACHE_REDIS) });
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
