import { composeServices } from '@apollo/composition';
import { ApolloGateway, RemoteGraphQLDataSource } from '@apollo/gateway';
import type { ServiceMap } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateServiceKey } from '../../platform/auth/service-token.js';
import { gatewaySchema, parseConfig } from '../../platform/config.js';
import { createLogger } from '../../platform/logger.js';
import { createServiceMetrics } from '../../platform/observability/metrics.js';
import { loadSupergraph } from '../../gateway/supergraph-load.js';
import { createPinnedGateway } from '../../gateway/supergraph-pinning.js';
import { createSupergraphState } from '../../gateway/supergraph-reload.js';
import type { SupergraphState } from '../../gateway/supergraph-reload.js';

/**
 * A request in flight across a supergraph swap finishes on the schema it was validated against.
 * Apollo Server validates against the schema current when the request arrives, @apollo/gateway
 * plans against the one current when it executes: here a request is held between the two (in an
 * Apollo plugin hook, as a Redis-backed limit would hold it) while a supergraph without the field
 * it selects is loaded. The parts are the gateway's own (supergraph load, state, pinning) over a
 * real subgraph; only the edge is left out.
 */

// A subgraph SDL: plain text, not a document the linter checks against the API schema.
const things = (extra: string) => `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key"])
  type Query { thing(id: ID!): Thing }
  type Thing @key(fields: "id") { id: ID! name: String! ${extra} }
`;

let subgraph: { url: string; stop(): Promise<void> };
let apollo: ApolloServer;
let state: SupergraphState;
let withoutColour: string;
/** The hook holds the request named Held until `release` is called; `reached` resolves when it waits. */
let reached: () => void = () => {};
let release: () => void = () => {};

beforeAll(async () => {
  const server = new ApolloServer({
    schema: buildSubgraphSchema({
      typeDefs: parse(things('colour: String!')),
      resolvers: { Query: { thing: () => ({ id: '1', name: 'one', colour: 'red' }) } },
    }),
  });
  const { url } = await startStandaloneServer(server, { listen: { port: 0, host: '127.0.0.1' } });
  subgraph = { url, stop: () => server.stop() };
  const compose = (typeDefs: string) => composeServices([{ name: 'things', url, typeDefs: parse(typeDefs) }]).supergraphSdl!;
  withoutColour = compose(things(''));

  const config = parseConfig(gatewaySchema, {
    NODE_ENV: 'test',
    SERVICE_PRIVATE_JWK: JSON.stringify((await generateServiceKey('gateway')).privateJwk),
  });
  const log = createLogger('gateway', 'silent');
  const load = (sdl: string) => loadSupergraph(sdl, { config, log });
  const initial = load(compose(things('colour: String!')));
  state = createSupergraphState({ initial, load, log, metrics: createServiceMetrics('gateway') });
  const dataSources: ServiceMap = {};
  const gateway = new ApolloGateway({
    supergraphSdl: async ({ update }) => {
      state.attach(update);
      return { supergraphSdl: initial.gatewaySdl };
    },
    buildService: ({ name, url: serviceUrl }) => (dataSources[name] = new RemoteGraphQLDataSource({ url: serviceUrl! })),
  });
  const pinned = createPinnedGateway(gateway, { state, dataSources: () => dataSources });
  pinned.onSchemaLoadOrUpdate(({ apiSchema }) => state.bindSchema(apiSchema));
  apollo = new ApolloServer({
    gateway: pinned,
    plugins: [
      {
        async requestDidStart({ request }) {
          if (request.operationName !== 'Held') return;
          return {
            didResolveOperation: () =>
              new Promise<void>((resolve) => {
                release = resolve;
                reached();
              }),
          };
        },
      },
    ],
  });
  await apollo.start();
});
afterAll(async () => {
  await apollo?.stop();
  await subgraph?.stop();
});

const single = (response: Awaited<ReturnType<ApolloServer['executeOperation']>>) => {
  if (response.body.kind !== 'single') throw new Error('expected a single result');
  return response.body.singleResult;
};

describe('requests across a supergraph swap', () => {
  it('a request validated before the swap finishes on its schema; the next one meets the new schema', async () => {
    const waiting = new Promise<void>((resolve) => (reached = resolve));
    const inFlight = apollo.executeOperation({ query: 'query Held { thing(id: "1") { name colour } }', operationName: 'Held' });
    await waiting;
    expect(state.offer(withoutColour, 'test')).toBe('loaded');
    release();

    expect(single(await inFlight)).toEqual({ data: { thing: { name: 'one', colour: 'red' } } });
    const after = single(await apollo.executeOperation({ query: '{ thing(id: "1") { colour } }' }));
    expect(after.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(single(await apollo.executeOperation({ query: '{ thing(id: "1") { name } }' }))).toEqual({ data: { thing: { name: 'one' } } });
  });
});
