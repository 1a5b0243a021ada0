import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { readPolicies } from '../gateway/authorization/policies.js';
import { createSupergraph } from '../gateway/supergraph.js';
import { ROOT } from '../platform/paths.js';

/**
 * The supergraph as the peers can load it: without the `for: SECURITY` authorization links
 * (they refuse them; so they enforce no authorization), and with each subgraph's URL pointing at
 * the benchmark's subgraphs (BENCH_SUBGRAPH_URLS, JSON by subgraph name) instead of the
 * composed defaults. Our gateway takes the same URLs from its env.
 */
export async function peerSupergraphSdl(): Promise<string> {
  const urls = JSON.parse(process.env.BENCH_SUBGRAPH_URLS ?? '{}') as Record<string, string>;
  const sdl = readPolicies(createSupergraph(await readFile(path.join(ROOT, 'schema/supergraph.graphql'), 'utf8'))).gatewaySdl;
  return sdl.replace(/@join__graph\(name: "(\w+)", url: "[^"]*"\)/g, (whole, name: string) =>
    urls[name] ? `@join__graph(name: "${name}", url: "${urls[name]}/graphql")` : whole,
  );
}
