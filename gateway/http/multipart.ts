import type { ServerResponse } from 'node:http';
import { openStreamingResponse } from './streaming-response.js';

/**
 * A `multipart/mixed` response as Apollo clients read it (Apollo Client, Apollo iOS/Kotlin, and
 * Apollo Server's own framing): boundary `-`, one JSON part per payload. Used by `@defer`
 * (`deferSpec=20220824`) and by subscriptions over HTTP (`subscriptionSpec="1.0"`), so the two
 * transports frame bytes identically.
 */
export interface MultipartStream {
  /** Writes one JSON part; false when the client has gone (stop producing). */
  write(part: unknown): boolean;
  /** Writes the closing delimiter and ends the response (idempotent). */
  end(): void;
  /** True once the client disconnected or end() ran. */
  readonly closed: boolean;
  /** Called once when the client goes away before end(). */
  onClose(listener: () => void): void;
}

export type MultipartSpec = 'deferSpec=20220824' | 'subscriptionSpec="1.0"';

const BOUNDARY = '-';
const PART_HEADER = `\r\n--${BOUNDARY}\r\ncontent-type: application/json; charset=utf-8\r\n\r\n`;
const CLOSING = `\r\n--${BOUNDARY}--\r\n`;

/** Which multipart spec the client's Accept header asks for, if any. */
export function acceptedMultipartSpec(accept: string | undefined): MultipartSpec | undefined {
  if (!accept || !/multipart\/mixed/i.test(accept)) return undefined;
  if (/subscriptionSpec\s*=\s*"?1\.0"?/i.test(accept)) return 'subscriptionSpec="1.0"';
  if (/deferSpec\s*=\s*20220824/i.test(accept)) return 'deferSpec=20220824';
  return undefined;
}

export function openMultipart(res: ServerResponse, spec: MultipartSpec, status = 200): MultipartStream {
  const stream = openStreamingResponse(res, status, `multipart/mixed; boundary="${BOUNDARY}"; ${spec}`);
  return {
    write(part) {
      if (stream.closed) return false;
      res.write(PART_HEADER + JSON.stringify(part));
      return true;
    },
    end() {
      if (stream.markEnded()) res.end(CLOSING);
    },
    get closed() {
      return stream.closed;
    },
    onClose: (listener) => stream.onClose(listener),
  };
}
