/**
 * Where a subgraph's fetches go: the routing URL the supergraph gives it, unless SUBGRAPH_URLS
 * names that subgraph (a load balancer, a test's port). One generic map keyed by the supergraph's
 * own subgraph names, so a foreign supergraph is routed by its own names only.
 */
export function routingUrl(overrides: Readonly<Record<string, string>>, name: string, fromSupergraph: string): string {
  const override = Object.hasOwn(overrides, name) ? overrides[name] : undefined;
  return override ? new URL('/graphql', override).toString() : fromSupergraph;
}
