import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse, validate } from 'graphql';
import type { DocumentNode, GraphQLSchema } from 'graphql';
import { CLIENT_FILE, clientEntrySchema, manifestFile } from '../../gateway/persisted-queries/client-registry.js';
import { manifestSchema, readManifestFiles } from '../../gateway/persisted-queries/manifest.js';
import { operationCoordinates } from '../../gateway/usage/coordinates.js';

/** One operation the gateways run by id: a `persisted-queries/*.json` entry or a live registry manifest's. */
export interface TrustedDocument {
  source: 'persisted-queries' | 'client-registry';
  client: string;
  /** The registry manifest version; '' for persisted-queries/ files (they have none). */
  version: string;
  operation: string;
  body: string;
}

export interface DocumentFailure extends Omit<TrustedDocument, 'body'> {
  errors: string[];
  /** The changed coordinates this operation uses (what broke it); an --accept must name every one. */
  coordinates: string[];
}

export interface TrustedDocuments {
  documents: TrustedDocument[];
  /** Registry manifest versions skipped because they are retired (`client@version`). */
  retired: string[];
  /** Files that could not be read: reported, not checked (they are the registry's problem, not this change's). */
  unreadable: string[];
}

/** Every trusted document the gateways serve: persisted-queries/ and each client's manifests that are not retired. */
export async function collectTrustedDocuments(opts: { persistedDir: string; registryDir?: string }): Promise<TrustedDocuments> {
  const out: TrustedDocuments = { documents: [], retired: [], unreadable: [] };
  for (const file of await readManifestFiles(opts.persistedDir)) {
    if (!file.manifest) out.unreadable.push(`${file.file}: ${file.error}`);
    for (const op of file.manifest?.operations ?? [])
      out.documents.push({ source: 'persisted-queries', client: file.client, version: '', operation: op.name, body: op.body });
  }
  if (opts.registryDir) await collectRegistry(opts.registryDir, out);
  return out;
}

async function collectRegistry(dir: string, out: TrustedDocuments): Promise<void> {
  const clients = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const entry of clients.filter((e) => e.isDirectory()).sort((a, b) => a.name.localeCompare(b.name))) {
    const client = entry.name;
    const parsed = await readJson(path.join(dir, client, CLIENT_FILE)).then((raw) => clientEntrySchema.safeParse(raw));
    if (!parsed.success) {
      out.unreadable.push(`${path.join(dir, client, CLIENT_FILE)}: ${parsed.error.issues[0]?.message}`);
      continue;
    }
    for (const [version, info] of Object.entries(parsed.data.manifests)) {
      if (info.retired) {
        out.retired.push(`${client}@${version}`);
        continue;
      }
      const file = manifestFile(dir, client, version);
      const manifest = manifestSchema.safeParse(await readJson(file));
      if (!manifest.success) out.unreadable.push(`${file}: ${manifest.error.issues[0]?.message}`);
      for (const op of manifest.data?.operations ?? [])
        out.documents.push({ source: 'client-registry', client, version, operation: op.name, body: op.body });
    }
  }
}

const readJson = (file: string): Promise<unknown> =>
  readFile(file, 'utf8').then(
    (text) => JSON.parse(text) as unknown,
    () => undefined,
  );

/**
 * Each document against the proposed API schema. Only operations valid today and invalid after the
 * change fail (one already broken is not this change's doing; pq:check and publish catch those).
 * A failure names the changed coordinates the operation uses, read against today's schema.
 */
export function checkDocuments(
  documents: TrustedDocument[],
  schemas: { current: GraphQLSchema; proposed: GraphQLSchema },
  changed: ReadonlySet<string>,
): DocumentFailure[] {
  const failures: DocumentFailure[] = [];
  for (const { body, ...doc } of documents) {
    let parsed: DocumentNode;
    try {
      parsed = parse(body);
    } catch {
      continue;
    }
    if (validate(schemas.current, parsed).length) continue;
    const errors = validate(schemas.proposed, parsed).map((e) => e.message);
    if (!errors.length) continue;
    const coordinates = operationCoordinates(schemas.current, parsed).filter((c) => changed.has(c));
    failures.push({ ...doc, errors, coordinates });
  }
  return failures;
}
