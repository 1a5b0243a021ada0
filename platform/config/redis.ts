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
  REDIS_URL: z
    .url({ protocol: /^rediss?$/ })
    .optional()
    .describe(
      'Redis for event streams, pub/sub, caches and limits; unset (and no `REDIS_SENTINELS`): the in-process bus. With Sentinel it still carries the password, user and db',
    ),
  REDIS_SENTINELS: sentinelList.describe(
    "Redis through Sentinel: comma-separated `host:port` of the sentinels to ask where the primary is; when set, `REDIS_URL`'s host is ignored — see When Redis misbehaves in operators",
  ),
  REDIS_MASTER_NAME: z.string().min(1).default('mymaster').describe("the primary's name in the sentinels' configuration"),
  REDIS_SENTINEL_PASSWORD: z.string().min(1).optional().describe("the sentinels' password (unset: none)"),
  // A frozen Redis still looks connected: only a deadline per command notices it.
  REDIS_COMMAND_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(1)
    .max(60_000)
    .default(50)
    .describe(
      'deadline of one Redis command on a request path (rate limits, APQ, sign-in attempts; the caches use `CACHE_TIMEOUT_MS`, subscription replay reads at least 1 s); past it the feature takes its fallback',
    ),
});
export type RedisConfig = z.infer<typeof redisSchema>;
