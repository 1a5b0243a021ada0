import { pino } from 'pino';
import type { Logger as PinoLogger } from 'pino';
import { activeTraceId } from './observability/tracing.js';
import { requestScope } from './request-scope.js';

export type Logger = PinoLogger;

/**
 * JSON logs. Inside a request every line carries its `requestId` and, when tracing, `traceId`.
 * Credentials are redacted wherever they commonly appear (headers, inputs, nested objects).
 */
export function createLogger(service: string, level = 'info', destination?: string): Logger {
  return pino(
    {
      name: service,
      level,
      base: { service },
      mixin: () => {
        const requestId = requestScope.getStore()?.requestId;
        const traceId = activeTraceId();
        return { ...(requestId ? { requestId } : {}), ...(traceId ? { traceId } : {}) };
      },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      serializers: { err: serializeError },
    },
    // Asynchronous appends; the directory is created if missing.
    destination ? pino.destination({ dest: destination, sync: false, mkdir: true }) : undefined,
  );
}

const SECRET_HEADERS = ['.authorization', '["x-api-key"]', '["x-internal-token"]', '.cookie', '["set-cookie"]'];
const SECRET_FIELDS = ['password', 'token', 'cardToken', 'apiKey', 'authorization', 'cookie'];

const REDACTED_PATHS = [
  ...['req.headers', 'res.headers', 'headers', '*.headers'].flatMap((at) => SECRET_HEADERS.map((h) => `${at}${h}`)),
  ...SECRET_FIELDS.flatMap((f) => [f, `*.${f}`, `*.*.${f}`, `variables.*.*.${f}`]),
];

/**
 * Database errors carry what the statement carried: Drizzle's DrizzleQueryError repeats every
 * bound parameter in its message ("Failed query: …\nparams: a,b,…") and in `params`, postgres.js
 * keeps them in `parameters` / `args`, and Postgres's `detail` of a constraint violation repeats the
 * whole row ("Failing row contains (…)"). For a signUp that is the password hash. The statement
 * text, error code and constraint name stay: they say what went wrong without any value.
 */
const DRIVER_VALUE_KEYS = new Set(['params', 'parameters', 'args', 'detail']);
const REDACTED = '[redacted]';

/** `params: <list>` exactly as each Drizzle error in the cause chain wrote it into its message. */
function paramListsOf(err: unknown): string[] {
  const lists: string[] = [];
  for (
    let e = err as { params?: unknown; cause?: unknown } | undefined, depth = 0;
    e && typeof e === 'object' && depth < 10;
    e = e.cause as never, depth++
  ) {
    if (Array.isArray(e.params)) lists.push(`params: ${String(e.params)}`);
  }
  return lists;
}

/** Anything after "params: " in a bare message string (a Drizzle message ends with its parameters). */
const redactParamsText = (text: string, lists: readonly string[] = []) =>
  lists
    .reduce((t, list) => t.split(list).join(`params: ${REDACTED}`), text)
    .replace(/\nparams: (?!\[redacted\])[^\n]*/g, `\nparams: ${REDACTED}`);

function scrub(value: unknown, lists: readonly string[], depth = 0): unknown {
  if (typeof value === 'string') return redactParamsText(value, lists);
  if (!value || typeof value !== 'object' || depth > 6) return value;
  if (Array.isArray(value)) return value.map((v) => scrub(v, lists, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) out[key] = DRIVER_VALUE_KEYS.has(key) ? REDACTED : scrub(inner, lists, depth + 1);
  return out;
}

/** pino's `err` serializer (type, message and stack with causes), minus every value a statement carried. */
export function serializeError(err: unknown): unknown {
  return scrub(pino.stdSerializers.err(err as Error), paramListsOf(err));
}

/** The logger interface of Apollo Server and Apollo Gateway (`@apollo/utils.logger`'s `Logger`). */
export interface ApolloLogger {
  debug(message?: unknown): void;
  info(message?: unknown): void;
  warn(message?: unknown): void;
  error(message?: unknown): void;
}

/**
 * Apollo Server's and Apollo Gateway's own messages (a request during shutdown, a schema loaded,
 * a plugin's failure) as lines of this service's JSON log, not plain text on the console beside
 * it, where a log pipeline that parses JSON drops or mangles them. An Error goes through the
 * same serializer as ours (no statement parameters).
 */
export function createApolloLogger(log: Logger): ApolloLogger {
  const apollo = log.child({ component: 'apollo' });
  const at =
    (level: 'debug' | 'info' | 'warn' | 'error') =>
    (message?: unknown): void => {
      // The message through the serializer too: a driver's error repeats its statement's values there.
      if (message instanceof Error) apollo[level]({ err: message }, (serializeError(message) as { message: string }).message);
      else apollo[level](typeof message === 'string' ? message : String(message));
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
