import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { ROOT } from '../platform/paths.js';

/**
 * The gateway's NODE_OPTIONS as docker-compose.yml ships them (deploy/k8s ships the same:
 * test/fast/k8s-manifests.test.ts): the benchmark runs ours with the V8 flags a deployment gives it, no others.
 */
export function shippedGatewayNodeOptions(): string | undefined {
  const compose = parse(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
    services: { gateway: { environment?: Record<string, string> } };
  };
  return compose.services.gateway.environment?.NODE_OPTIONS;
}

/** Ours gets the NODE_OPTIONS docker-compose.yml and deploy/k8s ship (after any the bench itself was given). */
export function gatewayNodeOptions(): Record<string, string> {
  const shipped = shippedGatewayNodeOptions();
  return shipped ? { NODE_OPTIONS: [process.env.NODE_OPTIONS, shipped].filter(Boolean).join(' ') } : {};
}
