import { z } from 'zod';

/** How every service reaches Redis: one server (REDIS_URL) or a primary found through Sentinel. */

/** `host:port` pairs, comma-separated; empty or unset = no Sentinel. */
const sentinelList = z
  .string()
  .optional()
  .transform((v, ctx) => {
    const items = (v ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const parsed = items.map((item) => /^(\[[^\]]+\]|[^\s:[\]]+):(\d{1,5})$/.exec(item));
    const bad = items.filter((_, i) => !parsed[i] || Number(parsed[i][2]) > 65535);
    if (bad.length) {
      ctx.addIssue({ code: 'custom', message: `expected host:port[,host:port…], got "${bad.join('", "')}"` });
      return z.NEVER;
    }
    return parsed.map((m) => ({ host: m![1]!.replace(/^\[|\]$/g, ''), port: Number(m![2]) }));
  });

export const redisSchema = z.object({
  /** Redis for events, live fan-out, caches and limits; unset (and no REDIS_SENTINELS) = embedded in-process bus. */
  REDIS_URL: z.url({ protocol: /^rediss?$/ }).optional(),
  /** Sentinels to ask where the primary is; when set, REDIS_URL's host is ignored (its password and db still apply). */
  REDIS_SENTINELS: sentinelList,
  /** The primary's name in the sentinels' configuration. */
  REDIS_MASTER_NAME: z.string().min(1).default('mymaster'),
  REDIS_SENTINEL_PASSWORD: z.string().min(1).optional(),
  /**
   * Deadline of one Redis command on a request path (rate limits, APQ, sign-in attempts, caches,
   * subscription replay); past it the feature takes its fallback. A frozen Redis still looks connected.
   */
  REDIS_COMMAND_TIMEOUT_MS: z.coerce.number().int().min(1).max(60_000).default(50),
});
export type RedisConfig = z.infer<typeof redisSchema>;
