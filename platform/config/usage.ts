import { z } from 'zod';

/**
 * Field usage (gateway/usage/): which schema coordinates each client and operation used, recorded
 * by every gateway and read by `npm run schema:usage` and `npm run schema:check`.
 */
export const usageShape = {
  /** Record field usage on this gateway. (true) */
  USAGE_RECORDING: z.enum(['true', 'false']).default('true'),
  /** A gateway writes its batch of usage this often; what a killed gateway loses is at most this much. (10 s) */
  USAGE_FLUSH_MS: z.coerce.number().int().min(100).max(600_000).default(10_000),
  /** Whole UTC days of usage kept (Redis hashes expire, old files are deleted); keep it above the checks' window. (35) */
  USAGE_RETENTION_DAYS: z.coerce.number().int().min(1).max(400).default(35),
  /** Distinct (coordinate, client, version, operation) entries a gateway holds between flushes; beyond, dropped and counted. (50,000) */
  USAGE_MAX_ENTRIES: z.coerce.number().int().min(100).max(10_000_000).default(50_000),
  /** Without Redis: the folder of per-day usage files; unset, `<DATA_DIR>/usage` (`.data/usage`). */
  USAGE_DIR: z.string().min(1).optional(),
  /** The local data folder (`npm start`'s `.data`), under which USAGE_DIR defaults. */
  DATA_DIR: z.string().min(1).optional(),
};

/** What the usage commands read: where usage is stored. */
export const usageStorageSchema = z.object({
  USAGE_RETENTION_DAYS: usageShape.USAGE_RETENTION_DAYS,
  USAGE_DIR: usageShape.USAGE_DIR,
  DATA_DIR: usageShape.DATA_DIR,
});
