/**
 * The gateways the benchmark compares, each as its users would run it at its best: ours with its
 * caches on and off, the stock Apollo gateway plain and with Apollo's response-cache plugin on Redis,
 * Hive Gateway plain, with its response cache and with its Rust query planner.
 */
export const GATEWAYS = ['ours', 'ours-nocache', 'stock', 'stock-rc', 'hive', 'hive-rc', 'hive-rust'] as const;
export type GatewayName = (typeof GATEWAYS)[number];

export const LABEL: Record<GatewayName, string> = {
  ours: 'ours',
  'ours-nocache': 'ours, caches off',
  stock: 'stock',
  'stock-rc': 'stock + response cache (Redis)',
  hive: 'Hive',
  'hive-rc': 'Hive + response cache',
  'hive-rust': 'Hive + Rust planner',
};

/** Ours verifies user JWTs itself; every peer gets the gateway-signed service token to forward. */
export const isOurs = (g: GatewayName) => g === 'ours' || g === 'ours-nocache';

/** Hive Gateway ships no APQ: it gets the full document where the others get the hash. */
export const isHive = (g: GatewayName) => g.startsWith('hive');

/**
 * How a peer's response cache shows a hit on the wire, so the load worker can count them: Apollo's
 * plugin sets `age` on answers it served from the cache; Hive's, with `includeExtensionMetadata`,
 * says `"responseCache":{"hit":true}` in the extensions. Ours counts hits on its /metrics port.
 */
export interface HitMarker {
  header?: string;
  body?: string;
}
export const HIT_MARKER: Partial<Record<GatewayName, HitMarker>> = {
  'stock-rc': { header: 'age' },
  'hive-rc': { body: '"hit":true' },
};

export const isHit = (m: HitMarker, headers: (name: string) => string | null | undefined, body: string) =>
  (m.header !== undefined && headers(m.header) != null) || (m.body !== undefined && body.includes(m.body));
