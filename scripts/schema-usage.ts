import path from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { parseConfig, redisSchema } from '../platform/config.js';
import { usageStorageSchema } from '../platform/config/usage.js';
import { createLogger } from '../platform/logger.js';
import { mergeUsage, openUsageStorage } from '../gateway/usage/index.js';
import type { UsageEntry, UsageStore } from '../gateway/usage/index.js';
import { ExplainedError, runScript } from './run-script.js';

/**
 * `npm run schema:usage -- --coordinate Product.price [--coordinate …] [--days 30] [--json]`: who used
 * a schema coordinate in the last N days (today included, UTC), how often and when last, per client,
 * version and operation; read from where the gateways record it (Redis, else USAGE_DIR).
 */
const USAGE = `usage: npm run schema:usage -- --coordinate <Type.field | Type.field(arg:) | Enum.VALUE | Type>… [--days 30] [--json]`;

/** What the commands read to find the usage storage: the same variables as the gateways. */
export const usageCommandSchema = redisSchema.extend({
  EVENT_NAMESPACE: z
    .string()
    .regex(/^[\w:.-]*$/)
    .default(''),
  ...usageStorageSchema.shape,
});

/** Every use of the coordinates within the window, summed per (coordinate, client, version, operation), most used first. */
export async function coordinateUsage(store: UsageStore, coordinates: string[], days: number, now = Date.now()): Promise<UsageEntry[]> {
  const entries = await Promise.all(coordinates.map((coordinate) => store.read({ coordinate, days, now })));
  return mergeUsage(entries.flat());
}

const clientLabel = (e: UsageEntry) => `${e.client || '(unnamed)'}${e.partnerId ? ` [partner ${e.partnerId}]` : ''}`;

/** A plain-text table, one row per client, version and operation. */
export function formatUsageTable(entries: UsageEntry[], days: number): string {
  if (!entries.length) return `no recorded use in the last ${days} day(s)`;
  const rows = entries.map((e) => [
    e.coordinate,
    clientLabel(e),
    e.version || '-',
    e.operation,
    String(e.count),
    new Date(e.lastSeen).toISOString(),
  ]);
  const header = ['coordinate', 'client', 'version', 'operation', 'requests', 'last seen (UTC)'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export const parseDays = (value: string | undefined, fallback = 30): number => {
  const days = value === undefined ? fallback : Number(value);
  if (!Number.isInteger(days) || days < 1 || days > 400)
    throw new ExplainedError(`--days must be a whole number from 1 to 400, got "${value}"`);
  return days;
};

async function main(argv: string[]): Promise<void> {
  let values: { coordinate?: string[]; days?: string; json?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { coordinate: { type: 'string', multiple: true }, days: { type: 'string' }, json: { type: 'boolean' } },
    }));
  } catch (err) {
    throw new ExplainedError(`${(err as Error).message}\n${USAGE}`);
  }
  if (!values.coordinate?.length) throw new ExplainedError(USAGE);
  const days = parseDays(values.days);
  const config = parseConfig(usageCommandSchema);
  const storage = openUsageStorage(config, createLogger('schema-usage', 'error'));
  try {
    const entries = await coordinateUsage(storage.store, values.coordinate, days);
    if (values.json)
      console.log(JSON.stringify({ coordinates: values.coordinate, days, storage: storage.store.kind, uses: entries }, null, 2));
    else console.log(formatUsageTable(entries, days));
  } finally {
    await storage.close();
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === import.meta.filename) {
  await runScript(() => main(process.argv.slice(2)));
}
