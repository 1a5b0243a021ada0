import { Supergraph } from '@apollo/federation-internals';
import { Kind, parse, validate } from 'graphql';
import type { GraphQLSchema } from 'graphql';
import { operationId, readManifestFiles } from './manifest.js';
import type { ManifestOperation } from './manifest.js';

export interface ManifestProblem {
  client: string;
  /** The operation's name, or "(manifest)" for a problem with the file itself. */
  operation: string;
  message: string;
}

/**
 * The API schema clients see, computed from the supergraph the way the gateway does, without
 * starting one. `supportedFeatures: null` because the supergraph links security features
 * (`@authenticated`, `@requiresScopes`) that only this project's gateway implements; `@defer` is
 * declared because the gateway executes it.
 */
export function apiSchemaOf(supergraphSdl: string): GraphQLSchema {
  return Supergraph.build(supergraphSdl, { supportedFeatures: null }).apiSchema().toGraphQLJSSchema({ includeDefer: true });
}

/**
 * Every manifest operation against the schema: the id is the sha256 of the body, the body parses,
 * holds exactly the one operation its entry names (with the declared type), and validates.
 * Returns every problem found (empty = all good).
 */
export async function checkManifests(opts: { dir: string; supergraphSdl: string }): Promise<ManifestProblem[]> {
  const schema = apiSchemaOf(opts.supergraphSdl);
  const problems: ManifestProblem[] = [];
  for (const { client, manifest, error } of await readManifestFiles(opts.dir)) {
    const report = (operation: string, message: string) => problems.push({ client, operation, message });
    if (!manifest) {
      report('(manifest)', error!);
      continue;
    }
    const seen = new Set<string>();
    for (const op of manifest.operations) {
      if (seen.has(op.id)) report(op.name, 'duplicate id');
      seen.add(op.id);
      for (const message of operationProblems(op, schema)) report(op.name, message);
    }
  }
  return problems;
}

/**
 * One manifest entry against the schema: the id is the sha256 of the body, the body parses, holds
 * exactly the one operation the entry names (with the declared type), and validates.
 */
export function operationProblems(op: ManifestOperation, schema: GraphQLSchema): string[] {
  const problems: string[] = [];
  const expected = operationId(op.body);
  if (op.id !== expected) problems.push(`id is not the sha256 of the body (expected ${expected})`);
  let doc;
  try {
    doc = parse(op.body);
  } catch (err) {
    return [...problems, `does not parse: ${(err as Error).message}`];
  }
  const operations = doc.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
  if (operations.length !== 1 || operations[0]!.name?.value !== op.name) {
    problems.push('the body must hold exactly one operation, named as the entry');
  } else if ((operations[0]!.operation as string) !== op.type) {
    problems.push(`declared as ${op.type} but is a ${operations[0]!.operation}`);
  }
  for (const err of validate(schema, doc)) problems.push(err.message);
  return problems;
}
