import { z } from 'zod';

/**
 * Field usage (gateway/usage/): which schema coordinates each client and operation used, recorded
 * by every gateway and read by `npm run schema:usage` and `npm run schema:check`.
 */
export const usageShape = {
  USAGE_RECORDING: z
    .enum(['true', 'false'])
    .default('true')
    .describe('record field usage on this gateway (`npm run schema:usage`, `schema:check`)'),
  USAGE_FLUSH_MS: z.coerce
    .number()
    .int()
    .min(100)
    .max(600_000)
    .default(10_000)
    .describe('a gateway writes its batch of usage this often; what a killed gateway loses is at most this much'),
  USAGE_RETENTION_DAYS: z.coerce
    .number()
    .int()
    .min(1)
    .max(400)
    .default(35)
    .describe("whole UTC days of usage kept (Redis hashes expire, old files are deleted); keep it above the checks' window"),
  USAGE_MAX_ENTRIES: z.coerce
    .number()
    .int()
    .min(100)
    .max(10_000_000)
    .default(50_000)
    .describe(
      'distinct (coordinate, client, version, operation) entries a gateway holds between flushes; beyond, dropped and counted (`usage_dropped_total`)',
    ),
  USAGE_DIR: z.string().min(1).optional().describe('without Redis: the folder of per-day usage files; unset: `<DATA_DIR>/usage`'),
  DATA_DIR: z.string().min(1).optional().describe("the local data folder (`npm start`'s `.data`), under which `USAGE_DIR` defaults"),
};

/** What the usage commands read: where usage is stored. */
export const usageStorageSchema = z.object({
  USAGE_RETENTION_DAYS: usageShape.USAGE_RETENTION_DAYS,
  USAGE_DIR: usageShape.USAGE_DIR,
  DATA_DIR: usageShape.DATA_DIR,
});
