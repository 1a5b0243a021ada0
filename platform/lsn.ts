/**
 * WAL positions (LSNs) as read-your-writes markers. A subgraph reports the primary's position after
 * a mutation; whoever reads later sends it back, and a replica serves that read only once it has
 * replayed past it. Text form is Postgres's `X/Y` (two 32-bit hex halves); compared as bigint.
 */

/**
 * On a subgraph's response: `<subgraph>:<lsn>` entries (comma-separated) for every database the
 * request wrote to. On a request to a subgraph (from the gateway): that subgraph's own `<lsn>`.
 */
export const CONSISTENCY_LSN_HEADER = 'x-consistency-lsn';

/**
 * On a subgraph's answer to a query: `primary` when nothing it read came from a read replica (every
 * read ran on the primary, after the request arrived), else `replica`. The gateway's caches need
 * it: an answer read from the primary after an event reached the gateway already holds that
 * event's change; one read from a replica may not (its replay lags), so it is not stored for a
 * while after such an event (CACHE_EVENT_SKEW_MS, gateway/cache/tagged-store.ts).
 */
export const READ_SOURCE_HEADER = 'x-read-source';

const LSN_TEXT = /^([0-9A-F]{1,8})\/([0-9A-F]{1,8})$/i;
const NAME = /^[a-z][a-z0-9_-]{0,31}$/;
/** More entries than any real graph has subgraphs is garbage, not a token. */
export const MAX_LSN_ENTRIES = 32;

export function parseLsn(text: string | null | undefined): bigint | undefined {
  const m = text ? LSN_TEXT.exec(text.trim()) : null;
  return m ? (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`) : undefined;
}

export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** `orders:0/16B3748, catalog:0/16B37A0` → per-name LSNs (the highest wins); malformed entries are dropped. */
export function parseLsnList(header: string | null | undefined): Map<string, bigint> {
  const out = new Map<string, bigint>();
  if (!header || header.length > MAX_LSN_ENTRIES * 60) return out;
  for (const entry of header.split(',').slice(0, MAX_LSN_ENTRIES)) {
    const colon = entry.indexOf(':');
    const name = entry.slice(0, colon).trim();
    const lsn = parseLsn(entry.slice(colon + 1));
    if (colon > 0 && NAME.test(name) && lsn !== undefined) mergeLsn(out, name, lsn);
  }
  return out;
}

export function formatLsnList(entries: Map<string, bigint>): string {
  return [...entries].map(([name, lsn]) => `${name}:${formatLsn(lsn)}`).join(', ');
}

export function mergeLsn(into: Map<string, bigint>, name: string, lsn: bigint): void {
  const known = into.get(name);
  if (known === undefined || lsn > known) into.set(name, lsn);
}

export const isSubgraphName = (name: string) => NAME.test(name);
