import { appendFile, mkdir, readFile, readdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Redis } from 'ioredis';

/** Who used one schema coordinate, in which operation. */
export interface UsageKey {
  coordinate: string;
  /** `apollographql-client-name`, or the partner's name once its API key is verified; '' when unnamed. */
  client: string;
  version: string;
  /** The verified partner's id ('' for first-party clients, whose name is only a claim). */
  partnerId: string;
  operation: string;
}

/** Counts of one key over one UTC day (when written) or over a window (when summed by `mergeUsage`). */
export interface UsageEntry extends UsageKey {
  day: string;
  count: number;
  /** Epoch ms of the last request seen, as known at its gateway's flush. */
  lastSeen: number;
}

export interface UsageQuery {
  /** Whole UTC days back, today included. */
  days: number;
  /** Only this coordinate (else every coordinate of the window). */
  coordinate?: string;
  now?: number;
}

/** Shared storage of field usage: every gateway writes its batches, the commands read. */
export interface UsageStore {
  readonly kind: 'redis' | 'file';
  write(entries: UsageEntry[]): Promise<void>;
  read(query: UsageQuery): Promise<UsageEntry[]>;
}

const DAY_MS = 86_400_000;
export const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const windowDays = ({ days, now = Date.now() }: UsageQuery) =>
  Array.from({ length: Math.max(1, days) }, (_, i) => utcDay(now - i * DAY_MS));

/** A key as one string: JSON, so a client name with any character in it never splits wrongly, and a prefix match is exact. */
const encodeKey = (k: UsageKey) => JSON.stringify([k.coordinate, k.client, k.version, k.partnerId, k.operation]);
const decodeKey = (field: string): UsageKey => {
  const [coordinate, client, version, partnerId, operation] = JSON.parse(field) as string[];
  return { coordinate: coordinate!, client: client!, version: version!, partnerId: partnerId!, operation: operation! };
};
/** The HSCAN pattern of one coordinate's fields: the JSON prefix, glob characters escaped. */
const coordinatePattern = (coordinate: string) =>
  `${JSON.stringify([coordinate])
    .slice(0, -1)
    .replace(/[*?[\]\\]/g, '\\$&')},*`;

/** Sums entries of the same key across days: count added, lastSeen the latest, day the latest. */
export function mergeUsage(entries: UsageEntry[]): UsageEntry[] {
  const merged = new Map<string, UsageEntry>();
  for (const e of entries) {
    const id = encodeKey(e);
    const seen = merged.get(id);
    if (!seen) merged.set(id, { ...e });
    else {
      seen.count += e.count;
      seen.lastSeen = Math.max(seen.lastSeen, e.lastSeen);
      if (e.day > seen.day) seen.day = e.day;
    }
  }
  return [...merged.values()].sort((a, b) => b.count - a.count);
}

/**
 * One round trip per day in a batch: counts added (HINCRBY), last-seen kept at its maximum (two
 * gateways flush in any order), and the day's TTL renewed. A script, so a batch lands whole or not.
 */
const WRITE_DAY = `
local ttl = tonumber(ARGV[1])
for i = 2, #ARGV, 3 do
  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
  local last = tonumber(redis.call('HGET', KEYS[2], ARGV[i]) or '0')
  if tonumber(ARGV[i + 2]) > last then redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 2]) end
end
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('EXPIRE', KEYS[2], ttl)
return 1`;

/** Redis: per UTC day, a hash of counts `<prefix><day>` and one of last-seen times `<prefix>last:<day>`, each expiring after the retention. */
export function createRedisUsageStore(redis: Pick<Redis, 'eval' | 'hscan' | 'hmget'>, prefix: string, retentionDays: number): UsageStore {
  const ttl = String(retentionDays * 86_400);
  return {
    kind: 'redis',
    async write(entries) {
      for (const [day, batch] of groupByDay(entries)) {
        const args = batch.flatMap((e) => [encodeKey(e), String(e.count), String(e.lastSeen)]);
        await redis.eval(WRITE_DAY, 2, `${prefix}${day}`, `${prefix}last:${day}`, ttl, ...args);
      }
    },
    async read(query) {
      const out: UsageEntry[] = [];
      for (const day of windowDays(query)) {
        const fields = await scanDay(redis, `${prefix}${day}`, query.coordinate ? coordinatePattern(query.coordinate) : '*');
        if (!fields.length) continue;
        const last = await redis.hmget(`${prefix}last:${day}`, ...fields.map(([f]) => f));
        fields.forEach(([field, count], i) => out.push({ ...decodeKey(field), day, count: Number(count), lastSeen: Number(last[i] ?? 0) }));
      }
      return out;
    },
  };
}

async function scanDay(redis: Pick<Redis, 'hscan'>, key: string, pattern: string): Promise<[string, string][]> {
  const fields: [string, string][] = [];
  let cursor = '0';
  do {
    const [next, flat] = await redis.hscan(key, cursor, 'MATCH', pattern, 'COUNT', 1000);
    for (let i = 0; i < flat.length; i += 2) fields.push([flat[i]!, flat[i + 1]!]);
    cursor = next;
  } while (cursor !== '0');
  return fields;
}

function groupByDay(entries: UsageEntry[]): Map<string, UsageEntry[]> {
  const byDay = new Map<string, UsageEntry[]>();
  for (const e of entries) byDay.set(e.day, [...(byDay.get(e.day) ?? []), e]);
  return byDay;
}

/**
 * Without Redis (`npm start`, one machine): one JSON-lines file per UTC day under `dir`, appended
 * at each flush (an append of a batch is one write, so two local gateways never interleave lines),
 * files past the retention deleted. Read by summing lines.
 */
export function createFileUsageStore(dir: string, retentionDays: number): UsageStore {
  const file = (day: string) => path.join(dir, `${day}.jsonl`);
  return {
    kind: 'file',
    async write(entries) {
      await mkdir(dir, { recursive: true });
      for (const [day, batch] of groupByDay(entries)) await appendFile(file(day), batch.map((e) => `${JSON.stringify(e)}\n`).join(''));
      await pruneFiles(dir, retentionDays);
    },
    async read(query) {
      const out: UsageEntry[] = [];
      for (const day of windowDays(query)) {
        const text = await readFile(file(day), 'utf8').catch(() => '');
        for (const line of text.split('\n')) {
          if (!line.trim()) continue;
          const e = JSON.parse(line) as UsageEntry;
          if (!query.coordinate || e.coordinate === query.coordinate) out.push(e);
        }
      }
      // Each flush appended its own line: summed here (across days too, as every reader does).
      return mergeUsage(out);
    },
  };
}

async function pruneFiles(dir: string, retentionDays: number): Promise<void> {
  const oldest = utcDay(Date.now() - retentionDays * DAY_MS);
  for (const name of await readdir(dir).catch(() => [] as string[]))
    if (/^\d{4}-\d{2}-\d{2}\.jsonl$/.test(name) && name.slice(0, 10) < oldest) await unlink(path.join(dir, name)).catch(() => undefined);
}
