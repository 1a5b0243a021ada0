import { badInput } from './errors.js';

/** Relay connections with keyset pagination: the cursor is the sort key of the last row seen. */
export interface Connection<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

export type CursorValue = string | number;

export const MAX_PAGE_SIZE = 100;

export function parseFirst(first: number | null | undefined): number {
  const n = first ?? 20;
  if (!Number.isInteger(n) || n < 1 || n > MAX_PAGE_SIZE) {
    throw badInput(`first must be between 1 and ${MAX_PAGE_SIZE}.`, { argument: 'first' });
  }
  return n;
}

export function encodeCursor(values: CursorValue[]): string {
  return Buffer.from(JSON.stringify(values)).toString('base64url');
}

/** What one cursor component must be; checked before it can reach SQL (a forged cursor is bad input, not a 500). */
export type CursorShape = 'string' | 'number' | 'timestamp' | 'id';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/;

/**
 * A timestamp Postgres will take: JavaScript's Date rolls 31 February over into March and 24:00
 * into the next day, and accepts year 0, all of which Postgres refuses (a driver error). A real
 * instant reads back as the same calendar fields it was written with.
 */
const isCalendarTimestamp = (value: string): boolean => {
  if (!ISO.test(value)) return false;
  const ms = Date.parse(value);
  return !Number.isNaN(ms) && new Date(ms).toISOString().slice(0, 19) === value.slice(0, 19) && !value.startsWith('0000');
};

const fits = (value: unknown, shape: CursorShape): boolean => {
  switch (shape) {
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'timestamp':
      return typeof value === 'string' && isCalendarTimestamp(value);
    case 'id':
      return typeof value === 'string' && UUID.test(value);
    default:
      return typeof value === 'string' && value.length <= 1000;
  }
};

/** Decodes `after`; shapes lists the expected kind of each component. */
export function decodeCursor(after: string | null | undefined, shapes: CursorShape[]): CursorValue[] | null {
  if (after === null || after === undefined) return null;
  try {
    const values = JSON.parse(Buffer.from(after, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(values) && values.length === shapes.length && values.every((v, i) => fits(v, shapes[i]!))) {
      return values as CursorValue[];
    }
  } catch {
    // fall through
  }
  throw badInput('after is not a cursor returned by this field.', { argument: 'after' });
}

/** Builds a connection from up to first + 1 rows (the extra row only says there is a next page). */
export function toConnection<T>(rows: T[], first: number, cursorOf: (row: T) => CursorValue[]): Connection<T> {
  const page = rows.slice(0, first);
  const edges = page.map((node) => ({ cursor: encodeCursor(cursorOf(node)), node }));
  return {
    edges,
    pageInfo: { hasNextPage: rows.length > first, endCursor: edges.at(-1)?.cursor ?? null },
  };
}
