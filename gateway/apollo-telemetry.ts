import type { GatewayConfig } from '../platform/config.js';

/**
 * @apollo/gateway 2.14 decides in its constructor whether to start an OpenTelemetry meter
 * provider that exports usage to Apollo and probes cloud metadata endpoints (169.254.169.254)
 * from `process.env.APOLLO_TELEMETRY_DISABLED` alone: GatewayConfig has no option for it. So the
 * process that builds a gateway (gateway/index.ts, the in-process runner in
 * scripts/local-supergraph.ts) hands the parsed APOLLO_TELEMETRY_DISABLED (default `true`) to
 * that variable once, before createGatewayServer; the server itself writes no environment.
 */
export function applyApolloTelemetrySetting(config: Pick<GatewayConfig, 'APOLLO_TELEMETRY_DISABLED'>): void {
  process.env.APOLLO_TELEMETRY_DISABLED = config.APOLLO_TELEMETRY_DISABLED;
}
