/**
 * Operation and client names come from callers, so as metric labels they are unbounded: a client
 * sending a fresh operation name per request would create a time series per request. Each label
 * keeps the first `max` distinct values it sees and reports the rest as "other".
 */
export function boundedLabel(max = 200, maxLength = 80): (value: string | null | undefined, fallback: string) => string {
  const seen = new Set<string>();
  return (value, fallback) => {
    if (!value) return fallback;
    const v = value.length > maxLength ? value.slice(0, maxLength) : value;
    if (seen.has(v)) return v;
    if (seen.size >= max) return 'other';
    seen.add(v);
    return v;
  };
}
