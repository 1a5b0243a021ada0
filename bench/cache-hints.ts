import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Kind, parse } from 'graphql';
import type { ConstDirectiveNode } from 'graphql';
import { ROOT } from '../platform/paths.js';
import { SUBGRAPHS } from '../platform/migrate.js';

/** `@cacheControl` hints by schema coordinate (`Product`, `Product.stock`): max-age ms and scope. */
export interface CacheHints {
  ttlMs: Record<string, number>;
  scope: Record<string, 'PUBLIC' | 'PRIVATE'>;
}

function hintOf(directives: readonly ConstDirectiveNode[] | undefined) {
  const d = directives?.find((x) => x.name.value === 'cacheControl');
  if (!d) return null;
  const arg = (name: string) => d.arguments?.find((a) => a.name.value === name)?.value;
  const maxAge = arg('maxAge');
  const scope = arg('scope');
  return {
    maxAge: maxAge?.kind === Kind.INT ? Number(maxAge.value) : undefined,
    scope: scope?.kind === Kind.ENUM ? (scope.value as 'PUBLIC' | 'PRIVATE') : undefined,
  };
}

/**
 * The hints the subgraphs declare in their SDL (schema/<subgraph>.graphql), merged over all of them
 * (the strictest max-age where two declare one). A peer whose response cache cannot read them off the
 * supergraph (Hive Gateway's: the supergraph carries no @cacheControl) is configured from these, as a
 * user would copy them into its `ttlPerSchemaCoordinate` / `scopePerSchemaCoordinate`.
 */
export async function subgraphCacheHints(): Promise<CacheHints> {
  const hints: CacheHints = { ttlMs: {}, scope: {} };
  const add = (coordinate: string, h: ReturnType<typeof hintOf>) => {
    if (h?.maxAge !== undefined) hints.ttlMs[coordinate] = Math.min(hints.ttlMs[coordinate] ?? Infinity, h.maxAge * 1000);
    if (h?.scope) hints.scope[coordinate] = h.scope === 'PRIVATE' || hints.scope[coordinate] === 'PRIVATE' ? 'PRIVATE' : 'PUBLIC';
  };
  for (const subgraph of SUBGRAPHS) {
    const doc = parse(await readFile(path.join(ROOT, `schema/${subgraph}.graphql`), 'utf8'));
    for (const def of doc.definitions) {
      if (def.kind !== Kind.OBJECT_TYPE_DEFINITION && def.kind !== Kind.OBJECT_TYPE_EXTENSION) continue;
      add(def.name.value, hintOf(def.directives));
      for (const field of def.fields ?? []) add(`${def.name.value}.${field.name.value}`, hintOf(field.directives));
    }
  }
  return hints;
}
