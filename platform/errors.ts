import { GraphQLError } from 'graphql';
import { unwrapResolverError } from '@apollo/server/errors';
import type { GraphQLFormattedError } from 'graphql';
import type { Logger } from './logger.js';
import { requestScope } from './request-scope.js';

/** Every code a client may see in `extensions.code`. */
export enum ErrorCode {
  UNAUTHENTICATED = 'UNAUTHENTICATED',
  FORBIDDEN = 'FORBIDDEN',
  BAD_USER_INPUT = 'BAD_USER_INPUT',
  NOT_FOUND = 'NOT_FOUND',
  EMAIL_TAKEN = 'EMAIL_TAKEN',
  INVALID_CREDENTIALS = 'INVALID_CREDENTIALS',
  INSUFFICIENT_STOCK = 'INSUFFICIENT_STOCK',
  INVALID_STATE = 'INVALID_STATE',
  IDEMPOTENCY_KEY_REUSED = 'IDEMPOTENCY_KEY_REUSED',
  PAYMENT_DECLINED = 'PAYMENT_DECLINED',
  PERSISTED_QUERY_NOT_FOUND = 'PERSISTED_QUERY_NOT_FOUND',
  PERSISTED_QUERY_NOT_IN_LIST = 'PERSISTED_QUERY_NOT_IN_LIST',
  /** An APQ request whose text is not the sha256 it names (Apollo Router's code; its clients recognise it). */
  PERSISTED_QUERY_HASH_MISMATCH = 'PERSISTED_QUERY_HASH_MISMATCH',
  RATE_LIMITED = 'RATE_LIMITED',
  /**
   * The operation's estimated cost is over a limit (the armor cost of its text, the static cost
   * ceiling, a partner's whole minute of budget): waiting will not help, ask for less. Apollo
   * Router's demand-control code; `extensions.cost` and `maxCost` give the figures.
   */
  COST_ESTIMATED_TOO_EXPENSIVE = 'COST_ESTIMATED_TOO_EXPENSIVE',
  /** A subgraph fetch failed (refused, timed out, 5xx, breaker open); `extensions.service` names it (Apollo Router's code). */
  SUBREQUEST_HTTP_ERROR = 'SUBREQUEST_HTTP_ERROR',
  /** A subscriber fell too far behind its events; it may resubscribe with `after`. */
  SUBSCRIBER_TOO_SLOW = 'SUBSCRIBER_TOO_SLOW',
  /**
   * A service this operation needs did not answer (timeout, refused connection, 502-504). Nothing
   * was done that a retry with the same idempotency key would repeat: retry later.
   */
  SERVICE_UNAVAILABLE = 'SERVICE_UNAVAILABLE',
  /**
   * The gateway lost its live feed and could not replay what it missed; `extensions.lastEventId`
   * is where to resume (subscribe again with `after`).
   */
  SUBSCRIPTION_INTERRUPTED = 'SUBSCRIPTION_INTERRUPTED',
  INTERNAL_SERVER_ERROR = 'INTERNAL_SERVER_ERROR',
}

/** Codes produced by graphql-js / Apollo Server itself that are safe to show as they are. */
const FRAMEWORK_CODES = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_REQUEST',
  'OPERATION_RESOLUTION_FAILURE',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  // @apollo/gateway's code for a subgraph error that carried none.
  'DOWNSTREAM_SERVICE_ERROR',
]);
const PUBLIC_CODES = new Set<string>([...Object.values(ErrorCode), ...FRAMEWORK_CODES]);

export function appError(code: ErrorCode, message: string, extensions: Record<string, unknown> = {}): GraphQLError {
  return new GraphQLError(message, { extensions: { ...extensions, code } });
}

export const badInput = (message: string, extensions?: Record<string, unknown>) => appError(ErrorCode.BAD_USER_INPUT, message, extensions);
export const notFound = (message: string, extensions?: Record<string, unknown>) => appError(ErrorCode.NOT_FOUND, message, extensions);
export const forbidden = (message = 'You are not allowed to do this.') => appError(ErrorCode.FORBIDDEN, message);
export const unauthenticated = (message = 'You must be signed in.') => appError(ErrorCode.UNAUTHENTICATED, message);
export const invalidState = (message: string, extensions?: Record<string, unknown>) =>
  appError(ErrorCode.INVALID_STATE, message, extensions);

export const serviceUnavailable = (message: string, extensions?: Record<string, unknown>) =>
  appError(ErrorCode.SERVICE_UNAVAILABLE, message, extensions);

export function isPublicError(err: unknown): err is GraphQLError {
  return err instanceof GraphQLError && PUBLIC_CODES.has(String(err.extensions.code));
}

/** Extensions never shown to a client: a stack, and the gateway's copy of a failed subgraph response (URL, body). */
const PRIVATE_EXTENSIONS = new Set(['stacktrace', 'exception', 'response']);

const publicExtensions = (extensions: Record<string, unknown> = {}) =>
  Object.fromEntries(Object.entries(extensions).filter(([k]) => !PRIVATE_EXTENSIONS.has(k)));

/**
 * Apollo `formatError`: public errors pass through; anything else (a driver error, a bug, a
 * connection refused with a host name in it) is logged in full and reaches the client as a bare
 * INTERNAL_SERVER_ERROR carrying the request id, so support can find the log line.
 *
 * At the gateway, an error a subgraph sent (`extensions.serviceName`, set by @apollo/gateway) keeps
 * its code and message whatever the code: each subgraph masks its own unexpected errors with this
 * same formatter, so what it sends is meant for clients (as the stock gateway passes it on). The
 * subgraph is named in `extensions.service` (Apollo Router's name for @apollo/gateway's `serviceName`).
 */
export function createErrorFormatter(log: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = unwrapResolverError(error);
    const rawCode = formatted.extensions?.code;
    const code = typeof rawCode === 'string' ? rawCode : '';
    const internal = code === (ErrorCode.INTERNAL_SERVER_ERROR as string);
    const service = formatted.extensions?.serviceName;
    const fromSubgraph = typeof service === 'string' && !internal;
    if (fromSubgraph || isPublicError(original) || (PUBLIC_CODES.has(code) && !internal)) {
      const { serviceName: _renamed, ...extensions } = publicExtensions(formatted.extensions);
      if (typeof service === 'string') extensions.service ??= service;
      return { ...formatted, extensions };
    }
    // A masked error that an upstream service already masked keeps its request id.
    const requestId = (formatted.extensions?.requestId as string | undefined) ?? currentRequestId();
    if (!internal || !formatted.extensions?.requestId) {
      log.error({ err: original, path: formatted.path, requestId }, 'unexpected error');
    }
    return {
      message: 'Internal server error',
      ...(formatted.path ? { path: formatted.path } : {}),
      ...(formatted.locations ? { locations: formatted.locations } : {}),
      extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR, requestId, ...(typeof service === 'string' ? { service } : {}) },
    };
  };
}

function currentRequestId(): string | undefined {
  return requestScope.getStore()?.requestId;
}
