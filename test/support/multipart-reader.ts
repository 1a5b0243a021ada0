/**
 * Reads a `multipart/mixed` GraphQL response (boundary `-`, as Apollo Server and Router frame it)
 * part by part as the bytes arrive, each with the time it was complete: what a client sees, for
 * asserting order and delays of @defer payloads and for the benchmark.
 */
export interface TimedPart<T = any> {
  /** performance.now() when the part's closing delimiter arrived. */
  at: number;
  part: T;
}

const DELIMITER = '\r\n---';

export async function* readMultipart<T = any>(res: Response): AsyncGenerator<TimedPart<T>> {
  const boundary = /boundary="?([^";]+)"?/.exec(res.headers.get('content-type') ?? '')?.[1];
  if (boundary !== '-') throw new Error(`not a multipart/mixed response with boundary "-": ${res.headers.get('content-type')}`);
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    // A part is complete once the delimiter after it has arrived.
    for (;;) {
      const first = buffer.indexOf(DELIMITER);
      if (first < 0) break;
      const next = buffer.indexOf(DELIMITER, first + DELIMITER.length);
      if (next < 0) break;
      const segment = buffer.slice(first + DELIMITER.length, next);
      buffer = buffer.slice(next);
      const body = segment.indexOf('\r\n\r\n');
      if (body >= 0) yield { at: performance.now(), part: JSON.parse(segment.slice(body + 4)) as T };
    }
  }
}

/** Every part of a multipart response, in order. */
export async function multipartParts<T = any>(res: Response): Promise<TimedPart<T>[]> {
  const parts: TimedPart<T>[] = [];
  for await (const part of readMultipart<T>(res)) parts.push(part);
  return parts;
}
