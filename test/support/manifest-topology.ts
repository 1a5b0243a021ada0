import path from 'node:path';
import { ROOT } from '../../platform/paths.js';
import type { Subgraph } from '../../platform/subgraphs.js';
import type { ServiceName } from '../../platform/subgraphs.js';
import { k8sSecrets } from '../../scripts/deploy-secrets.js';
import type { DeploySecrets } from '../../scripts/deploy-secrets.js';
import { renderKustomization } from './kustomize.js';
import type { K8sObject } from './kustomize.js';
import { containerEnv, workloads } from './manifest-env.js';

/**
 * Each service's environment as its Deployment in deploy/k8s/base declares it (ConfigMap, env, the
 * Secrets `npm run keys -- --k8s` makes from `secrets`), with only addresses replaced by this
 * machine's: peers' Service URLs, database and Redis URLs, listen address and ports, the registry
 * volume's path. A replacement only ever replaces a variable the manifest declares, so a variable a
 * manifest forgets stays missing and that service fails to start (exit 78, naming it).
 */
export interface MachineAddresses {
  ports: Record<ServiceName, number>;
  databaseUrls: Record<Subgraph, string>;
  redisUrl: string;
  registryDir: string;
}

/**
 * Not addresses, and so the only other changes: the harness runs NODE_ENV=test (fault switches refuse
 * anything else), its own log level, and an event namespace per cluster (test isolation on one Redis).
 */
export interface HarnessSettings {
  logLevel: string;
  eventNamespace: string;
}

const BASE = path.join(ROOT, 'deploy/k8s/base');
const PEER = /http:\/\/(gateway|users|catalog|orders|billing):\d+/g;

export function renderManifestObjects(secrets: DeploySecrets): K8sObject[] {
  return [...renderKustomization(BASE), ...(k8sSecrets(secrets) as unknown as K8sObject[])];
}

/** The Deployment's own environment, unchanged (what the kubelet would give its container). */
export function deploymentEnv(objects: K8sObject[], name: ServiceName): Record<string, string> {
  const workload = workloads(objects).find((w) => w.kind === 'Deployment' && w.name === name);
  if (!workload) throw new Error(`deploy/k8s/base has no Deployment ${name}`);
  return containerEnv(objects, workload.container, { name: `${name}-0`, namespace: 'supergraph' });
}

export function manifestEnvs(
  secrets: DeploySecrets,
  at: MachineAddresses,
  harness: HarnessSettings,
): Record<ServiceName, Record<string, string>> {
  const objects = renderManifestObjects(secrets);
  const names = Object.keys(at.ports) as ServiceName[];
  const envs = {} as Record<ServiceName, Record<string, string>>;
  for (const name of names) envs[name] = onThisMachine(name, deploymentEnv(objects, name), at, harness);
  return envs;
}

function onThisMachine(
  name: ServiceName,
  declared: Record<string, string>,
  at: MachineAddresses,
  harness: HarnessSettings,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(declared)) {
    env[key] = value.replace(PEER, (_m, peer: ServiceName) => `http://127.0.0.1:${at.ports[peer]}`);
  }
  const replace = (key: string, value: string) => {
    if (key in env) env[key] = value;
  };
  replace('HOST', '127.0.0.1');
  replace('PORT', String(at.ports[name]));
  if (name !== 'gateway') {
    replace('DATABASE_URL', at.databaseUrls[name]);
    // The harness's databases have no standby: no replica addresses (reads go to the primary).
    replace('DATABASE_REPLICA_URLS', '');
  }
  replace('REDIS_URL', at.redisUrl);
  // The harness's Redis is one server with no sentinels: the Sentinel addresses have nothing to point at.
  const { REDIS_SENTINELS: _s, REDIS_SENTINEL_PASSWORD: _p, REDIS_MASTER_NAME: _m, ...withoutSentinels } = env;
  if ('CLIENT_REGISTRY_DIR' in withoutSentinels) withoutSentinels.CLIENT_REGISTRY_DIR = at.registryDir;
  return { ...withoutSentinels, NODE_ENV: 'test', LOG_LEVEL: harness.logLevel, EVENT_NAMESPACE: harness.eventNamespace };
}

/** The migration Job's environment, with each database's address replaced by this machine's. */
export function migrateJobEnv(secrets: DeploySecrets, databaseUrls: Record<Subgraph, string>): Record<string, string> {
  const objects = renderManifestObjects(secrets);
  const job = workloads(objects).find((w) => w.kind === 'Job' && w.name === 'supergraph-migrate');
  if (!job) throw new Error('deploy/k8s/base has no migration Job');
  const env = containerEnv(objects, job.container, { name: 'supergraph-migrate-0', namespace: 'supergraph' });
  for (const [name, url] of Object.entries(databaseUrls)) {
    const key = `${name.toUpperCase()}_DATABASE_URL`;
    if (key in env) env[key] = url;
  }
  return env;
}
