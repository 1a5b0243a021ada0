import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { Logger } from '../../platform/logger.js';
import { manifestSchema, operationId } from './manifest.js';
import type { Manifest, ManifestOperation } from './manifest.js';
import type { PartnerKey } from '../identity/partner-keys.js';

/**
 * The client registry: partners as data, read by every gateway instance and changed without a
 * restart. One folder per client under CLIENT_REGISTRY_DIR:
 *
 *   <dir>/<client>/client.json              keys (sha256 only), manifest versions, retired or not
 *   <dir>/<client>/manifests/<version>.json Apollo's persisted-query-manifest format
 *
 * Why files: they are reviewable and durable, need no service of their own (`npm start` just has a
 * folder; production mounts one shared volume on every gateway, or syncs it from git), and every
 * write is one atomic rename, so a gateway never reads half an entry. Each gateway re-reads the
 * folder every CLIENT_REGISTRY_POLL_MS (2 s): polling, not fs.watch, because watch events are not
 * delivered on network volumes. A bad file is logged naming it and replaced by its last good copy
 * (this process's, else the one the gateways keep in Redis), file by file: it never stops the
 * gateway, and costs only its own client (client.json) or manifest.
 */
export const clientNameSchema = z.string().regex(/^[a-z0-9][\w.-]{0,63}$/i, 'letters, digits, ".", "_", "-" (at most 64)');
export const versionSchema = z.string().regex(/^[\w.-]{1,64}$/, 'letters, digits, ".", "_", "-" (at most 64)');

/**
 * A partner's own limits; a field left out is the gateway's configured default (RATE_LIMIT_PARTNER,
 * PARTNER_COST_BUDGET_PER_MINUTE). Strict, so a misspelt field is a bad entry rather than silently
 * the default.
 */
export const partnerLimitsSchema = z
  .object({
    requestsPerWindow: z.number().int().positive().max(1_000_000_000).optional(),
    costBudgetPerMinute: z.number().int().positive().max(1_000_000_000).optional(),
  })
  .strict();
export type PartnerLimits = z.infer<typeof partnerLimitsSchema>;

export const clientEntrySchema = z.object({
  name: clientNameSchema,
  keys: z.array(
    z.object({
      id: z.string().min(1),
      sha256: z.string().regex(/^[0-9a-f]{64}$/),
      createdAt: z.string(),
      revoked: z.boolean().default(false),
    }),
  ),
  /** Published manifest versions (as app releases); a retired one no longer lets its operations run. */
  manifests: z.record(versionSchema, z.object({ publishedAt: z.string(), retired: z.boolean().default(false) })),
  limits: partnerLimitsSchema.optional(),
});
export type ClientEntry = z.infer<typeof clientEntrySchema>;

export interface RegistrySnapshot {
  keys: PartnerKey[];
  /** Per client: the operations of all its live (not retired) manifest versions. */
  manifests: Map<string, Manifest>;
}

export const CLIENT_FILE = 'client.json';
export const manifestFile = (dir: string, client: string, version: string) => path.join(dir, client, 'manifests', `${version}.json`);

/** Reads one client's folder; throws an Error whose message names the file and the problem. */
export async function readClient(dir: string, client: string): Promise<{ entry: ClientEntry; manifest: Manifest }> {
  const file = path.join(dir, client, CLIENT_FILE);
  const entry = await readJson(file, clientEntrySchema);
  if (entry.name !== client) throw new Error(`${file}: "name" is ${entry.name}, but the folder is ${client}`);
  const operations = new Map<string, ManifestOperation>();
  for (const [version, info] of Object.entries(entry.manifests)) {
    if (info.retired) continue;
    const mfile = manifestFile(dir, client, version);
    const manifest = await readJson(mfile, manifestSchema);
    for (const op of manifest.operations) {
      if (op.id !== operationId(op.body)) throw new Error(`${mfile}: operation ${op.name} has id ${op.id}, not the sha256 of its body`);
      operations.set(op.id, op);
    }
  }
  return { entry, manifest: { client, file: path.join(dir, client), operations } };
}

async function readJson<S extends z.ZodType>(file: string, schema: S): Promise<z.infer<S>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new Error(`${file}: ${e.code === 'ENOENT' ? 'missing' : e.message}`, { cause: err });
  }
  return parseJson(file, text, schema);
}

function parseJson<S extends z.ZodType>(file: string, text: string, schema: S): z.infer<S> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: not valid JSON (${(err as Error).message})`, { cause: err });
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success)
    throw new Error(`${file}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

/** Writes JSON atomically (temp file + rename): a gateway polling the folder sees the old or the new file, never half. */
export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.${Date.now()}.tmp`;
  await writeFile(temp, `${JSON.stringify(value, null, 2)}\n`);
  await rename(temp, file);
}

export interface ClientRegistry {
  current(): RegistrySnapshot;
  /** Reads the folder now (the poll calls this; tests and start-up too). */
  refresh(): Promise<void>;
  /** Called after every read of the folder (revocations act on it). */
  onRefresh(listener: () => void): void;
  /** Files (client.json, manifests) whose last read failed: skipped, their last good state served. As of the last read of the folder. */
  badFiles(): number;
  stop(): void;
}

/**
 * Where every gateway keeps the last good text of each registry file (Redis, shared by the
 * replicas), so a gateway started while a file is broken serves what the running ones serve,
 * rather than nothing: the same key is never 200 on one replica and 401 on another.
 */
export interface LastGoodStore {
  get(file: string): Promise<string | null>;
  set(file: string, text: string): Promise<void>;
}

type FileRead = <S extends z.ZodType>(rel: string, schema: S, check?: (value: z.infer<S>) => void) => Promise<z.infer<S> | undefined>;

/**
 * Reads one registry file; a bad one (missing, not JSON, wrong shape, failing `check`) is logged once
 * per distinct problem and answered with its last good value: this process's, else the store's.
 * Per file, so a broken manifest costs that manifest only and a broken client.json that client only.
 */
function createFileReader(dir: string, log: Logger, store: LastGoodStore | undefined): { read: FileRead; endPass: () => number } {
  const good = new Map<string, { text: string; value: unknown }>();
  // Per file: its last read's problem, while it has one.
  const reported = new Map<string, string>();
  const readThisPass = new Set<string>();
  const parse = <S extends z.ZodType>(file: string, text: string, schema: S, check?: (value: z.infer<S>) => void) => {
    const value = parseJson(file, text, schema);
    check?.(value);
    return value;
  };
  const read: FileRead = async (rel, schema, check) => {
    readThisPass.add(rel);
    const file = path.join(dir, rel);
    try {
      const text = await readFile(file, 'utf8').catch((err: unknown) => {
        throw new Error(`${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : (err as Error).message}`, {
          cause: err,
        });
      });
      const value = parse(file, text, schema, check);
      if (good.get(rel)?.text !== text) {
        good.set(rel, { text, value });
        store
          ?.set(rel, text)
          .catch((err: unknown) => log.warn({ file, problem: (err as Error).message }, 'client registry: last good copy not saved'));
      }
      reported.delete(rel);
      return value;
    } catch (err) {
      const problem = (err as Error).message;
      if (reported.get(rel) !== problem) log.error({ file, problem }, 'client registry: bad file skipped, its last good state kept');
      reported.set(rel, problem);
      if (good.has(rel)) return good.get(rel)!.value as z.infer<typeof schema>;
      const saved = await store?.get(rel).catch(() => null);
      if (!saved) return undefined;
      try {
        const value = parse(file, saved, schema, check);
        good.set(rel, { text: saved, value });
        return value;
      } catch {
        return undefined;
      }
    }
  };
  // Ends a read of the folder: forgets the files it did not read (a client removed); how many it read bad.
  const endPass = () => {
    for (const rel of reported.keys()) if (!readThisPass.has(rel)) reported.delete(rel);
    readThisPass.clear();
    return reported.size;
  };
  return { read, endPass };
}

/** One client as the gateway serves it: its keys if its client.json (or its last good copy) reads; each live manifest that reads. */
async function readServedClient(
  read: FileRead,
  dir: string,
  client: string,
): Promise<{ entry: ClientEntry; manifest: Manifest } | undefined> {
  const entry = await read(path.join(client, CLIENT_FILE), clientEntrySchema, (e) => {
    if (e.name !== client) throw new Error(`"name" is ${e.name}, but the folder is ${client}`);
  });
  if (!entry) return undefined;
  const operations = new Map<string, ManifestOperation>();
  for (const [version, info] of Object.entries(entry.manifests)) {
    if (info.retired) continue;
    const manifest = await read(path.join(client, 'manifests', `${version}.json`), manifestSchema, checkIds);
    for (const op of manifest?.operations ?? []) operations.set(op.id, op);
  }
  return { entry, manifest: { client, file: path.join(dir, client), operations } };
}

const checkIds = (manifest: z.infer<typeof manifestSchema>) => {
  for (const op of manifest.operations)
    if (op.id !== operationId(op.body)) throw new Error(`operation ${op.name} has id ${op.id}, not the sha256 of its body`);
};

/** A registry that re-reads `dir` every pollMs; an empty dir (or none) is no clients. */
export async function createClientRegistry(dir: string, pollMs: number, log: Logger, store?: LastGoodStore): Promise<ClientRegistry> {
  let snapshot: RegistrySnapshot = { keys: [], manifests: new Map() };
  let badFiles = 0;
  const reader = createFileReader(dir, log, store);
  const readAll = async () => {
    const names = await readdir(dir, { withFileTypes: true }).then(
      (entries) => entries.filter((e) => e.isDirectory() && clientNameSchema.safeParse(e.name).success).map((e) => e.name),
      () => [] as string[],
    );
    const keys: PartnerKey[] = [];
    const manifests = new Map<string, Manifest>();
    for (const name of names.sort()) {
      const served = await readServedClient(reader.read, dir, name);
      if (!served) continue;
      const limits = served.entry.limits;
      for (const k of served.entry.keys)
        keys.push({ id: k.id, client: name, sha256: k.sha256, revoked: k.revoked, ...(limits ? { limits } : {}) });
      manifests.set(name, served.manifest);
    }
    snapshot = { keys, manifests };
    badFiles = reader.endPass();
    for (const listener of listeners) listener();
  };
  // One read at a time, in order: on a slow volume or a busy event loop a read can outlast the poll
  // period, and an older read finishing after a newer one would put back what the newer one saw
  // gone (a revoked key served again, a new client missing).
  let reading: Promise<void> = Promise.resolve();
  const refresh = () => (reading = reading.catch(() => undefined).then(readAll));
  const listeners: (() => void)[] = [];
  await refresh();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  // The next poll is timed from the end of the last one, so polls never pile up behind a slow read.
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      void refresh()
        .catch((err: unknown) => log.error({ problem: (err as Error).message }, 'client registry: poll failed'))
        .finally(schedule);
    }, pollMs);
    timer.unref();
  };
  schedule();
  return {
    current: () => snapshot,
    refresh,
    onRefresh: (l) => void listeners.push(l),
    badFiles: () => badFiles,
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
