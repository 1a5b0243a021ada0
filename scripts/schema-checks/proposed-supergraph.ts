import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';
import type { DocumentNode } from 'graphql';
import { ROOT, readRoverConfig } from '../compose-supergraph.js';

export type ProposedSupergraph = { ok: true; supergraphSdl: string } | { ok: false; errors: string[] };

/**
 * The supergraph as it would be with `subgraph`'s SDL replaced by the proposed text: every other
 * subgraph as rover.yaml names it, composed by the same @apollo/composition as `npm run compose`.
 * A parse error or an unknown subgraph is reported like a composition error: the change cannot ship.
 */
export async function composeProposed(opts: { subgraph: string; sdl: string; roverFile?: string }): Promise<ProposedSupergraph> {
  const rover = await readRoverConfig(opts.roverFile);
  if (!rover.subgraphs[opts.subgraph])
    return { ok: false, errors: [`no subgraph "${opts.subgraph}" in rover.yaml (known: ${Object.keys(rover.subgraphs).join(', ')})`] };
  let proposed: DocumentNode;
  try {
    proposed = parse(opts.sdl);
  } catch (err) {
    return { ok: false, errors: [`the proposed SDL of ${opts.subgraph} does not parse: ${(err as Error).message}`] };
  }
  const base = path.dirname(opts.roverFile ?? path.join(ROOT, 'rover.yaml'));
  const services = await Promise.all(
    Object.entries(rover.subgraphs).map(async ([name, sg]) => ({
      name,
      url: sg.routing_url,
      typeDefs: name === opts.subgraph ? proposed : parse(await readFile(path.resolve(base, sg.schema.file), 'utf8')),
    })),
  );
  const result = composeServices(services);
  if (result.errors) return { ok: false, errors: result.errors.map((e) => e.message) };
  return { ok: true, supergraphSdl: result.supergraphSdl };
}
