import type express from 'express';
import type { GraphQLError } from 'graphql';
import type { Redis } from 'ioredis';
import type { Identity } from '../../platform/auth/identity.js';
import type { GatewayConfig } from '../../platform/config.js';
import { ErrorCode, appError } from '../../platform/errors.js';
import type { Logger } from '../../platform/logger.js';
import type { ClientAuth } from '../auth.js';
import type { ClientInfo } from '../context.js';
import { createLimiter, createLimiterSet } from './limiter.js';

/** Who a request is counted against: a partner key, else a signed-in user, else the client IP. */
export interface RateLimitSubject { kind: 'partner' | 'user' | 'ip'; key: string }

/**
 * `res.locals.identity`: the caller the rate limit verified, so the Apollo context does not verify
 * the same token twice. Unset when there was no token or a bad one (the context then answers 401).
 */
export const VERIFIED_IDENTITY = 'identity';

/**
 * Request counts per fixed window, as HTTP middleware on /graphql: a refused request gets its 429
 * before Apollo parses, plans or calls any subgraph. Partners are counted per API key (the key
 * middleware before this one set `res.locals.client`), signed-in callers per user wherever they
 * connect from, everyone else per client IP.
 *
 * The token is verified here (createClientAuth: ES256 against the cached JWKS, well under a
 * millisecond), not merely decoded: an unverified `sub` would let anyone pick a fresh bucket per
 * request. A bad token is counted against its IP, and Apollo then refuses it with 401.
 *
 * `req.ip` is the client only as far as TRUST_PROXY allows: behind nginx or a cloud load balancer
 * the socket address is the proxy's (every client would share one bucket) unless the proxy's
 * network is trusted to set X-Forwarded-For; trusting more than the real path lets clients forge it.
 */
export function createRequestRateLimit(deps: { config: GatewayConfig; redis: Redis | null; auth: ClientAuth; log: Logger }): {
  middleware: express.RequestHandler;
  /** The same counters for an operation sent over a WebSocket (no partner keys there); an error refuses it. */
  admit(identity: Identity, ip: string | undefined): Promise<GraphQLError | undefined>;
} {
  const { config, redis, auth, log } = deps;
  const window = config.RATE_LIMIT_WINDOW_SECONDS;
  const limiter = (name: RateLimitSubject['kind'], points: number) =>
    createLimiter(redis, config.EVENT_NAMESPACE, { name: `requests:${name}`, points, durationSeconds: window });
  // A partner's own requestsPerWindow (client registry) else RATE_LIMIT_PARTNER: one limiter per distinct number.
  const partnerLimiter = createLimiterSet(redis, config.EVENT_NAMESPACE, { name: 'requests:partner', durationSeconds: window });
  const limiters = {
    user: limiter('user', config.RATE_LIMIT_USER),
    ip: limiter('ip', config.RATE_LIMIT_ANONYMOUS),
  };
  const limiterFor = (subject: RateLimitSubject, client: ClientInfo | undefined) =>
    subject.kind === 'partner' ? partnerLimiter(client?.limits?.requestsPerWindow ?? config.RATE_LIMIT_PARTNER) : limiters[subject.kind];
  const subjectOf = (client: ClientInfo | undefined, identity: Identity | null, ip: string | undefined): RateLimitSubject =>
    client?.partnerId
      ? { kind: 'partner', key: client.partnerId }
      : identity?.userId
        ? { kind: 'user', key: identity.userId }
        : { kind: 'ip', key: ip ?? 'unknown' };

  const middleware: express.RequestHandler = async (req, res, next) => {
    const client = res.locals.client as ClientInfo | undefined;
    let identity: Identity | null = null;
    if (!client?.partnerId && req.header('authorization')) {
      identity = await auth.identify(req.header('authorization')).then((r) => r.identity, () => null);
      if (identity) res.locals[VERIFIED_IDENTITY] = identity;
    }
    const subject = subjectOf(client, identity, req.ip);
    const limit = limiterFor(subject, client);
    const outcome = await limit.consume(subject.key);
    // IETF RateLimit headers (draft-ietf-httpapi-ratelimit-headers): the policy, and what is left of it.
    res.setHeader('ratelimit-policy', `"${subject.kind}";q=${limit.points};w=${window}`);
    res.setHeader('ratelimit', `"${subject.kind}";r=${outcome.allowed ? outcome.remaining : 0};t=${outcome.allowed ? outcome.resetSeconds : outcome.retryAfterSeconds}`);
    if (outcome.allowed) return void next();
    log.info({ subject: subject.kind, key: subject.kind === 'ip' ? subject.key : undefined, requestId: res.locals.requestId }, 'rate limited');
    res.status(429).setHeader('retry-after', String(outcome.retryAfterSeconds)).setHeader('cache-control', 'no-store');
    res.json({
      errors: [
        {
          message: `Too many requests; retry after ${outcome.retryAfterSeconds} s.`,
          extensions: { code: ErrorCode.RATE_LIMITED, retryAfterSeconds: outcome.retryAfterSeconds },
        },
      ],
    });
  };
  const admit = async (identity: Identity, ip: string | undefined) => {
    const subject = subjectOf(undefined, identity, ip);
    const outcome = await limiterFor(subject, undefined).consume(subject.key);
    if (outcome.allowed) return undefined;
    return appError(ErrorCode.RATE_LIMITED, `Too many requests; retry after ${outcome.retryAfterSeconds} s.`, { retryAfterSeconds: outcome.retryAfterSeconds });
  };
  return { middleware, admit };
}
