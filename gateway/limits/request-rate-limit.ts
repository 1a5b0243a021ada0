import type express from 'express';
import type { GraphQLError } from 'graphql';
import type { RedisGuard } from '../../platform/redis-guard.js';
import type { Identity } from '../../platform/auth/identity.js';
import type { GatewayConfig } from '../../platform/config.js';
import { ErrorCode, appError } from '../../platform/errors.js';
import type { Logger } from '../../platform/logger.js';
import { sendErrors } from '../../platform/http.js';
import type { ClientInfo } from '../context.js';
import { edgeOf } from '../edge.js';
import { createLimiter, createLimiterSet } from './limiter.js';

const tooManyRequests = (retryAfterSeconds: number) =>
  appError(ErrorCode.RATE_LIMITED, `Too many requests; retry after ${retryAfterSeconds} s.`, { retryAfterSeconds });

/** Who a request is counted against: a partner key, else a signed-in user, else the client IP. */
export interface RateLimitSubject {
  kind: 'partner' | 'user' | 'ip';
  key: string;
}

/**
 * Request counts per fixed window, as HTTP middleware on /graphql: a refused request gets its 429
 * before Apollo parses, plans or calls any subgraph. Who is counted comes from the edge
 * (gateway/edge.ts, which verified the token): partners per API key, signed-in callers per user
 * wherever they connect from, everyone else per client IP. A bad token is counted against its
 * IP, and the Apollo context then refuses it with 401.
 *
 * `req.ip` is the client only as far as TRUST_PROXY allows: behind nginx or a cloud load balancer
 * the socket address is the proxy's (every client would share one bucket) unless the proxy's
 * network is trusted to set X-Forwarded-For; trusting more than the real path lets clients forge it.
 */
export function createRequestRateLimit(deps: { config: GatewayConfig; redis: RedisGuard | null; log: Logger }): {
  middleware: express.RequestHandler;
  /** The same counters for an operation sent over a WebSocket (no partner keys there); an error refuses it. */
  admit: (identity: Identity, ip: string | undefined) => Promise<GraphQLError | undefined>;
} {
  const { config, redis, log } = deps;
  const window = config.RATE_LIMIT_WINDOW_SECONDS;
  const limiter = (name: RateLimitSubject['kind'], points: number) =>
    createLimiter(redis, config.EVENT_NAMESPACE, {
      name: `requests:${name}`,
      points,
      durationSeconds: window,
      lease: config.RATE_LIMIT_LEASE,
    });
  // A partner's own requestsPerWindow (client registry) else RATE_LIMIT_PARTNER: one limiter per distinct number.
  const partnerLimiter = createLimiterSet(redis, config.EVENT_NAMESPACE, {
    name: 'requests:partner',
    durationSeconds: window,
    lease: config.RATE_LIMIT_LEASE,
  });
  const limiters = {
    user: limiter('user', config.RATE_LIMIT_USER),
    ip: limiter('ip', config.RATE_LIMIT_ANONYMOUS),
  };
  const limiterFor = (subject: RateLimitSubject, client: ClientInfo | undefined) =>
    subject.kind === 'partner' ? partnerLimiter(client?.limits?.requestsPerWindow ?? config.RATE_LIMIT_PARTNER) : limiters[subject.kind];
  const subjectOf = (client: ClientInfo | undefined, identity: Identity, ip: string | undefined): RateLimitSubject =>
    client?.partnerId
      ? { kind: 'partner', key: client.partnerId }
      : identity.userId
        ? { kind: 'user', key: identity.userId }
        : { kind: 'ip', key: ip ?? 'unknown' };

  const middleware: express.RequestHandler = async (_req, res, next) => {
    const { client, identity, ip, requestId } = edgeOf(res);
    const subject = subjectOf(client, identity, ip);
    const limit = limiterFor(subject, client);
    const outcome = await limit.consume(subject.key);
    // IETF RateLimit headers (draft-ietf-httpapi-ratelimit-headers): the policy, and what is left of it.
    res.setHeader('ratelimit-policy', `"${subject.kind}";q=${limit.points};w=${window}`);
    res.setHeader(
      'ratelimit',
      `"${subject.kind}";r=${outcome.allowed ? outcome.remaining : 0};t=${outcome.allowed ? outcome.resetSeconds : outcome.retryAfterSeconds}`,
    );
    if (outcome.allowed) {
      next();
      return;
    }
    log.info({ subject: subject.kind, key: subject.kind === 'ip' ? subject.key : undefined, requestId }, 'rate limited');
    sendErrors(res, 429, tooManyRequests(outcome.retryAfterSeconds), { 'retry-after': String(outcome.retryAfterSeconds) });
  };
  const admit = async (identity: Identity, ip: string | undefined) => {
    const subject = subjectOf(undefined, identity, ip);
    const outcome = await limiterFor(subject, undefined).consume(subject.key);
    return outcome.allowed ? undefined : tooManyRequests(outcome.retryAfterSeconds);
  };
  return { middleware, admit };
}
