import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Kind, parse, print } from 'graphql';
import type { DefinitionNode, FieldDefinitionNode, InputValueDefinitionNode } from 'graphql';
import {
  API_SCHEMA_FILE,
  ROOT,
  SUPERGRAPH_FILE,
  apiSchemaSdl,
  composeSupergraph,
  readRoverConfig,
} from '../../scripts/compose-supergraph.js';

/** The fixed public API, kept inside the repository so a fresh clone tests against it. */
const CONTRACT_DIR = path.join(ROOT, 'contract');

describe('composition', () => {
  it('rover.yaml names every subgraph with a routing URL and a schema file under schema/', async () => {
    const config = await readRoverConfig();
    expect(Object.keys(config.subgraphs).sort()).toEqual(['billing', 'catalog', 'orders', 'users']);
    for (const sg of Object.values(config.subgraphs)) expect(sg.schema.file).toMatch(/^\.\/schema\/\w+\.graphql$/);
  });

  it('the committed supergraph is exactly what composition produces now (run `npm run compose`)', async () => {
    const committed = await readFile(SUPERGRAPH_FILE, 'utf8');
    expect(committed).toBe(await composeSupergraph());
  });

  it('the committed client-facing schema/api.graphql is fresh and free of federation internals', async () => {
    const committed = await readFile(API_SCHEMA_FILE, 'utf8');
    expect(committed).toBe(apiSchemaSdl(await readFile(SUPERGRAPH_FILE, 'utf8')));
    expect(committed).not.toMatch(/join__|link__|@link|@join|_Entity|_service/);
    expect(committed).toMatch(/type Query \{/);
  });
});

interface Named {
  name: string;
  fields: Map<string, string>;
  args: Map<string, string>;
}

/** Flattens a schema to "Type.field" -> type and "Type.field(arg)" -> type, for object, input and enum types. */
function shape(sdl: string): Map<string, Named> {
  const types = new Map<string, Named>();
  const doc = parse(sdl);
  const add = (def: DefinitionNode) => {
    if (!('name' in def) || !def.name) return;
    const entry = types.get(def.name.value) ?? { name: def.name.value, fields: new Map(), args: new Map() };
    if (
      def.kind === Kind.OBJECT_TYPE_DEFINITION ||
      def.kind === Kind.OBJECT_TYPE_EXTENSION ||
      def.kind === Kind.INPUT_OBJECT_TYPE_DEFINITION
    ) {
      for (const f of (def.fields ?? []) as readonly (FieldDefinitionNode | InputValueDefinitionNode)[]) {
        entry.fields.set(f.name.value, print(f.type));
        for (const a of 'arguments' in f ? (f.arguments ?? []) : []) {
          entry.args.set(`${f.name.value}(${a.name.value})`, `${print(a.type)}${a.defaultValue ? ` = ${print(a.defaultValue)}` : ''}`);
        }
      }
    }
    if (def.kind === Kind.ENUM_TYPE_DEFINITION) for (const v of def.values ?? []) entry.fields.set(v.name.value, 'enum');
    types.set(def.name.value, entry);
  };
  doc.definitions.forEach(add);
  return types;
}

describe('the subgraph SDL offers at least the public contract', () => {
  for (const name of ['users', 'catalog', 'orders', 'billing']) {
    it(`${name}: every contract type, field and argument is there with the same type`, async () => {
      const contract = shape(await readFile(path.join(CONTRACT_DIR, `${name}.graphql`), 'utf8'));
      const ours = shape(await readFile(path.join(ROOT, 'schema', `${name}.graphql`), 'utf8'));
      const missing: string[] = [];
      for (const [typeName, type] of contract) {
        const mine = ours.get(typeName);
        if (!mine) {
          missing.push(typeName);
          continue;
        }
        for (const [field, t] of type.fields) if (mine.fields.get(field) !== t) missing.push(`${typeName}.${field}: ${t}`);
        for (const [arg, t] of type.args) if (mine.args.get(arg) !== t) missing.push(`${typeName}.${arg}: ${t}`);
      }
      expect(missing).toEqual([]);
    });
  }
});
