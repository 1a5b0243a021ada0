import { pino } from 'pino';
import type { Logger as PinoLogger } from 'pino';
import { activeTraceId } from './observability/tracing.js';
import { requestScope } from './request-scope.js';

export type Logger = PinoLogger;

/**
 * JSON logs. Inside a request every line carries its `requestId` and, when tracing, `traceId`.
 * Credentials are redacted wherever they commonly appear (headers, inputs, nested objects).
 */
export function createLogger(service: string, level: string = process.env.LOG_LEVEL ?? 'info', destination?: string): Logger {
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
