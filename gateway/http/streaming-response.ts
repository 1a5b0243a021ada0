import type { ServerResponse } from 'node:http';

/** A response streamed part by part (multipart, SSE), and whether it is still open. */
export interface StreamingResponse {
  /** True once the client disconnected or the server ended the stream. */
  readonly closed: boolean;
  /** Marks the stream ended by the server; false when it already was (end is idempotent). */
  markEnded(): boolean;
  /** Called once when the client goes away before the server ended the stream. */
  onClose(listener: () => void): void;
}

/** Sends the headers of a streamed response at once, unbuffered, and tracks its close. */
export function openStreamingResponse(res: ServerResponse, status: number, contentType: string): StreamingResponse {
  let closed = false;
  const listeners: (() => void)[] = [];
  res.statusCode = status;
  res.setHeader('content-type', contentType);
  // Proxies (nginx) must pass parts through as they come, not buffer the stream.
  res.setHeader('cache-control', 'no-cache, no-store');
  res.setHeader('x-accel-buffering', 'no');
  res.flushHeaders();
  res.on('close', () => {
    if (closed) return;
    closed = true;
    for (const listener of listeners) listener();
  });
  return {
    get closed() {
      return closed;
    },
    markEnded() {
      if (closed) return false;
      closed = true;
      return true;
    },
    onClose: (listener) => void listeners.push(listener),
  };
}
