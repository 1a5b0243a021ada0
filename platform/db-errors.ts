/** Postgres SQLSTATE of a unique violation. */
const UNIQUE_VIOLATION = '23505';

/**
 * Whether err is Postgres refusing a duplicate (on `constraint` when one is named). Drizzle wraps
 * the driver's error in `cause`, so the chain is walked a few levels down.
 */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 3; e = (e as { cause?: unknown }).cause, depth++) {
    const { code, constraint_name: name } = e as { code?: unknown; constraint_name?: unknown };
    if (code === UNIQUE_VIOLATION) return constraint === undefined || name === undefined || name === constraint;
  }
  return false;
}
