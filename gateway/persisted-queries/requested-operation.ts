import { ErrorCode } from '../../platform/errors.js';
import { operationId } from './manifest.js';

/** The operation an HTTP request names, read without parsing any GraphQL. */
export interface RequestedOperation {
  /** The persisted-query id if one was sent, else the sha256 of the text; null when neither. */
  id: string | null;
  /** Sent as text (freeform) rather than by id only. */
  freeform: boolean;
  /** The text, when sent: it matches a listed body insignificant whitespace and comments aside. */
  text: string | null;
  name: string | null;
  /** A broken APQ request, which Apollo would refuse with an uncoded error (masked as INTERNAL_SERVER_ERROR). */
  protocolError: { code: string; message: string } | null;
}

/** Texts up to this many characters have their id remembered; the memo is emptied once it holds MEMO_CHARS of text. */
const MEMO_TEXT_MAX = 16_384;
const MEMO_CHARS = 4_000_000;
const memo = new Map<string, string>();
let memoChars = 0;

/**
 * The sha256 of an operation's text, remembered: the edge, the response cache and telemetry each
 * ask it for every freeform request, and a storefront sends the same few texts all day. A Map
 * lookup hashes the string with V8's own fast hash; sha256 of the text cost ~2% of the gateway's
 * CPU per request. Emptied when full rather than kept in LRU order: refilling costs a hash per text.
 */
function textOperationId(text: string): string {
  const known = memo.get(text);
  if (known !== undefined) return known;
  const id = operationId(text);
  if (text.length <= MEMO_TEXT_MAX) {
    if (memoChars + text.length > MEMO_CHARS) {
      memo.clear();
      memoChars = 0;
    }
    memo.set(text, id);
    memoChars += text.length;
  }
  return id;
}

/** The same from a request's GraphQL parameters ({ query, operationName, extensions }), e.g. a WebSocket subscribe payload. */
export function requestedOperationOf(params: unknown): RequestedOperation {
  if (!params || typeof params !== 'object' || Array.isArray(params))
    return { id: null, freeform: false, text: null, name: null, protocolError: null };
  const { query, extensions, operationName } = params as Record<string, unknown>;
  let ext = extensions;
  if (typeof ext === 'string') {
    try {
      ext = JSON.parse(ext);
    } catch {
      ext = undefined;
    }
  }
  const persisted = (ext as { persistedQuery?: { version?: unknown; sha256Hash?: unknown } } | undefined)?.persistedQuery;
  const hash = typeof persisted?.sha256Hash === 'string' ? persisted.sha256Hash : null;
  const freeform = typeof query === 'string';
  const textId = freeform ? textOperationId(query) : null;
  let protocolError: RequestedOperation['protocolError'] = null;
  if (persisted && persisted.version !== 1) protocolError = { code: 'BAD_REQUEST', message: 'Unsupported persisted query version' };
  else if (hash !== null && textId !== null && hash !== textId)
    // Apollo Router's code and message, which its clients (and Apollo Client's persisted-query link) know.
    protocolError = { code: ErrorCode.PERSISTED_QUERY_HASH_MISMATCH, message: 'provided sha does not match query' };
  return {
    id: hash ?? textId,
    freeform,
    text: freeform ? query : null,
    // Named for logs and the error only, so a regex rather than a parse (which the gate exists to avoid).
    name:
      typeof operationName === 'string'
        ? operationName
        : freeform
          ? (/\b(?:query|mutation|subscription)\s+(\w+)/.exec(query)?.[1] ?? null)
          : null,
    protocolError,
  };
}
