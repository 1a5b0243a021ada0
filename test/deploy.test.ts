import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { gatewaySchema, parseConfig, subgraphSchemas } from '../platform/config.js';
import { generateLocalKeys } from '../platform/local-env.js';
import { ROOT } from '../platform/paths.js';
import { SUBGRAPHS } from '../platform/subgraphs.js';

/** Docker cannot run here, so the deployment files are checked for what can go wrong without it. */
const compose = parse(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<
    string,
    {
      command?: string[];
      environment?: Record<string, string>;
      volumes?: string[];
      depends_on?: Record<string, unknown>;
      build?: { context: string; dockerfile: string };
      labels?: Record<string, string>;
      ports?: string[];
      healthcheck?: { test: string[] };
    }
  >;
};
const APPS = {
  users: subgraphSchemas.users,
  catalog: subgraphSchemas.catalog,
  orders: subgraphSchemas.orders,
  billing: subgraphSchemas.billing,
  gateway: gatewaySchema,
};

async function dotEnv(): Promise<Record<string, string>> {
  const keys = await generateLocalKeys();
  return {
    GATEWAY_PRIVATE_JWK: JSON.stringify(keys.services.gateway),
    USERS_PRIVATE_JWK: JSON.stringify(keys.services.users),
    CATALOG_PRIVATE_JWK: JSON.stringify(keys.services.catalog),
    ORDERS_PRIVATE_JWK: JSON.stringify(keys.services.orders),
    BILLING_PRIVATE_JWK: JSON.stringify(keys.services.billing),
    TRUSTED_SERVICE_JWKS: JSON.stringify(keys.trustedJwks),
    USERS_JWT_PRIVATE_JWK: JSON.stringify(keys.userTokenKey),
    POSTGRES_PASSWORD: 'secret',
    REPLICATION_PASSWORD: 'secret2',
  };
}

/** Compose's interpolation: ${VAR}, ${VAR:?message}, ${VAR:-default}. */
function interpolate(value: string, env: Record<string, string>): string {
  return value.replace(/\$\{(\w+)(?::([?-])([^}]*))?\}/g, (_m, name: string, op?: string, arg?: string) => {
    if (env[name] !== undefined) return env[name];
    if (op === '-') return arg ?? '';
    throw new Error(`${name} is required: ${arg}`);
  });
}

describe('docker-compose.yml', () => {
  it('every app service environment satisfies its config schema', async () => {
    const env = await dotEnv();
    for (const [name, schema] of Object.entries(APPS)) {
      const service = compose.services[name];
      expect(service, name).toBeDefined();
      const resolved = Object.fromEntries(Object.entries(service!.environment ?? {}).map(([k, v]) => [k, interpolate(v, env)]));
      expect(() => parseConfig(schema, resolved), name).not.toThrow();
    }
  });

  it('/metrics is on a port of its own that nothing public reaches; readiness probes the health endpoint', () => {
    const nginx = readFileSync(path.join(ROOT, 'deploy/nginx/nginx.conf'), 'utf8');
    const published = Object.values(compose.services).flatMap((s) => s.ports ?? []);
    for (const name of Object.keys(APPS)) {
      const service = compose.services[name]!;
      const { PORT, METRICS_PORT } = service.environment!;
      expect(METRICS_PORT, name).toMatch(/^\d+$/);
      expect(METRICS_PORT, name).not.toBe(PORT);
      expect(service.labels?.['prometheus.io/port'], name).toBe(METRICS_PORT);
      expect(nginx, name).not.toContain(`:${METRICS_PORT}`);
      expect(
        published.some((p) => p.split(':').includes(METRICS_PORT!)),
        name,
      ).toBe(false);
      expect(service.healthcheck?.test.join(' '), name).toContain('/health/ready');
    }
  });

  it('fails loudly when a secret is missing from .env', () => {
    expect(() => interpolate(String(compose.services.gateway!.environment!.SERVICE_PRIVATE_JWK), {})).toThrow(/GATEWAY_PRIVATE_JWK/);
  });

  it('every command, mounted file, build file and dependency exists', () => {
    const buildInclude = JSON.parse(readFileSync(path.join(ROOT, 'tsconfig.build.json'), 'utf8')).include as string[];
    for (const [name, service] of Object.entries(compose.services)) {
      for (const dep of Object.keys(service.depends_on ?? {})) expect(compose.services[dep], `${name} depends on ${dep}`).toBeDefined();
      for (const volume of service.volumes ?? []) {
        const host = volume.split(':')[0]!;
        if (host.startsWith('./')) expect(existsSync(path.join(ROOT, host)), `${name}: ${host}`).toBe(true);
      }
      if (service.build) expect(existsSync(path.join(ROOT, service.build.context, service.build.dockerfile))).toBe(true);
      const entry = service.command?.find((c) => c.startsWith('dist/'));
      if (entry) {
        const source = entry.replace(/^dist\//, '').replace(/\.js$/, '.ts');
        expect(existsSync(path.join(ROOT, source)), `${name}: ${source}`).toBe(true);
        expect(
          buildInclude.some((inc) => source === inc || source.startsWith(`${inc}/`)),
          `${source} is compiled`,
        ).toBe(true);
      }
    }
  });

  it('service URLs point at the load balancer port that forwards to that service, and nginx agrees', () => {
    const nginx = readFileSync(path.join(ROOT, 'deploy/nginx/nginx.conf'), 'utf8');
    const portOf = (name: string) => compose.services[name]!.environment!.PORT;
    for (const target of ['users', 'catalog', 'orders', 'billing']) {
      expect(nginx).toContain(`server ${target}:${portOf(target)}`);
      expect(nginx).toMatch(new RegExp(`listen ${portOf(target)}; location / \\{ proxy_pass http://${target}; \\}`));
    }
    expect(nginx).toContain(`server gateway:${portOf('gateway')}`);
    const routes = JSON.parse(compose.services.gateway!.environment!.SUBGRAPH_URLS!) as Record<string, string>;
    expect(Object.keys(routes).sort()).toEqual([...SUBGRAPHS].sort());
    for (const target of SUBGRAPHS) expect(routes[target], `gateway SUBGRAPH_URLS.${target}`).toBe(`http://lb:${portOf(target)}`);
    const urls: [string, string, string][] = [
      ['orders', 'CATALOG_URL', 'catalog'],
      ['catalog', 'ORDERS_URL', 'orders'],
    ];
    for (const [service, variable, target] of urls) {
      expect(compose.services[service]!.environment![variable], `${service}.${variable}`).toBe(`http://lb:${portOf(target)}`);
    }
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  it('is multi-stage and copies only paths that exist', () => {
    expect(dockerfile.match(/^FROM .+ AS (\w+)/gm)?.map((l) => l.split(' AS ')[1])).toEqual(['deps', 'build', 'runtime']);
    for (const line of dockerfile.split('\n').filter((l) => l.startsWith('COPY ') && !l.includes('--from'))) {
      const sources = line
        .replace(/^COPY\s+/, '')
        .split(/\s+/)
        .slice(0, -1);
      for (const source of sources) expect(existsSync(path.join(ROOT, source)), source).toBe(true);
    }
  });
});

describe('Kubernetes manifests (deploy/k8s)', () => {
  const dir = path.join(ROOT, 'deploy/k8s');
  const kustomization = parse(readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
  const docs = [...kustomization.resources, 'secrets.example.yaml'].flatMap((file) => {
    expect(existsSync(path.join(dir, file)), file).toBe(true);
    return parseAllDocuments(readFileSync(path.join(dir, file), 'utf8')).map((d) => d.toJS());
  });
  const of = (kind: string) => docs.filter((d) => d.kind === kind);

  it('every Deployment resolves to an environment its config schema accepts, with probes on the health endpoints', async () => {
    const env = await dotEnv();
    const configMaps = new Map(of('ConfigMap').map((c) => [c.metadata.name, c.data as Record<string, string>]));
    // The example secrets hold placeholders; real keys stand in for them here.
    const secrets = new Map(
      of('Secret').map((s) => [
        s.metadata.name,
        Object.fromEntries(Object.entries(s.stringData as Record<string, string>).map(([k, v]) => [k, v.startsWith('<') ? env[k]! : v])),
      ]),
    );
    const deployments = of('Deployment');
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual(Object.keys(APPS).sort());
    for (const deployment of deployments) {
      const name = deployment.metadata.name as keyof typeof APPS;
      const container = deployment.spec.template.spec.containers[0];
      const resolved: Record<string, string> = {};
      for (const from of container.envFrom ?? []) Object.assign(resolved, configMaps.get(from.configMapRef.name));
      for (const e of container.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef;
        resolved[e.name] = ref ? secrets.get(ref.name)?.[ref.key] : e.value;
        expect(resolved[e.name], `${name}: ${e.name}`).toBeDefined();
      }
      expect(() => parseConfig(APPS[name], resolved), name).not.toThrow();
      expect(container.ports[0].containerPort).toBe(Number(resolved.PORT));
      // Metrics: a port of its own, annotated for Prometheus, not on the Service (so no ingress reaches it).
      const metricsPort = Number(resolved.METRICS_PORT);
      expect(metricsPort, name).not.toBe(Number(resolved.PORT));
      expect(container.ports.find((p: any) => p.name === 'metrics')?.containerPort, name).toBe(metricsPort);
      expect(deployment.spec.template.metadata.annotations?.['prometheus.io/port'], name).toBe(String(metricsPort));
      const service = of('Service').find((s) => s.metadata.name === name);
      expect(
        service.spec.ports.map((p: any) => p.targetPort),
        name,
      ).toEqual(['http']);
      // A readiness probe that answers within its timeout even while a neighbour hangs (readiness waits 500 ms at most on any one check).
      expect(container.readinessProbe.timeoutSeconds ?? 1, name).toBeGreaterThanOrEqual(1);
      expect(container.readinessProbe.httpGet.path).toBe('/health/ready');
      expect(container.livenessProbe.httpGet.path).toBe('/health/live');
      expect(existsSync(path.join(ROOT, container.args[0].replace(/^dist\//, '').replace(/\.js$/, '.ts')))).toBe(true);
      const labels = deployment.spec.template.metadata.labels;
      const matches = (selector: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);
      expect(matches(deployment.spec.selector.matchLabels)).toBe(true);
      expect(of('Service').some((s) => s.metadata.name === name && matches(s.spec.selector))).toBe(true);
      expect(of('PodDisruptionBudget').some((p) => matches(p.spec.selector.matchLabels))).toBe(true);
      expect(of('HorizontalPodAutoscaler').some((h) => h.spec.scaleTargetRef.name === name && h.spec.minReplicas >= 2)).toBe(true);
    }
  });

  it('the service URLs in the manifests name existing Services and their ports', () => {
    const services = new Map(of('Service').map((s) => [s.metadata.name, s.spec.ports[0].port]));
    for (const deployment of of('Deployment')) {
      for (const e of deployment.spec.template.spec.containers[0].env ?? []) {
        const match = typeof e.value === 'string' ? /^https?:\/\/([\w-]+):(\d+)/.exec(e.value) : null;
        if (match) expect(services.get(match[1]!), `${deployment.metadata.name}: ${e.name}`).toBe(Number(match[2]));
      }
    }
  });
});
