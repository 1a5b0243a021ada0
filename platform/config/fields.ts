import { z } from 'zod';

/** The zod building blocks every service's config schema is made of. */

export const csv = z
  .string()
  .optional()
  .transform((v) =>
    (v ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );

export const json = <T extends z.ZodType>(inner: T) =>
  z
    .string()
    .transform((raw, ctx) => {
      try {
        return JSON.parse(raw) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be valid JSON' });
        return z.NEVER;
      }
    })
    .pipe(inner);

export const port = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback).describe('listen port');
/**
 * Where GET /metrics is served: a port of its own, so the public port never answers it. Prometheus
 * scrapes it on the instance's own address.
 */
export const metricsPort = (fallback: number) =>
  z.coerce
    .number()
    .int()
    .min(0)
    .max(65535)
    .default(fallback)
    .describe('where `GET /metrics` is served, never on the public port; `0`: any free port (as tests use)');

export const jwk = z.looseObject({ kty: z.string(), kid: z.string().min(1) });
export const jwks = z.object({ keys: z.array(jwk).min(1) });

export const serviceUrl = z.url({ protocol: /^https?$/ });

export const positiveInt = (fallback: number) => z.coerce.number().int().min(1).default(fallback);
