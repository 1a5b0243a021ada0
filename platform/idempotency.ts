import { createHash } from 'node:crypto';
import { and, eq, lt, sql } from 'drizzle-orm';
import { jsonb, pgTable, primaryKey, text, timestamp, index } from 'drizzle-orm/pg-core';
import { GraphQLError } from 'graphql';
import type { PgTransaction } from 'drizzle-orm/pg-core';
import { z } from 'zod';
import type { Db } from './db.js';
import { ErrorCode, appError, badInput, isPublicError } from './errors.js';

/**
 * Stripe-style idempotency keys. Each service that needs them exports this table from its own
 * Drizzle schema (so it lands in that service's database and migrations).
 */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    scope: text('scope').notNull(),
    operation: text('operation').notNull(),
    key: text('key').notNull(),
    requestHash: text('request_hash').notNull(),
    /** { ok: result } or { error: { message, extensions } }; null only inside the first attempt's transaction. */
    response: jsonb('response').$type<StoredResponse>(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.scope, t.operation, t.key] }), index('idempotency_keys_created_at_idx').on(t.createdAt)],
);

type StoredResponse = { ok: unknown } | { error: { message: string; extensions: Record<string, unknown> } };

export const IDEMPOTENCY_RETENTION_HOURS = 48;

/** The one rule for a client's idempotency key, in mutation inputs (parseInput) and in runIdempotent. */
export const idempotencyKeySchema = z.string().min(8, 'must be 8 to 255 characters').max(255, 'must be 8 to 255 characters');

export function validateIdempotencyKey(key: string): void {
  if (!idempotencyKeySchema.safeParse(key).success) {
    throw badInput('idempotencyKey must be 8 to 255 characters.', { argument: 'idempotencyKey' });
  }
}

export function hashRequest(input: unknown): string {
  return createHash('sha256').update(stableStringify(input)).digest('hex');
}

function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => a.localeCompare(b));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Tx = PgTransaction<any, any, any>;

export interface IdempotentRequest {
  scope: string;
  operation: string;
  key: string;
  input: unknown;
}

/**
 * Runs `work` at most once per (scope, operation, key), inside one transaction on the primary.
 *
 * The key row is inserted first, in the same transaction as the work: a concurrent retry's insert
 * blocks on that row until the first attempt commits (then it replays the stored result) or rolls
 * back (then it does the work itself). Public errors thrown by `work` roll back its writes (a
 * savepoint) but are stored and replayed like results; `work` may also return `{ error }` to keep
 * its writes and still fail (a declined card leaves a FAILED payment behind). Unexpected errors and
 * SERVICE_UNAVAILABLE roll back everything, key included, so the client can retry.
 */
export async function runIdempotent<T>(
  db: Db<Record<string, unknown>>,
  request: IdempotentRequest,
  work: (tx: Tx) => Promise<T | { error: GraphQLError }>,
): Promise<T> {
  validateIdempotencyKey(request.key);
  const requestHash = hashRequest(request.input);
  const outcome = await db.transaction(async (tx): Promise<StoredResponse> => {
    const inserted = await tx
      .insert(idempotencyKeys)
      .values({ scope: request.scope, operation: request.operation, key: request.key, requestHash })
      .onConflictDoNothing()
      .returning({ key: idempotencyKeys.key });
    const where = and(
      eq(idempotencyKeys.scope, request.scope),
      eq(idempotencyKeys.operation, request.operation),
      eq(idempotencyKeys.key, request.key),
    );
    if (inserted.length === 0) {
      const [existing] = await tx.select().from(idempotencyKeys).where(where);
      if (existing?.requestHash !== requestHash) {
        throw appError(ErrorCode.IDEMPOTENCY_KEY_REUSED, 'This idempotency key was already used with a different input.');
      }
      if (!existing.response) throw new Error('idempotency row committed without a response');
      return existing.response;
    }
    let response: StoredResponse;
    try {
      const result = await tx.transaction((inner) => work(inner as Tx));
      response = isErrorOutcome(result) ? { error: serialize(result.error) } : { ok: result };
    } catch (err) {
      // A dependency being down is not an outcome to replay: the key goes too, so a retry does the work.
      if (!isPublicError(err) || err.extensions.code === ErrorCode.SERVICE_UNAVAILABLE) throw err;
      response = { error: serialize(err) };
    }
    await tx.update(idempotencyKeys).set({ response }).where(where);
    return response;
  });
  if ('error' in outcome) {
    throw new GraphQLError(outcome.error.message, { extensions: outcome.error.extensions });
  }
  return outcome.ok as T;
}

function isErrorOutcome(value: unknown): value is { error: GraphQLError } {
  return typeof value === 'object' && value !== null && 'error' in value && value.error instanceof GraphQLError;
}

function serialize(err: GraphQLError) {
  return { message: err.message, extensions: { ...err.extensions } };
}

/** Deletes keys older than the retention window; returns how many. */
export async function pruneIdempotencyKeys(db: Db<Record<string, unknown>>): Promise<number> {
  const rows = await db
    .delete(idempotencyKeys)
    .where(lt(idempotencyKeys.createdAt, sql`now() - make_interval(hours => ${IDEMPOTENCY_RETENTION_HOURS})`))
    .returning({ key: idempotencyKeys.key });
  return rows.length;
}
