import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Kind, buildSchema, parse, print, validate, visit } from 'graphql';
import type { DefinitionNode, DocumentNode, FragmentDefinitionNode, OperationDefinitionNode } from 'graphql';
import { mintPartnerKey } from '../gateway/identity/partner-keys.js';
import { manifestSchema, operationId } from '../gateway/persisted-queries/manifest.js';
import { operationProblems } from '../gateway/persisted-queries/check.js';
import type { ManifestOperation } from '../gateway/persisted-queries/manifest.js';
import {
  CLIENT_FILE,
  clientEntrySchema,
  clientNameSchema,
  manifestFile,
  partnerLimitsSchema,
  readClient,
  versionSchema,
  writeJsonAtomic,
} from '../gateway/persisted-queries/client-registry.js';
import type { ClientEntry, PartnerLimits } from '../gateway/persisted-queries/client-registry.js';
import { API_SCHEMA_FILE, ROOT } from './compose-supergraph.js';
import { ExplainedError, runScript } from './run-script.js';

/**
 * `npm run partner -- <command>`: partner onboarding against the client registry, the folder every
 * gateway re-reads within CLIENT_REGISTRY_POLL_MS (no restart). The folder is CLIENT_REGISTRY_DIR,
 * else `<DATA_DIR>/clients` (what `npm start` serves).
 */
const USAGE = `usage: npm run partner -- <command>
  create  <client> [--requests N] [--cost N]  a client (if new) and a new API key for it (shown once)
  limits  <client> [--requests N|default] [--cost N|default]
                                            its own requests per RATE_LIMIT_WINDOW_SECONDS / cost budget per minute
  publish <client> <version> <file.graphql>…  a manifest version built from operation files
          <client> <version> <manifest.json>  or Apollo's persisted-query manifest, its ids kept
  list                                      clients, keys and manifest versions
  revoke  <client> <key-id>                 the key stops working
  retire  <client> <version>                that version's operations stop running`;

const registryDir = () => path.resolve(ROOT, process.env.CLIENT_REGISTRY_DIR ?? path.join(process.env.DATA_DIR ?? '.data', 'clients'));

function arg(value: string | undefined, schema: typeof clientNameSchema, what: string): string {
  if (value === undefined) throw new ExplainedError(`missing ${what}\n${USAGE}`);
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new ExplainedError(`bad ${what} "${value}": ${parsed.error.issues[0]!.message}`);
  return parsed.data;
}

async function loadEntry(dir: string, client: string): Promise<ClientEntry> {
  if (!existsSync(path.join(dir, client, CLIENT_FILE)))
    throw new ExplainedError(`no client "${client}" in ${dir} (npm run partner -- create ${client})`);
  return (
    await readClient(dir, client).catch((err: unknown) => {
      throw new ExplainedError(err instanceof Error ? err.message : String(err));
    })
  ).entry;
}
const saveEntry = (dir: string, entry: ClientEntry) =>
  writeJsonAtomic(path.join(dir, entry.name, CLIENT_FILE), clientEntrySchema.parse(entry));

/** Operations of .graphql files as Apollo's manifest lists them: each with the fragments it uses, validated against the API schema. */
export async function manifestOperations(files: string[]): Promise<ManifestOperation[]> {
  const schema = buildSchema(await readFile(API_SCHEMA_FILE, 'utf8'));
  const definitions: DefinitionNode[] = [];
  for (const file of files) {
    let doc: DocumentNode;
    try {
      doc = parse(await readFile(file, 'utf8'));
    } catch (err) {
      throw new ExplainedError(`${file}: ${(err as Error).message}`);
    }
    definitions.push(...doc.definitions);
  }
  const whole: DocumentNode = { kind: Kind.DOCUMENT, definitions };
  const problems = validate(schema, whole);
  if (problems.length)
    throw new ExplainedError(`the operations do not fit schema/api.graphql:\n${problems.map((p) => `  - ${p.message}`).join('\n')}`);
  const fragments = new Map(
    definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((f) => [f.name.value, f]),
  );
  const operations = definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  if (!operations.length) throw new ExplainedError('no operations in the given files');
  return operations.map((op) => {
    if (!op.name) throw new ExplainedError(`every operation needs a name (clients and logs refer to it): ${print(op).slice(0, 60)}…`);
    const used = new Map<string, FragmentDefinitionNode>();
    const collect = (node: OperationDefinitionNode | FragmentDefinitionNode) =>
      visit(node, {
        FragmentSpread: (s) => {
          const f = fragments.get(s.name.value)!;
          if (!used.has(f.name.value)) {
            used.set(f.name.value, f);
            collect(f);
          }
        },
      });
    collect(op);
    const body = [op, ...[...used.values()].sort((a, b) => a.name.value.localeCompare(b.name.value))].map((d) => print(d)).join('\n\n');
    return { id: operationId(body), name: op.name.value, type: op.operation, body };
  });
}

/**
 * An Apollo persisted-query manifest as `@apollo/generate-persisted-query-manifest` writes it, taken
 * as it is: its bodies (with the `__typename`s Apollo Client adds) and ids are what the app sends,
 * so they are checked (id = sha256 of body, one named operation, valid against the API schema), never re-printed.
 */
export async function apolloManifestOperations(file: string): Promise<ManifestOperation[]> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new ExplainedError(`${file}: not valid JSON (${(err as Error).message})`);
  }
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success)
    throw new ExplainedError(
      `${file}: not an Apollo persisted-query manifest: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  if (!parsed.data.operations.length) throw new ExplainedError(`${file}: no operations`);
  const schema = buildSchema(await readFile(API_SCHEMA_FILE, 'utf8'));
  const problems = parsed.data.operations.flatMap((op) => operationProblems(op, schema).map((p) => `  - ${op.name}: ${p}`));
  if (problems.length) throw new ExplainedError(`${file}: the operations do not fit schema/api.graphql:\n${problems.join('\n')}`);
  return parsed.data.operations;
}

type Out = (line: string) => void;

const LIMIT_FLAGS = { '--requests': 'requestsPerWindow', '--cost': 'costBudgetPerMinute' } as const;

/**
 * `--requests N` / `--cost N` into a change of the entry's limits: a positive whole number sets
 * it, `default` removes it (back to the gateway's configured default). Anything else is refused.
 */
function limitFlags(
  args: string[],
  allowDefault: boolean,
): { rest: string[]; change: Partial<Record<keyof PartnerLimits, number | null>> } {
  const rest: string[] = [];
  const change: Partial<Record<keyof PartnerLimits, number | null>> = {};
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!;
    if (!(flag in LIMIT_FLAGS)) {
      if (flag.startsWith('--')) throw new ExplainedError(`unknown option ${flag}\n${USAGE}`);
      rest.push(flag);
      continue;
    }
    const field = LIMIT_FLAGS[flag as keyof typeof LIMIT_FLAGS];
    const value = args[++i];
    if (allowDefault && value === 'default') {
      change[field] = null;
      continue;
    }
    const parsed = partnerLimitsSchema.shape[field].safeParse(value !== undefined && /^\d+$/.test(value) ? Number(value) : value);
    if (value === undefined || !parsed.success || parsed.data === undefined) {
      throw new ExplainedError(`bad ${flag} "${value ?? ''}": a positive whole number${allowDefault ? ' or "default"' : ''}`);
    }
    change[field] = parsed.data;
  }
  return { rest, change };
}

function applyLimits(entry: ClientEntry, change: Partial<Record<keyof PartnerLimits, number | null>>): void {
  // A null in the change removes that limit (back to the gateway's default).
  const limits = Object.fromEntries(Object.entries({ ...entry.limits, ...change }).filter(([, value]) => value !== null)) as PartnerLimits;
  if (Object.keys(limits).length) entry.limits = limits;
  else delete entry.limits;
}

const describeLimits = (entry: ClientEntry) =>
  `requests ${entry.limits?.requestsPerWindow ?? 'default'} per window, cost ${entry.limits?.costBudgetPerMinute ?? 'default'} per minute`;

const commands: Record<string, (args: string[], dir: string, out: Out, note: Out) => Promise<void>> = {
  async create(args, dir, out, note) {
    const {
      rest: [name],
      change,
    } = limitFlags(args, false);
    const client = arg(name, clientNameSchema, 'client name');
    const entry: ClientEntry = existsSync(path.join(dir, client, CLIENT_FILE))
      ? await loadEntry(dir, client)
      : { name: client, keys: [], manifests: {} };
    applyLimits(entry, change);
    const { key, entry: minted } = mintPartnerKey(client);
    entry.keys.push({ id: minted.id, sha256: minted.sha256, createdAt: new Date().toISOString(), revoked: false });
    await saveEntry(dir, entry);
    note(`client ${client}: new key ${minted.id}. Give the partner this key (it is stored only as its sha256):`);
    out(key);
  },
  async limits(args, dir, out) {
    const {
      rest: [name],
      change,
    } = limitFlags(args, true);
    const entry = await loadEntry(dir, arg(name, clientNameSchema, 'client name'));
    if (!Object.keys(change).length) throw new ExplainedError(`nothing to change: give --requests and/or --cost\n${USAGE}`);
    applyLimits(entry, change);
    await saveEntry(dir, entry);
    out(`client ${entry.name}: ${describeLimits(entry)}`);
  },
  async publish([name, version, ...files], dir, out) {
    const client = arg(name, clientNameSchema, 'client name');
    const v = arg(version, versionSchema, 'version');
    if (!files.length) throw new ExplainedError(`no .graphql files given\n${USAGE}`);
    const entry = await loadEntry(dir, client);
    const operations =
      files.length === 1 && files[0]!.endsWith('.json') ? await apolloManifestOperations(files[0]!) : await manifestOperations(files);
    await writeJsonAtomic(manifestFile(dir, client, v), { format: 'apollo-persisted-query-manifest', version: 1, operations });
    entry.manifests[v] = { publishedAt: new Date().toISOString(), retired: false };
    await saveEntry(dir, entry);
    out(`client ${client}: manifest ${v} published with ${operations.length} operation(s):`);
    for (const op of operations) out(`  ${op.name}  ${op.id}`);
  },
  async list(_args, dir, out) {
    const snapshot = await import('node:fs/promises').then((fs) => fs.readdir(dir).catch(() => [] as string[]));
    for (const name of snapshot.sort()) {
      const read = await readClient(dir, name).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));
      if (read instanceof Error) {
        out(`${name}: BAD ENTRY: ${read.message}`);
        continue;
      }
      const { entry, manifest } = read;
      out(`${name}: ${manifest.operations.size} operation(s) allowed; ${describeLimits(entry)}`);
      for (const k of entry.keys) out(`  key ${k.id}  ${k.revoked ? 'REVOKED' : 'active'}  created ${k.createdAt}`);
      for (const [v, m] of Object.entries(entry.manifests))
        out(`  manifest ${v}  ${m.retired ? 'RETIRED' : 'live'}  published ${m.publishedAt}`);
    }
  },
  async revoke([name, keyId], dir, out) {
    const entry = await loadEntry(dir, arg(name, clientNameSchema, 'client name'));
    const key = entry.keys.find((k) => k.id === keyId);
    if (!key) throw new ExplainedError(`client ${entry.name} has no key "${keyId ?? ''}" (npm run partner -- list)`);
    key.revoked = true;
    await saveEntry(dir, entry);
    out(`client ${entry.name}: key ${key.id} revoked`);
  },
  async retire([name, version], dir, out) {
    const entry = await loadEntry(dir, arg(name, clientNameSchema, 'client name'));
    const v = arg(version, versionSchema, 'version');
    if (!entry.manifests[v]) throw new ExplainedError(`client ${entry.name} has no manifest version "${v}" (npm run partner -- list)`);
    entry.manifests[v].retired = true;
    await saveEntry(dir, entry);
    out(`client ${entry.name}: manifest ${v} retired`);
  },
};

/** One command, as the CLI runs it; what it prints goes to out (results) and note (messages for a person). */
export async function partnerCommand(
  argv: string[],
  dir = registryDir(),
  out: Out = console.log,
  note: Out = console.error,
): Promise<void> {
  const [command, ...args] = argv;
  const run = command ? commands[command] : undefined;
  if (!run) throw new ExplainedError(USAGE);
  await run(args, dir, out, note);
}

// Run as a command (`npm run partner`, or `node dist/scripts/partner.js` in the image), not when imported by tests.
if (process.argv[1] && path.resolve(process.argv[1]) === import.meta.filename) {
  await runScript(() => partnerCommand(process.argv.slice(2)));
}
