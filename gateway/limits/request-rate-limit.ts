import type { GraphQLError } from 'graphql';
import type { RedisGuard } from '../../platform/redis-guard.js';
import type { Identity } from '../../platform/auth/identity.js';
import type { GatewayConfig } from '../../platform/config.js';
import { ErrorCode, appError } from '../../platform/errors.js';
import type { Logger } from '../../platform/logger.js';
import type { ClientInfo, EdgeRequest } from '../request.js';
import { createLimiter, createLimiterSet } from './limiter.js';

const tooManyRequests = (retryAfterSeconds: number) =>
  appError(ErrorCode.RATE_LIMITED, `Too many requests; retry after ${retryAfterSeconds} s.`, { retryAfterSeconds });

/** One request's count: the RateLimit headers to answer with, and the 429 when it is over its limit. */
export interface RateCount {
  headers: Record<string, string>;
  refusal?: { status: 429; error: GraphQLError; headers: Record<string, string> };
}

export type RequestRateLimit = (edge: EdgeRequest) => Promise<RateCount>;

/** Who a request is counted against: a partner key, else a signed-in user, else the client IP. */
export interface RateLimitSubject {
  kind: 'partner' | 'user' | 'ip';
  key: string;
}

/**
 * Request counts per fixed window: the edge's admission step (gateway/edge/), on every transport,
 * so a refused HTTP request gets its 429 before Apollo parses, plans or calls any subgraph, and a
 * WebSocket operation is counted against the same bucket. Who is counted comes from the edge's
 * identity step (which verified the token): partners per API key, signed-in callers per user
 * wherever they connect from, everyone else per client IP. A bad token is counted against its
 * IP, and the Apollo context then refuses it with 401.
 *
 * `req.ip` is the client only as far as TRUST_PROXY allows: behind nginx or a cloud load balancer
 * the socket address is the proxy's (every client would share one bucket) unless the proxy's
 * network is trusted to set X-Forwarded-For; trusting more than the real path lets clients forge it.
 */
export function createRequestRateLimit(deps: { config: GatewayConfig; redis: RedisGuard | null; log: Logger }): RequestRateLimit {
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

  return async ({ client, identity, ip, requestId }) => {
    const subject = subjectOf(client, identity, ip);
    const limit = limiterFor(subject, client);
    const outcome = await limit.consume(subject.key);
    const left = outcome.allowed ? `r=${outcome.remaining};t=${outcome.resetSeconds}` : `r=0;t=${outcome.retryAfterSeconds}`;
    // IETF RateLimit headers (draft-ietf-httpapi-ratelimit-headers): the policy, and what is left of it.
    const headers = { 'ratelimit-policy': `"${subject.kind}";q=${limit.points};w=${window}`, ratelimit: `"${subject.kind}";${left}` };
    if (outcome.allowed) return { headers };
    log.info({ subject: subject.kind, key: subject.kind === 'ip' ? subject.key : undefined, requestId }, 'rate limited');
    return {
      headers,
      refusal: {
        status: 429,
        error: tooManyRequests(outcome.retryAfterSeconds),
        headers: { 'retry-after': String(outcome.retryAfterSeconds) },
      },
    };
  };
}
