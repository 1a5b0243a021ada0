import { BrokenCircuitError } from 'cockatiel';
import type { FetcherResponse } from '@apollo/utils.fetcher';
import { GraphQLError, Kind, OperationTypeNode } from 'graphql';
import type { DocumentNode, GraphQLFormattedError, SelectionSetNode } from 'graphql';
import { ErrorCode } from '../platform/errors.js';

/**
 * What went wrong with one subgraph fetch, in words safe to show a client: never the host, port,
 * driver text or stack of the underlying error (those stay in the gateway's log).
 */
export type FailureReason =
  'circuit open' | 'timed out' | 'connection refused' | 'connection reset' | 'host unreachable' | 'invalid response' | `HTTP ${number}`;

/** Thrown inside the breaker for a 5xx answer, so it counts as a failure; the response itself is handed back after it. */
export class SubgraphHttpError extends Error {
  constructor(readonly response: FetcherResponse) {
    super(`HTTP ${response.status}`);
  }
}

const NETWORK_CODES: Record<string, FailureReason> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection reset',
  ECONNABORTED: 'connection reset',
  // undici's: the other side closed the connection (a keep-alive socket the subgraph had just closed).
  UND_ERR_SOCKET: 'connection reset',
  ENOTFOUND: 'host unreachable',
  EAI_AGAIN: 'host unreachable',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'host unreachable',
  ETIMEDOUT: 'timed out',
};

/** The reason a fetch failed, or undefined when the error is not a fetch failure (a bug: masked as usual). */
export function failureReason(err: unknown): FailureReason | undefined {
  if (err instanceof BrokenCircuitError) return 'circuit open';
  if (err instanceof SubgraphHttpError) return `HTTP ${err.response.status}`;
  if (!(err instanceof Error)) return undefined;
  if (err.name === 'TimeoutError') return 'timed out';
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && NETWORK_CODES[code]) return NETWORK_CODES[code];
  // RemoteGraphQLDataSource.errorFromResponse: a non-2xx answer.
  const status = err instanceof GraphQLError ? (err.extensions.response as { status?: unknown } | undefined)?.status : undefined;
  if (typeof status === 'number') return `HTTP ${status}`;
  // A body that is not JSON (a proxy's HTML error page) or not a GraphQL response object.
  if (err instanceof SyntaxError || err.message.startsWith('Expected JSON response body')) return 'invalid response';
  return undefined;
}

const httpStatus = (reason: FailureReason | undefined) => (reason?.startsWith('HTTP ') ? Number(reason.slice(5)) : undefined);

/** Failures that say the subgraph is unwell (count towards its breaker): network, deadline, 5xx, garbage. */
export function isBreakerFailure(err: unknown): boolean {
  const reason = failureReason(err);
  if (!reason || reason === 'circuit open') return false;
  const status = httpStatus(reason);
  return status === undefined || status >= 500;
}

/** Failures after which resending a query is safe and may help: nothing was processed, or a proxy said "try again". */
export function isRetriable(err: unknown): boolean {
  const reason = failureReason(err);
  const status = httpStatus(reason);
  return reason === 'connection refused' || reason === 'connection reset' || status === 502 || status === 503 || status === 504;
}

/** One failed fetch's errors are capped: a failed entity fetch for 10,000 entities is one problem, not 10,000. */
const MAX_ERRORS_PER_FETCH = 100;

/** Response names of the fields a selection set asks for (its inline fragments for `typename` included). */
function fieldNames(set: SelectionSetNode | undefined, typename?: string): string[] {
  const names: string[] = [];
  for (const sel of set?.selections ?? []) {
    if (sel.kind === Kind.FIELD && sel.name.value !== '__typename') names.push(sel.alias?.value ?? sel.name.value);
    if (sel.kind === Kind.INLINE_FRAGMENT && (!sel.typeCondition || !typename || sel.typeCondition.name.value === typename)) {
      names.push(...fieldNames(sel.selectionSet, typename));
    }
  }
  return [...new Set(names)];
}

/**
 * Paths of the fields a failed fetch would have resolved, as the subgraph would have reported
 * them. @apollo/gateway turns subgraph error paths into client paths: `_entities.<i>.<field>`
 * becomes the i-th entity's path plus the field, a root field's path stays as it is.
 */
function fetchPaths(document: DocumentNode | undefined, representations: unknown): (string | number)[][] {
  const operation = document?.definitions.find((d) => d.kind === Kind.OPERATION_DEFINITION);
  if (!operation) return [];
  const root = operation.selectionSet.selections.find((s) => s.kind === Kind.FIELD && s.name.value === '_entities');
  if (root?.kind !== Kind.FIELD || !Array.isArray(representations)) return fieldNames(operation.selectionSet).map((name) => [name]);
  const paths: (string | number)[][] = [];
  representations.forEach((rep: { __typename?: string } | null, i) => {
    for (const name of fieldNames(root.selectionSet, rep?.__typename)) paths.push(['_entities', i, name]);
  });
  return paths;
}

/**
 * Apollo Router's shape for a failed subgraph fetch: `SUBREQUEST_HTTP_ERROR` (a mutation's: `SERVICE_UNAVAILABLE`) with the subgraph's
 * name in `extensions.service`, one error per missing field (capped), as the errors of a response
 * the subgraph might have sent, so the gateway places them and nulls the fields as for any subgraph error.
 */
export function fetchFailureErrors(
  service: string,
  reason: FailureReason,
  document: DocumentNode | undefined,
  representations: unknown,
): GraphQLFormattedError[] {
  // The contract: a mutation whose service is down is SERVICE_UNAVAILABLE (retry with the same
  // idempotency key); the fields of a query are SUBREQUEST_HTTP_ERROR, as Apollo Router says.
  const mutation = document?.definitions.some((d) => d.kind === Kind.OPERATION_DEFINITION && d.operation === OperationTypeNode.MUTATION);
  const message = mutation
    ? `The ${service} service is unavailable (${reason}); retry later with the same idempotency key.`
    : `HTTP fetch failed from '${service}': ${reason}`;
  const extensions = { code: mutation ? ErrorCode.SERVICE_UNAVAILABLE : ErrorCode.SUBREQUEST_HTTP_ERROR, service, reason };
  const paths = fetchPaths(document, representations).slice(0, MAX_ERRORS_PER_FETCH);
  if (paths.length === 0) return [{ message, extensions }];
  return paths.map((path) => ({ message, path, extensions }));
}
