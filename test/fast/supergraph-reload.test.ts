import http from 'node:http';
import { mkdir, mkdtemp, rename, symlink, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256, supergraphParses } from '../../gateway/supergraph.js';
import { createGatewayTester } from '../support/gateway-tester.js';
import type { GatewayTester } from '../support/gateway-tester.js';
import { eventually } from '../support/stack.js';

/**
 * Supergraph hot reload, in the fast tier: the real gateway follows its SUPERGRAPH_PATH, mounted
 * as a Kubernetes ConfigMap is (the file is a symlink through `..data`, and an update swaps
 * `..data`). The subgraph always serves `Thing.colour`; the supergraph decides whether the graph has it.
 */

// A subgraph SDL: plain text, not a document the linter checks against the API schema.
const things = (extra: string) => `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.9", import: ["@key"])
  type Query { thing(id: ID!): Thing }
  type Thing @key(fields: "id") { id: ID! name: String! ${extra} }
`;
const THING = { id: '1', name: 'one', colour: 'red' };

/** A supergraph over the one subgraph (its URL is replaced by SUBGRAPH_URLS). */
function supergraphOf(typeDefs: string): string {
  const composed = composeServices([{ name: 'things', url: 'http://127.0.0.1:9/graphql', typeDefs: parse(typeDefs) }]);
  if (composed.errors) throw new Error(composed.errors.map((e) => e.message).join('; '));
  return composed.supergraphSdl;
}

let tester: GatewayTester;
let dir: string;
let version = 0;
let parsesBefore: number;

/** What kubelet does to a ConfigMap volume: the new files in a folder of their own, then `..data` swapped to it at once. */
async function publish(sdl: string) {
  const folder = `..v${++version}`;
  await mkdir(path.join(dir, folder));
  await writeFile(path.join(dir, folder, 'supergraph.graphql'), sdl);
  await symlink(folder, path.join(dir, '..data_tmp'));
  await rename(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
}

const ready = async () => (await fetch(tester.url.replace(/\/graphql$/, '/health/ready'))).json();
const colour = () => tester.post({ query: '{ thing(id: "1") { name colour } }' });

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'supergraph-mount-'));
  await publish(supergraphOf(things('')));
  await symlink('..data/supergraph.graphql', path.join(dir, 'supergraph.graphql'));
  parsesBefore = supergraphParses();
  tester = await createGatewayTester({
    subgraphs: { things: { typeDefs: things('colour: String!'), resolvers: { Query: { thing: () => THING } } } },
    env: { SUPERGRAPH_PATH: path.join(dir, 'supergraph.graphql'), SUPERGRAPH_POLL_INTERVAL_MS: '200' },
  });
});
afterAll(async () => {
  await tester?.close();
});

describe('supergraph hot reload (ConfigMap-style mount)', () => {
  it('parses the supergraph once at start-up and once per reload', async () => {
    expect(supergraphParses() - parsesBefore).toBe(1);
    expect((await colour()).body.errors[0].extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');

    const added = supergraphOf(things('colour: String!'));
    await publish(added);
    // The folder watch usually sees the swap at once; the poll (200 ms) is the backstop. 15 s: a loaded 2-core machine.
    const served = await eventually(async () => ((await colour()).body.data?.thing?.colour === 'red' ? true : undefined), {
      timeoutMs: 15_000,
    });
    expect(served).toBe(true);
    expect(supergraphParses() - parsesBefore).toBe(2);
    expect((await ready()).supergraphStatus).toMatchObject({ hash: sha256(added), lastRefused: null });
  });

  it('refuses a broken supergraph, keeps serving the last good one and says so in /health/ready', async () => {
    const serving = (await ready()).supergraphStatus.hash;
    const broken = 'schema @link(url: "https://specs.apollo.dev/link/v1.0") { query: Query }\ntype Query { nope: Nope }';
    await publish(broken);
    const status = await eventually(
      async () => {
        const body = await ready();
        return body.supergraphStatus.lastRefused ? body : undefined;
      },
      { timeoutMs: 15_000 },
    );
    expect(status.status).toBe('ready');
    expect(status.supergraphStatus).toMatchObject({ hash: serving, lastRefused: { hash: sha256(broken) } });
    expect((await colour()).body).toEqual({ data: { thing: { name: 'one', colour: 'red' } } });
  });
});

/** A supergraph registry as SUPERGRAPH_URL sees it: the current SDL with an ETag, 304 when the client has it. */
async function startRegistry(initial: string) {
  let sdl = initial;
  const conditional: string[] = [];
  const server = http.createServer((req, res) => {
    const etag = `"${sha256(sdl)}"`;
    if (req.headers['if-none-match']) conditional.push(req.headers['if-none-match']);
    if (req.headers['if-none-match'] === etag) return void res.writeHead(304).end();
    res.writeHead(200, { etag, 'content-type': 'text/plain' }).end(sdl);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/supergraph.graphql`,
    conditional,
    publish: (next: string) => void (sdl = next),
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

describe('supergraph hot reload from SUPERGRAPH_URL', () => {
  it('polls with If-None-Match and loads what the URL serves', async () => {
    const registry = await startRegistry(supergraphOf(things('')));
    const fromUrl = await createGatewayTester({
      subgraphs: { things: { typeDefs: things('colour: String!'), resolvers: { Query: { thing: () => THING } } } },
      env: { SUPERGRAPH_URL: registry.url, SUPERGRAPH_POLL_INTERVAL_MS: '200' },
    });
    try {
      const query = { query: '{ thing(id: "1") { colour } }' };
      // Unchanged answers cost a 304: the gateway sends the ETag it has.
      await eventually(async () => (registry.conditional.length >= 2 ? true : undefined), { timeoutMs: 15_000 });
      expect((await fromUrl.post(query)).body.errors[0].extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
      registry.publish(supergraphOf(things('colour: String!')));
      const served = await eventually(async () => ((await fromUrl.post(query)).body.data?.thing?.colour === 'red' ? true : undefined), {
        timeoutMs: 15_000,
      });
      expect(served).toBe(true);
    } finally {
      await fromUrl.close();
      await registry.close();
    }
  });
});
