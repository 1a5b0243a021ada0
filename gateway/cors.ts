import cors from 'cors';
import type express from 'express';
import type { GatewayConfig } from '../platform/config.js';
import { CONSISTENCY_TOKEN_HEADER } from './consistency.js';

/**
 * CORS for browser apps on other origins (CORS_ORIGINS), with the `cors` package. Mounted first on
 * /graphql: a preflight (OPTIONS with Access-Control-Request-Method) is answered 204 here, before
 * Apollo's CSRF prevention, which would refuse it as a simple request without a preflight header.
 * An origin not listed gets no Access-Control-Allow-Origin, so the browser refuses the answer; the
 * allow-list is checked per request, so every answer carries `Vary: Origin` (caches and CDNs keep
 * one copy per origin). No list: no middleware, same-origin only, as before.
 */
export function createCors(config: Pick<GatewayConfig, 'CORS_ORIGINS' | 'CONSISTENCY_COOKIE'>): express.RequestHandler | undefined {
  if (config.CORS_ORIGINS.length === 0) return undefined;
  return cors({
    origin: config.CORS_ORIGINS,
    methods: ['GET', 'POST'],
    // Credentials (the read-your-writes cookie) only when the gateway sets that cookie at all.
    credentials: config.CONSISTENCY_COOKIE === 'true',
    // The token header is how a script (not the cookie jar) carries read-your-writes to its next request.
    exposedHeaders: [CONSISTENCY_TOKEN_HEADER],
    // Browsers cap this (Chromium: 2 h); one preflight per operation shape for 10 minutes.
    maxAge: 600,
  });
}
