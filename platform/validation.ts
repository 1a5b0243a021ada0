import { z } from 'zod';
import { badInput } from './errors.js';

/** Validates resolver input; the first problem becomes BAD_USER_INPUT naming the field. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, argument = 'input'): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = [argument, ...issue.path.map(String)].join('.');
  throw badInput(`${field}: ${issue.message}`, { field });
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** IDs are opaque to clients; anything that is not one of ours simply matches nothing. */
export const isId = (value: string) => UUID.test(value);
export const onlyIds = (values: readonly string[]) => values.filter(isId);
/**
 * An id that narrows a list (a filter): a malformed one is a client mistake, BAD_USER_INPUT, and
 * never reaches SQL (Postgres refuses it as a uuid). An id that names the one thing to fetch or
 * change matches nothing instead (null / NOT_FOUND), like an id that does not exist.
 */
export const idSchema = z.string().refine(isId, 'is not a valid id');

export const moneySchema = {
  cents: z.number().int().min(0).max(1_000_000_000),
  currency: z.string().regex(/^[A-Z]{3}$/, 'must be an ISO-4217 code such as USD'),
};
