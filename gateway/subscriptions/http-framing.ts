import type { ServerResponse } from 'node:http';
import type { ExecutionResult, GraphQLFormattedError } from 'graphql';
import { openMultipart } from '../http/multipart.js';
import { openStreamingResponse } from '../http/streaming-response.js';

/** How one subscription's results go out over a plain HTTP response. */
export interface SubscriptionFraming {
  /** One result: an event's payload, or the errors that refused the subscription. */
  next(result: ExecutionResult): void;
  /** A transport-level end (slow subscriber, interrupted feed, expired token): the stream ends after it. */
  fail(errors: readonly GraphQLFormattedError[]): void;
  /** Keeps proxies and mobile networks from closing a quiet stream. */
  heartbeat(): void;
  end(): void;
  readonly closed: boolean;
  onClose(listener: () => void): void;
}

export type HttpTransport = 'multipart' | 'sse';

/**
 * Apollo's multipart subscription protocol (`subscriptionSpec="1.0"`, as Apollo Router serves it
 * and Apollo Client / iOS / Kotlin read it): `{"payload": result}` parts, `{}` heartbeats, and
 * `{"payload": null, "errors": [...]}` for a transport error, which clients treat as final.
 */
export function multipartFraming(res: ServerResponse): SubscriptionFraming {
  const stream = openMultipart(res, 'subscriptionSpec="1.0"');
  return {
    next: (result) => void stream.write({ payload: result }),
    fail: (errors) => void stream.write({ payload: null, errors }),
    heartbeat: () => void stream.write({}),
    end: () => stream.end(),
    get closed() {
      return stream.closed;
    },
    onClose: (listener) => stream.onClose(listener),
  };
}

/**
 * GraphQL over SSE, the graphql-sse protocol's "distinct connections mode": one request per
 * operation, `next` events, one `complete` event, comment lines as heartbeats. The protocol has no
 * transport-error event, so a final error goes out as a `next` with errors, then `complete`.
 */
export function sseFraming(res: ServerResponse): SubscriptionFraming {
  const stream = openStreamingResponse(res, 200, 'text/event-stream; charset=utf-8');
  const write = (chunk: string) => {
    if (!stream.closed) res.write(chunk);
  };
  const next = (result: unknown) => write(`event: next\ndata: ${JSON.stringify(result)}\n\n`);
  return {
    next,
    fail: (errors) => next({ errors }),
    heartbeat: () => write(':\n\n'),
    end() {
      if (stream.closed) return;
      write('event: complete\ndata:\n\n');
      stream.markEnded();
      res.end();
    },
    get closed() {
      return stream.closed;
    },
    onClose: (listener) => stream.onClose(listener),
  };
}

/** Which HTTP subscription transport the client's Accept header asks for, if any. */
export function requestedTransport(accept: string | undefined, multipartSpec: string | undefined): HttpTransport | undefined {
  if (multipartSpec === 'subscriptionSpec="1.0"') return 'multipart';
  if (accept && /text\/event-stream/i.test(accept)) return 'sse';
  return undefined;
}
