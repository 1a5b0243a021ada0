import type { IncomingMessage, ServerResponse } from 'node:http';
import { GraphQLError } from 'graphql';
import { sendErrors } from './http.js';

/**
 * A JSON request body read on plain `node:http`, with the rules express.json enforces on the
 * express stack (platform/http.ts jsonErrorHandler answers its failures with the same errors): a
 * byte cap (413), an optional nesting cap on the raw bytes (400, see jsonNestingCheck), strict JSON
 * (an object or an array; anything else 400). Used where express is skipped for speed: a subgraph's
 * /graphql (platform/subgraph-http.ts) and the gateway's cache-hit lane (gateway/cache/hit-lane.ts).
 */

/** A refusal of the HTTP request itself (Apollo Server's code for a malformed request). */
export const badRequest = (message: string): GraphQLError => new GraphQLError(message, { extensions: { code: 'BAD_REQUEST' } });

/** The body-level refusals, worded once for both stacks. */
export const BODY_ERRORS = {
  tooLarge: () => badRequest('Request body is too large.'),
  notJson: () => badRequest('Request body is not valid JSON.'),
  tooDeep: (maxDepth: number) => badRequest(`Request body is JSON nested deeper than ${maxDepth} levels.`),
};

/** Whether raw JSON bytes nest deeper than maxDepth (stops at the first level past it); brackets inside strings do not count. */
export function jsonDepthExceeds(buf: Buffer, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i];
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxDepth) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

/** Marks a body already answered (413/400/415) or whose client went away. */
export const INVALID = Symbol('invalid body');
const TOO_LARGE = Symbol('too large');
const GONE = Symbol('client gone');

/**
 * The parsed body, or INVALID once a 413/400 has been sent (or the client is gone). The caller
 * decides beforehand that the body is JSON it will read (content type, encoding); `discard` reads
 * one that is not under the same cap and returns undefined.
 */
export async function readJsonBody(
  req: IncomingMessage,
  res: ServerResponse,
  opts: { limitBytes: number; maxDepth?: number; discard?: boolean },
): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  const raw = declared > opts.limitBytes ? TOO_LARGE : await readBody(req, opts.limitBytes);
  if (raw === TOO_LARGE) {
    // The rest of the body is discarded unread, and the connection closes after the answer.
    res.shouldKeepAlive = false;
    req.resume();
    sendErrors(res, 413, BODY_ERRORS.tooLarge());
    return INVALID;
  }
  if (raw === GONE) return INVALID;
  if (opts.discard) return undefined;
  if (opts.maxDepth !== undefined && jsonDepthExceeds(raw, opts.maxDepth)) {
    sendErrors(res, 400, BODY_ERRORS.tooDeep(opts.maxDepth));
    return INVALID;
  }
  // No body at all is no body (Apollo says what it lacks); blank text is not JSON (400), as body-parser has it.
  if (raw.length === 0) return undefined;
  // A leading byte order mark is dropped, as body-parser's decoding drops it.
  const text = raw[0] === 0xef && raw[1] === 0xbb && raw[2] === 0xbf ? raw.toString('utf8', 3) : raw.toString('utf8');
  try {
    const parsed: unknown = JSON.parse(text);
    // body-parser's strict mode (express.json's default): only an object or an array is a body.
    if (parsed !== null && typeof parsed === 'object') return parsed;
  } catch {
    // answered below
  }
  sendErrors(res, 400, BODY_ERRORS.notJson());
  return INVALID;
}

/** The whole body, or TOO_LARGE past the cap (the rest is drained, unread), or GONE if the client went away. */
function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer | typeof TOO_LARGE | typeof GONE> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (value: Buffer | typeof TOO_LARGE | typeof GONE) => {
      if (settled) return;
      settled = true;
      resolve(value);
    };
    req.on('data', (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > limitBytes) settle(TOO_LARGE);
      else chunks.push(chunk);
    });
    req.once('end', () => settle(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.once('error', () => settle(GONE));
    req.once('close', () => settle(GONE));
  });
}
