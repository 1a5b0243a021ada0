import { SERVICE_STOP_MS } from '../../platform/run-service.js';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { gatewaySchema, parseConfig, subgraphSchemas } from '../../platform/config.js';
import { ROOT } from '../../platform/paths.js';
import { shippedGatewayNodeOptions } from '../../bench/shipped-node-options.js';
import { SUBGRAPHS } from '../../platform/subgraphs.js';
import { scriptEnvSchema } from '../../scripts/databases.js';
import { schemaErrors } from '../support/k8s-schemas.js';
import { renderKustomization } from '../support/kustomize.js';
import type { K8sObject } from '../support/kustomize.js';
import { containerEnv, workloads } from '../support/manifest-env.js';
import { createTrafficCheck } from '../support/network-policies.js';

/**
 * deploy/k8s as an operator applies it: base and both overlays rendered, every object checked against
 * the Kubernetes and CloudNativePG schemas, and every Deployment's and Job's environment resolved from
 * the rendered ConfigMaps and the Secrets `npm run keys -- --k8s` prints, exactly as the kubelet would,
 * then parsed by that process's own config schema. Nothing is added to an environment before it is checked.
 */
const K8S = path.join(ROOT, 'deploy/k8s');
const TREES = ['base', 'overlays/dev', 'overlays/production'];
const SCHEMAS = { gateway: gatewaySchema, ...subgraphSchemas, migrate: scriptEnvSchema } as const;
let secrets: K8sObject[];
const rendered = Object.fromEntries(TREES.map((t) => [t, renderKustomization(path.join(K8S, t))]));
const base = rendered.base!;
const of = (kind: string, objects = base) => objects.filter((o) => o.kind === kind) as (K8sObject & { spec: any })[];

beforeAll(async () => {
  // The documented command, as the operator runs it (docs/operators.md: npm run --silent keys -- --k8s | kubectl apply -f -).
  const { stdout } = await promisify(execFile)('npm', ['run', '--silent', 'keys', '--', '--k8s'], { cwd: ROOT });
  secrets = parseAllDocuments(stdout).map((d) => d.toJS() as K8sObject);
}, 60_000);

describe('Kubernetes manifests (deploy/k8s)', () => {
  it('base and overlays render, and every object (the Secrets the keys command prints too) passes its schema', async () => {
    for (const [tree, objects] of Object.entries(rendered)) {
      expect(objects.length, tree).toBeGreaterThan(40);
      for (const o of [...objects, ...secrets]) expect(await schemaErrors(o), `${tree}: ${o.kind} ${o.metadata.name}`).toEqual([]);
    }
    expect(of('Deployment', rendered['overlays/production']).every((d) => d.metadata.namespace === 'supergraph')).toBe(true);
  });

  it('every Deployment and Job starts with an environment its config accepts, in base and both overlays', () => {
    for (const [tree, objects] of Object.entries(rendered)) {
      const apps = workloads(objects).filter((w) => w.kind !== 'StatefulSet');
      expect(apps.map((w) => w.name).sort(), tree).toEqual(['billing', 'catalog', 'gateway', 'orders', 'supergraph-migrate', 'users']);
      for (const { name, kind, container, terminationGracePeriodSeconds } of apps) {
        const env = containerEnv([...objects, ...secrets], container);
        const schema = SCHEMAS[(name === 'supergraph-migrate' ? 'migrate' : name) as keyof typeof SCHEMAS];
        const config = parseConfig(schema, env) as Record<string, unknown>;
        // SIGKILL only after the whole graceful stop could run: drain, in-flight requests, the bounded stop.
        if (kind === 'Deployment')
          expect(terminationGracePeriodSeconds * 1000, `${tree}: ${name}`).toBeGreaterThanOrEqual(
            (config.SHUTDOWN_DRAIN_MS as number) + (config.SHUTDOWN_GRACE_MS as number) + SERVICE_STOP_MS,
          );
        // The same leases as docker-compose.yml (test/fast/deploy.test.ts), in every overlay.
        if (name === 'gateway') expect(config, tree).toMatchObject({ RATE_LIMIT_LEASE: 10, COST_BUDGET_LEASE: 500 });
        // The V8 flags docker-compose.yml gives the gateway (its young generation capped), in every overlay; the benchmark runs with them too.
        if (name === 'gateway') expect(env.NODE_OPTIONS, tree).toBe(shippedGatewayNodeOptions());
        // A peer address left to its default would be a development one (127.0.0.1): the manifest must say where peers are.
        const addresses = Object.entries(config).filter(([key]) => /_URLS?$/.test(key));
        expect(JSON.stringify(addresses), `${tree}: ${name} relies on a loopback default`).not.toMatch(/127\.0\.0\.1|localhost/);
        // Every $(VAR) resolved: nothing reaches a process as a literal reference.
        expect(
          Object.values(env).filter((v) => v.includes('$(')),
          `${tree}: ${name}`,
        ).toEqual([]);
        expect(existsSync(path.join(ROOT, container.args![0]!.replace(/^dist\//, '').replace(/\.js$/, '.ts'))), name).toBe(true);
      }
    }
  });

  it('each subgraph reads and writes only its own CloudNativePG cluster: -rw is the primary, -ro the replicas', () => {
    const clusters = new Map(of('Cluster').map((c) => [c.metadata.name, c.spec]));
    for (const name of SUBGRAPHS) {
      const cluster = clusters.get(`${name}-db`);
      expect(cluster?.instances, name).toBeGreaterThanOrEqual(2);
      expect(cluster?.bootstrap.initdb).toEqual({ database: name, owner: name, secret: { name: `${name}-db-credentials` } });
      const env = containerEnv([...base, ...secrets], workloads(base).find((w) => w.name === name)!.container);
      expect(new URL(env.DATABASE_URL!).host, name).toBe(`${name}-db-rw:5432`);
      expect(new URL(env.DATABASE_URL!).pathname, name).toBe(`/${name}`);
      expect(
        env.DATABASE_REPLICA_URLS!.split(',').map((u) => new URL(u).host),
        name,
      ).toEqual([`${name}-db-ro:5432`]);
    }
  });

  it('Redis is a primary, a replica and three sentinels, and every service is pointed at the sentinels', () => {
    const sets = new Map(of('StatefulSet').map((s) => [s.metadata.name, s.spec]));
    expect(sets.get('redis')?.replicas).toBe(2);
    expect(sets.get('redis-sentinel')?.replicas).toBe(3);
    for (const { name, container } of workloads(base).filter((w) => w.kind === 'Deployment')) {
      const env = containerEnv([...base, ...secrets], container);
      expect(env.REDIS_SENTINELS?.split(','), name).toEqual([0, 1, 2].map((i) => `redis-sentinel-${i}.redis-sentinel:26379`));
      expect(env.REDIS_MASTER_NAME, name).toBe('mymaster');
      expect(new URL(env.REDIS_URL!).password, name).toBe(env.REDIS_SENTINEL_PASSWORD);
    }
  });

  it('NetworkPolicies enforce the trust graph: who may open which port of whom, and nothing else', () => {
    const allowed = createTrafficCheck(base);
    const app = (name: string) => ({ 'app.kubernetes.io/name': name, 'app.kubernetes.io/part-of': 'supergraph' });
    const db = (name: string) => ({ 'cnpg.io/cluster': `${name}-db` });
    const PORT: Record<string, number> = { gateway: 4000, users: 4001, catalog: 4002, orders: 4003, billing: 4004 };
    // The gateway calls every subgraph; orders reserves stock at catalog; catalog and billing ask orders (/internal).
    const CALLS = new Set([
      'gateway>users',
      'gateway>catalog',
      'gateway>orders',
      'gateway>billing',
      'orders>catalog',
      'catalog>orders',
      'billing>orders',
    ]);
    const callers = [...Object.keys(PORT), 'migrate', 'redis', 'redis-sentinel'];
    for (const from of callers) {
      for (const to of Object.keys(PORT)) {
        expect(allowed(app(from), app(to), PORT[to]!), `${from} → ${to}:${PORT[to]}`).toBe(CALLS.has(`${from}>${to}`));
        // /metrics: nobody in the namespace (the monitoring namespace's rule is checked below).
        expect(allowed(app(from), app(to), PORT[to]! + 5400), `${from} → ${to} metrics`).toBe(false);
      }
      for (const owner of SUBGRAPHS) {
        const expected = from === owner || from === 'migrate';
        expect(allowed(app(from), db(owner), 5432), `${from} → ${owner}-db`).toBe(expected);
      }
    }
    for (const name of Object.keys(PORT)) {
      expect(allowed(app(name), app('redis-sentinel'), 26379), `${name} → sentinels`).toBe(true);
      expect(allowed(app(name), app('redis'), 6379), `${name} → redis`).toBe(true);
      const policy = of('NetworkPolicy').find((p) => p.metadata.name === name)!;
      const metrics = policy.spec.ingress.filter((r: any) => r.ports.some((p: any) => p.port === PORT[name]! + 5400));
      expect(
        metrics.flatMap((r: any) => r.from),
        name,
      ).toEqual([{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }]);
    }
  });

  it('the Ingress reaches only the gateway; every gateway mounts the one partner registry volume', () => {
    const backends = of('Ingress').flatMap((i) => i.spec.rules.flatMap((r: any) => r.http.paths.map((p: any) => p.backend.service)));
    expect(backends).toEqual([{ name: 'gateway', port: { name: 'http' } }]);
    const gateway = of('Deployment').find((d) => d.metadata.name === 'gateway')!.spec.template.spec;
    const env = containerEnv([...base, ...secrets], gateway.containers[0]);
    const volume = gateway.volumes.find((v: any) => v.persistentVolumeClaim?.claimName === 'partner-registry');
    expect(gateway.containers[0].volumeMounts).toContainEqual({ name: volume.name, mountPath: env.CLIENT_REGISTRY_DIR });
    expect(of('PersistentVolumeClaim').find((p) => p.metadata.name === 'partner-registry')?.spec.accessModes).toEqual(['ReadWriteMany']);
  });

  it('probes, ports, selectors, autoscalers and budgets line up; /metrics is never on a Service', () => {
    for (const deployment of of('Deployment')) {
      const name = deployment.metadata.name;
      const container = deployment.spec.template.spec.containers[0];
      const env = containerEnv([...base, ...secrets], container);
      expect(container.ports[0].containerPort, name).toBe(Number(env.PORT));
      const metricsPort = Number(env.METRICS_PORT);
      expect(container.ports.find((p: any) => p.name === 'metrics')?.containerPort, name).toBe(metricsPort);
      expect(deployment.spec.template.metadata.annotations?.['prometheus.io/port'], name).toBe(String(metricsPort));
      expect(
        of('Service')
          .find((s) => s.metadata.name === name)
          ?.spec.ports.map((p: any) => p.targetPort),
      ).toEqual(['http']);
      expect(container.readinessProbe.httpGet.path).toBe('/health/ready');
      expect(container.livenessProbe.httpGet.path).toBe('/health/live');
      const labels = deployment.spec.template.metadata.labels;
      const matches = (selector: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);
      expect(matches(deployment.spec.selector.matchLabels)).toBe(true);
      expect(of('PodDisruptionBudget').some((p) => matches(p.spec.selector.matchLabels))).toBe(true);
      expect(of('HorizontalPodAutoscaler').some((h) => h.spec.scaleTargetRef.name === name && h.spec.minReplicas >= 2)).toBe(true);
    }
  });

  it('the service URLs in the environments name existing Services and their ports', () => {
    const services = new Map(of('Service').map((s) => [s.metadata.name, s.spec.ports[0].port]));
    for (const { name, container } of workloads(base)) {
      const env = containerEnv([...base, ...secrets], container);
      for (const [variable, value] of Object.entries(env)) {
        for (const [, host, port] of value.matchAll(/https?:\/\/([\w-]+):(\d+)/g)) {
          expect(services.get(host!), `${name}: ${variable} → ${host}`).toBe(Number(port));
        }
      }
    }
  });
});
