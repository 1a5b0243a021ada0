import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

import { ROOT } from '../platform/paths.js';

export { ROOT };
export const SUPERGRAPH_FILE = path.join(ROOT, 'schema/supergraph.graphql');

const roverConfig = z.object({
  federation_version: z.string().regex(/^=?2\.\d+\.\d+$/),
  subgraphs: z.record(
    z.string(),
    z.object({ routing_url: z.url(), schema: z.object({ file: z.string() }) }),
  ),
});

export type RoverConfig = z.infer<typeof roverConfig>;

export async function readRoverConfig(file = path.join(ROOT, 'rover.yaml')): Promise<RoverConfig> {
  return roverConfig.parse(parseYaml(await readFile(file, 'utf8')));
}

/** Composes the subgraph SDL files named in rover.yaml into supergraph SDL, or throws with every composition error. */
export async function composeSupergraph(): Promise<string> {
  const config = await readRoverConfig();
  const services = await Promise.all(
    Object.entries(config.subgraphs).map(async ([name, sg]) => ({
      name,
      url: sg.routing_url,
      typeDefs: parse(await readFile(path.join(ROOT, sg.schema.file), 'utf8')),
    })),
  );
  const result = composeServices(services);
  if (result.errors) {
    throw new Error(`Composition failed:\n${result.errors.map((e) => `  - ${e.message}`).join('\n')}`);
  }
  return result.supergraphSdl;
}
