/**
 * Where a subgraph's fetches go: the routing URL the supergraph gives it, unless SUBGRAPH_URLS
 * names that subgraph (a load balancer, a test's port). One generic map keyed by the supergraph's
 * own subgraph names, so a foreign supergraph is routed by its own names only.
 */
export function routingUrl(overrides: Readonly<Record<string, string>>, name: string, fromSupergraph: string): string {
  const override = Object.hasOwn(overrides, name) ? overrides[name] : undefined;
  return override ? new URL('/graphql', override).toString() : fromSupergraph;
}

/** A routing override naming a subgraph the supergraph does not have is a deploy mistake: stop, naming it. */
export function unknownRoutingOverrides(overrides: Readonly<Record<string, string>>, names: readonly string[]): string[] {
  return Object.keys(overrides)
    .filter((name) => !names.includes(name))
    .map((name) => `SUBGRAPH_URLS: "${name}" is not a subgraph of the supergraph (${names.join(', ')})`);
}
