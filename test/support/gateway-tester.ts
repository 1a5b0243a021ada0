import http from 'node:http';
import { mkdtemp, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import express from 'express';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { expressMiddleware } from '@as-integrations/express5';
import { buildSubgraphSchema } from '@apollo/subgraph';
import type { GraphQLResolverMap } from '../../platform/resolver-map.js';
import { composeServices } from '@apollo/composition';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { parse } from 'graphql';
import { gatewaySchema, httpServerSchema, parseConfig } from '../../platform/config.js';
import { generateServiceKey } from '../../platform/auth/service-token.js';
import { httpTimeouts, listen } from '../../platform/run-service.js';
import type { Listening } from '../../platform/run-service.js';
import { applyApolloTelemetrySetting } from '../../gateway/apollo-telemetry.js';
import { createGatewayServer } from '../../gateway/server.js';

/**
 * The fast tier's gateway (as Hive's `createGatewayTester`): the real gateway, built by the same
 * `createGatewayServer` as production, over subgraphs written inline in the test (SDL and
 * resolvers, no database), composed by the same composition. Real HTTP and WebSocket on loopback,
 * no Postgres, no Redis (the in-process bus): a file starts in well under a second of its own.
 */
export interface InlineSubgraph {
  typeDefs: string;
  resolvers?: GraphQLResolverMap<unknown>;
}

export interface GatewayTester {
  /** The gateway's /graphql URL. */
  url: string;
  /** The gateway's GET /metrics URL (on its own port, as in production). */
  metricsUrl: string;
  /** POSTs an operation; the parsed body, status and headers. */
  post(body: unknown, headers?: Record<string, string>): Promise<{ status: number; headers: Headers; body: any }>;
  /** A customer or admin token the gateway accepts (signed by the tester's own users key). */
  token(claims: { sub: string; role: 'CUSTOMER' | 'ADMIN'; scope?: string }): Promise<string>;
  /** The gateway's counter `name` (its own Prometheus registry), summed over the series whose labels include `labels`. */
  counter(name: string, labels?: Record<string, string>): Promise<number>;
  close(): Promise<void>;
}

/** One inline subgraph on a loopback port: /graphql and the /health/ready the gateway's probes read. */
async function startInlineSubgraph(sg: InlineSubgraph): Promise<{ url: string; close(): Promise<void> }> {
  // Inline tracing (ftv1) costs time on every fetch that asks for it and no fast-tier test reads it.
  const apollo = new ApolloServer({
    schema: buildSubgraphSchema({ typeDefs: parse(sg.typeDefs), resolvers: sg.resolvers ?? {} }),
    plugins: [ApolloServerPluginInlineTraceDisabled()],
  });
  await apollo.start();
  const app = express();
  app.get('/health/ready', (_req, res) => void res.json({ status: 'ready' }));
  app.use('/graphql', express.json(), expressMiddleware(apollo));
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await apollo.stop();
    },
  };
}

/** The users service's part the gateway needs: a JWKS URL for customer tokens. */
async function startJwks() {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'tester-users', alg: 'ES256', use: 'sig' };
  const server = http.createServer((_req, res) => res.setHeader('content-type', 'application/json').end(JSON.stringify({ keys: [jwk] })));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    sign: (claims: { sub: string; role: string; scope?: string }) =>
      new SignJWT({ role: claims.role, scope: claims.scope ?? '' })
        .setProtectedHeader({ alg: 'ES256', kid: 'tester-users' })
        .setSubject(claims.sub)
        .setIssuer('urn:supergraph:users')
        .setAudience('urn:supergraph')
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(privateKey),
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

export async function createGatewayTester(opts: {
  subgraphs: Record<string, InlineSubgraph>;
  /** Gateway variables (limits, safelist modes, partner keys...), parsed by the gateway's own config. */
  env?: Record<string, string>;
}): Promise<GatewayTester> {
  const names = Object.keys(opts.subgraphs);
  const subgraphs = await Promise.all(names.map((n) => startInlineSubgraph(opts.subgraphs[n]!)));
  const composed = composeServices(
    names.map((name, i) => ({ name, url: `${subgraphs[i]!.url}/graphql`, typeDefs: parse(opts.subgraphs[name]!.typeDefs) })),
  );
  if (composed.errors) throw new Error(`composition failed: ${composed.errors.map((e) => e.message).join('; ')}`);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gateway-tester-'));
  await writeFile(path.join(dir, 'supergraph.graphql'), composed.supergraphSdl);
  const jwks = await startJwks();
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'error',
    HOST: '127.0.0.1',
    PORT: '0',
    METRICS_PORT: '0',
    SERVICE_PRIVATE_JWK: JSON.stringify((await generateServiceKey('gateway')).privateJwk),
    SUPERGRAPH_PATH: path.join(dir, 'supergraph.graphql'),
    SUBGRAPH_URLS: JSON.stringify(Object.fromEntries(names.map((n, i) => [n, subgraphs[i]!.url]))),
    USERS_JWKS_URL: jwks.url,
    // Field usage without Redis goes to files: the tester's own folder, never the developer's .data/usage.
    USAGE_DIR: path.join(dir, 'usage'),
    ...opts.env,
  };
  const config = parseConfig(gatewaySchema, env);
  applyApolloTelemetrySetting(config);
  const service = await createGatewayServer(config);
  const listening: Listening = await listen(service, {
    port: 0,
    host: '127.0.0.1',
    graceMs: 1_000,
    drainMs: 0,
    metricsPort: 0,
    timeouts: httpTimeouts(parseConfig(httpServerSchema, env)),
    log: service.log,
  });
  const url = `${listening.url}/graphql`;
  return {
    url,
    metricsUrl: `${listening.metricsUrl!}/metrics`,
    async post(body, headers = {}) {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
    },
    token: (claims) => jwks.sign(claims),
    async counter(name, labels = {}) {
      const metric = service.metrics?.registry.getSingleMetric(name);
      if (!metric) return 0;
      const { values } = await metric.get();
      const matches = values.filter((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want));
      return matches.reduce((sum, v) => sum + v.value, 0);
    },
    async close() {
      await listening.close();
      await Promise.all([...subgraphs.map((s) => s.close()), jwks.close()]);
    },
  };
}
