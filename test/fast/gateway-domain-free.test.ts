import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import type http from 'node:http';
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
import { GraphQLError, Kind, parse } from 'graphql';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyApolloTelemetrySetting } from '../../gateway/apollo-telemetry.js';
import { createGatewayServer } from '../../gateway/server.js';
import { generateServiceKey } from '../../platform/auth/service-token.js';
import { ConfigError, gatewaySchema, parseConfig } from '../../platform/config.js';
import { ROOT } from '../../platform/paths.js';
import { listen } from '../../platform/run-service.js';
import type { Listening } from '../../platform/run-service.js';
import { SUBGRAPHS } from '../../platform/subgraphs.js';

/**
 * The gateway knows no domain names: nothing under gateway/ names a subgraph, a type or a root
 * field of this project's graph (they come from the supergraph it serves, and from config), and a
 * gateway over a foreign supergraph routes, protects sign-in and validates overrides by that
 * supergraph's own names.
 */

const ROOT_TYPES = new Set(['Query', 'Mutation', 'Subscription']);

/** Subgraph names, the types each subgraph's SDL defines, and the root fields it adds. */
function domainNames(): Set<string> {
  const names = new Set<string>(SUBGRAPHS);
  for (const subgraph of SUBGRAPHS) {
    for (const def of parse(readFileSync(path.join(ROOT, 'schema', `${subgraph}.graphql`), 'utf8')).definitions) {
      if (!('name' in def) || !def.name || def.kind === Kind.DIRECTIVE_DEFINITION) continue;
      if (!ROOT_TYPES.has(def.name.value)) names.add(def.name.value);
      else if ('fields' in def) for (const field of def.fields ?? []) names.add(field.name.value);
    }
  }
  // The signed-in caller is platform vocabulary (Identity.userId, RATE_LIMIT_USER, the "user" rate-limit subject), not the User type's field.
  names.delete('user');
  return names;
}

/** Identifiers and the words of string literals in a TypeScript file: its code, comments left out. */
function codeWords(file: string): { word: string; line: number }[] {
  const text = readFileSync(file, 'utf8');
  // The parsed tree, not a token scan: a scanner alone misreads what follows a template substitution.
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const words: { word: string; line: number }[] = [];
  const lineOf = (node: ts.Node) => source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
  const visit = (node: ts.Node) => {
    if (ts.isIdentifier(node) || ts.isPrivateIdentifier(node)) words.push({ word: node.text, line: lineOf(node) });
    else if (ts.isStringLiteralLike(node) || ts.isTemplateLiteralToken(node))
      for (const word of node.text.match(/\w+/g) ?? []) words.push({ word, line: lineOf(node) });
    ts.forEachChild(node, visit);
  };
  visit(source);
  return words;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const full = path.join(dir, entry);
    return statSync(full).isDirectory() ? filesUnder(full) : full.endsWith('.ts') ? [full] : [];
  });
}

describe('no domain names under gateway/', () => {
  it('the scan finds what it is looking for (it would catch a domain name)', () => {
    const names = domainNames();
    for (const expected of ['users', 'billing', 'Order', 'logIn', 'placeOrder', 'stockChanged'])
      expect(names.has(expected), expected).toBe(true);
    const probe = path.join(mkdtempSync(path.join(os.tmpdir(), 'domain-scan-')), 'probe.ts');
    writeFileSync(probe, "// logIn in a comment is fine\nconst field = 'Mutation.logIn';\n");
    expect(codeWords(probe).filter((w) => names.has(w.word))).toEqual([{ word: 'logIn', line: 2 }]);
  });

  it('no file under gateway/ names a subgraph, type or root field of this graph in its code', () => {
    const names = domainNames();
    const hits = filesUnder(path.join(ROOT, 'gateway')).flatMap((file) =>
      codeWords(file)
        .filter((w) => names.has(w.word))
        .map((w) => `${path.relative(ROOT, file)}:${w.line} ${w.word}`),
    );
    expect(hits).toEqual([]);
  });
});

/** A foreign graph: one subgraph that happens to be called `users`, with a sign-in field of its own shape. */
const FOREIGN_SDL = `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key"])
  type Query { greeting: String! }
  input Credentials { login: String!, secret: String! }
  type Mutation { signIn(credentials: Credentials!): String }
`;

let foreign: http.Server;
const received: string[] = [];
let supergraphPath: string;

beforeAll(async () => {
  const apollo = new ApolloServer({
    schema: buildSubgraphSchema([
      {
        typeDefs: parse(FOREIGN_SDL),
        resolvers: {
          Query: { greeting: () => 'hello from the foreign users subgraph' },
          Mutation: {
            signIn: (_: unknown, args: { credentials: { secret: string } }) => {
              if (args.credentials.secret !== 'right')
                throw new GraphQLError('Wrong secret.', { extensions: { code: 'INVALID_CREDENTIALS' } });
              return 'signed in';
            },
          },
        } as GraphQLResolverMap<unknown>,
      },
    ]),
    plugins: [ApolloServerPluginInlineTraceDisabled()],
  });
  await apollo.start();
  const app = express();
  app.use(
    '/graphql',
    express.json(),
    (req, _res, next) => {
      received.push(String(req.body?.query ?? ''));
      next();
    },
    expressMiddleware(apollo),
  );
  foreign = await new Promise<http.Server>((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => resolve(server));
  });
  const url = `http://127.0.0.1:${(foreign.address() as AddressInfo).port}/graphql`;
  const composed = composeServices([{ name: 'users', url, typeDefs: parse(FOREIGN_SDL) }]);
  if (composed.errors) throw new Error(composed.errors.map((e) => e.message).join('\n'));
  supergraphPath = path.join(mkdtempSync(path.join(os.tmpdir(), 'foreign-supergraph-')), 'supergraph.graphql');
  writeFileSync(supergraphPath, composed.supergraphSdl);
});
afterAll(() => new Promise((resolve) => foreign?.close(resolve)));

async function startGateway(extra: Record<string, string> = {}): Promise<Listening> {
  const { privateJwk } = await generateServiceKey('gateway');
  const config = parseConfig(gatewaySchema, {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    SERVICE_PRIVATE_JWK: JSON.stringify(privateJwk),
    SUPERGRAPH_PATH: supergraphPath,
    ...extra,
  });
  applyApolloTelemetrySetting(config);
  const service = await createGatewayServer(config);
  return listen(service, { port: 0, host: '127.0.0.1', graceMs: 1_000, metricsPort: 0, log: service.log });
}

const post = async (gateway: Listening, query: string, variables: Record<string, unknown> = {}) => {
  const res = await fetch(`${gateway.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  return {
    status: res.status,
    body: (await res.json()) as { data?: Record<string, unknown> | null; errors?: { message: string; extensions?: { code?: string } }[] },
  };
};

describe('a gateway over a foreign supergraph', () => {
  it('routes a subgraph called `users` to the URL its own supergraph gives, and needs no TRUSTED_SERVICE_JWKS', async () => {
    const gateway = await startGateway();
    try {
      received.length = 0;
      const { status, body } = await post(gateway, '{ greeting }');
      expect(status).toBe(200);
      expect(body).toEqual({ data: { greeting: 'hello from the foreign users subgraph' } });
      expect(received.some((q) => q.includes('greeting'))).toBe(true);
    } finally {
      await gateway.close();
    }
  }, 60_000);

  it('stops at start-up when SUBGRAPH_URLS names a subgraph the supergraph does not have', async () => {
    const started = startGateway({ SUBGRAPH_URLS: JSON.stringify({ catalog: 'http://127.0.0.1:1' }) });
    await expect(started).rejects.toBeInstanceOf(ConfigError);
    await expect(started).rejects.toThrow(/SUBGRAPH_URLS: "catalog" is not a subgraph of the supergraph \(users\)/);
  }, 60_000);

  it('protects the sign-in field LOGIN_FIELD names, reading the account at LOGIN_ACCOUNT_ARGUMENT', async () => {
    const gateway = await startGateway({
      LOGIN_FIELD: 'Mutation.signIn',
      LOGIN_ACCOUNT_ARGUMENT: 'credentials.login',
      LOGIN_MAX_FAILURES_PER_ACCOUNT: '2',
    });
    try {
      const signIn = 'mutation($c: Credentials!) { signIn(credentials: $c) }';
      for (let i = 0; i < 2; i++) {
        const failed = await post(gateway, signIn, { c: { login: 'Ana', secret: 'wrong' } });
        expect(failed.body.errors?.[0]?.extensions?.code).toBe('INVALID_CREDENTIALS');
      }
      // The account is normalized (trimmed, lower case): the third failure's account is over its limit, the right secret included.
      const refused = await post(gateway, signIn, { c: { login: ' ana ', secret: 'right' } });
      expect(refused.status).toBe(429);
      expect(refused.body.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
      // Another account is unaffected.
      const other = await post(gateway, signIn, { c: { login: 'bo', secret: 'right' } });
      expect(other.body).toEqual({ data: { signIn: 'signed in' } });
    } finally {
      await gateway.close();
    }
  }, 60_000);
});
