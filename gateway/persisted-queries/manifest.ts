import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { stripIgnoredCharacters } from 'graphql';
import { z } from 'zod';

/** Apollo's persisted-query-manifest format, as `@apollo/generate-persisted-query-manifest` writes it. */
export const manifestSchema = z.object({
  format: z.literal('apollo-persisted-query-manifest'),
  version: z.literal(1),
  operations: z.array(
    z.object({
      id: z.string().min(1),
      name: z.string().min(1),
      type: z.enum(['query', 'mutation', 'subscription']),
      body: z.string().min(1),
    }),
  ),
});

export type ManifestOperation = z.infer<typeof manifestSchema>['operations'][number];

/** One client's safelist: `persisted-queries/<client>.json`. */
export interface Manifest {
  client: string;
  file: string;
  /** By id. */
  operations: Map<string, ManifestOperation>;
}

/** The id of an operation, as in Apollo's manifests and the APQ protocol: sha256 of the exact body, hex. */
export const operationId = (body: string): string => createHash('sha256').update(body).digest('hex');

/**
 * The id of a text with its insignificant whitespace, commas and comments removed (graphql-js's
 * lexer, no parse): freeform text matches a listed body whatever its spacing. null when the text
 * does not even lex (it is then on no list).
 */
export function normalizedOperationId(text: string): string | null {
  try {
    return operationId(stripIgnoredCharacters(text));
  } catch {
    return null;
  }
}

export interface ManifestFile {
  client: string;
  file: string;
  manifest?: z.infer<typeof manifestSchema>;
  /** Why the file is not a manifest at all (bad JSON, wrong shape). */
  error?: string;
}

/** Every `*.json` in dir, parsed; a missing dir is no manifests. */
export async function readManifestFiles(dir: string): Promise<ManifestFile[]> {
  const names = await readdir(dir).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [] as string[];
    throw err;
  });
  return Promise.all(
    names
      .filter((n) => n.endsWith('.json'))
      .sort()
      .map(async (name): Promise<ManifestFile> => {
        const file = path.join(dir, name);
        const client = name.slice(0, -'.json'.length);
        let raw: unknown;
        try {
          raw = JSON.parse(await readFile(file, 'utf8'));
        } catch (err) {
          return { client, file, error: `not valid JSON: ${(err as Error).message}` };
        }
        const parsed = manifestSchema.safeParse(raw);
        if (!parsed.success) {
          return { client, file, error: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') };
        }
        return { client, file, manifest: parsed.data };
      }),
  );
}

/**
 * The manifests the gateway serves from. A malformed file or an id that is not the sha256 of its
 * body stops start-up: serving a half-understood safelist would refuse (or allow) the wrong things.
 * Whether the operations still fit the schema is `npm run pq:check`'s job, before deploying.
 */
export async function loadManifests(dir: string): Promise<Map<string, Manifest>> {
  const manifests = new Map<string, Manifest>();
  for (const { client, file, manifest, error } of await readManifestFiles(dir)) {
    if (!manifest) throw new Error(`persisted-query manifest ${file}: ${error}`);
    const operations = new Map<string, ManifestOperation>();
    for (const op of manifest.operations) {
      if (op.id !== operationId(op.body)) {
        throw new Error(`persisted-query manifest ${file}: operation ${op.name} has id ${op.id}, not the sha256 of its body`);
      }
      operations.set(op.id, op);
    }
    manifests.set(client, { client, file, operations });
  }
  return manifests;
}
