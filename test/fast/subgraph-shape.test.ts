import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SUBGRAPHS } from '../../platform/migrate.js';
import { ROOT } from '../../platform/paths.js';

/**
 * The four subgraphs read alike (docs/architecture.md, Layout): the same files, the same factory names, access
 * rules in one file, resolvers typed by the types generated from their own SDL. A subgraph that
 * drifts from the shape fails here, by name, rather than surprising its next reader.
 */
const REQUIRED = [
  'server.ts',
  'index.ts',
  'context.ts',
  'loaders.ts',
  'resolvers/index.ts',
  'resolvers/access.ts',
  'db/tables.ts',
  'db/queries.ts',
  'generated/resolvers.ts',
];

const exists = (file: string) =>
  access(file).then(
    () => true,
    () => false,
  );
const source = (name: string, file: string) => readFile(path.join(ROOT, 'subgraphs', name, file), 'utf8');
const capitalized = (name: string) => `${name[0]!.toUpperCase()}${name.slice(1)}`;

describe.each(SUBGRAPHS.map((name) => [name]))('subgraphs/%s', (name) => {
  it('has every part of the shape, and no second SDL loader or schema file', async () => {
    const dir = path.join(ROOT, 'subgraphs', name);
    const missing = [];
    for (const file of REQUIRED) if (!(await exists(path.join(dir, file)))) missing.push(file);
    expect(missing).toEqual([]);
    expect(await exists(path.join(dir, 'schema.ts'))).toBe(false);
    expect(await exists(path.join(dir, 'db/schema.ts'))).toBe(false);
    expect(await exists(path.join(ROOT, 'schema', `${name}.graphql`))).toBe(true);
  });

  it('names its factory, context and deps after itself', async () => {
    const Name = capitalized(name);
    expect(await source(name, 'server.ts')).toMatch(new RegExp(`export async function create${Name}Subgraph\\(`));
    const context = await source(name, 'context.ts');
    expect(context).toMatch(new RegExp(`export type ${Name}Context = `));
    expect(context).toMatch(new RegExp(`export interface ${Name}Deps `));
    expect(await source(name, 'resolvers/index.ts')).toMatch(/export function createResolvers\(.*\): Resolvers \{/);
  });

  it('serves what internal.ts declares and consumes what events.ts declares, under the shared names', async () => {
    const server = await source(name, 'server.ts');
    const dir = path.join(ROOT, 'subgraphs', name);
    if (await exists(path.join(dir, 'internal.ts'))) {
      expect(await source(name, 'internal.ts')).toMatch(/export function createInternalRoutes\(/);
      expect(server).toMatch(/internalRoutes: createInternalRoutes\(/);
    } else {
      expect(server).not.toMatch(/internalRoutes:/);
    }
    if (await exists(path.join(dir, 'events.ts'))) {
      expect(await source(name, 'events.ts')).toMatch(/export function createEventHandlers\(/);
      expect(server).toMatch(/consumes: createEventHandlers\(/);
    } else {
      expect(server).not.toMatch(/consumes:/);
    }
  });

  it('types its resolvers with the generated Resolvers, never a hand-written resolver map', async () => {
    const generated = await source(name, 'generated/resolvers.ts');
    expect(generated).toContain(`import type { ${capitalized(name)}Context } from '../context.js';`);
    for (const file of ['resolvers/index.ts', 'resolvers/query.ts']) {
      const text = await source(name, file);
      expect(text, file).toContain("from '../generated/resolvers.js'");
      expect(text, file).not.toMatch(/GraphQLResolverMap|_: unknown, args: \{/);
    }
  });
});
