import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { ROOT } from '../platform/paths.js';

/**
 * The gateway's NODE_OPTIONS as docker-compose.yml ships them (deploy/k8s ships the same:
 * test/fast/k8s-manifests.test.ts): the benchmark runs ours with the V8 flags a deployment gives it, no others.
 */
export function shippedGatewayNodeOptions(): string | undefined {
  return shippedGatewayEnvironment().NODE_OPTIONS;
}

function shippedGatewayEnvironment(): Record<string, string> {
  const compose = parse(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
    services: { gateway: { environment?: Record<string, string> } };
  };
  return compose.services.gateway.environment ?? {};
}

/**
 * Ours' rate limits in a benchmark: out of reach (the peers have none), but the limiter still runs,
 * with the leases docker-compose.yml and deploy/k8s ship (one Redis call per lease, not per
 * request; without them every request would pay a Redis command no deployment pays).
 */
export function benchGatewayLimits(): Record<string, string> {
  const shipped = shippedGatewayEnvironment();
  const unlimited = '1000000000';
  const leases = Object.entries(shipped).filter(([name]) => name === 'RATE_LIMIT_LEASE' || name === 'COST_BUDGET_LEASE');
  return { RATE_LIMIT_ANONYMOUS: unlimited, RATE_LIMIT_USER: unlimited, RATE_LIMIT_PARTNER: unlimited, ...Object.fromEntries(leases) };
}

/** Ours gets the NODE_OPTIONS docker-compose.yml and deploy/k8s ship (after any the bench itself was given). */
export function gatewayNodeOptions(): Record<string, string> {
  const shipped = shippedGatewayNodeOptions();
  return shipped ? { NODE_OPTIONS: [process.env.NODE_OPTIONS, shipped].filter(Boolean).join(' ') } : {};
}
