import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';
import { gatewaySchema, parseConfig, subgraphSchemas } from '../../platform/config.js';
import { SERVICE_STOP_MS } from '../../platform/run-service.js';
import { ROOT } from '../../platform/paths.js';
import { SUBGRAPHS } from '../../platform/subgraphs.js';
import { createDeploySecrets, dotEnvText } from '../../scripts/deploy-secrets.js';

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
      stop_grace_period?: string;
    }
  >;
};
/** A Compose duration in seconds (`35s`, `1m30s`; Docker's default: 10 s). */
const seconds = (duration = '10s') =>
  [...duration.matchAll(/(\d+)(h|m|s)/g)].reduce(
    (total, [, n, unit]) => total + Number(n) * { h: 3600, m: 60, s: 1 }[unit as 'h' | 'm' | 's'],
    0,
  );

const APPS = {
  users: subgraphSchemas.users,
  catalog: subgraphSchemas.catalog,
  orders: subgraphSchemas.orders,
  billing: subgraphSchemas.billing,
  gateway: gatewaySchema,
};

/** The .env `npm run keys -- --out .env` writes, parsed as docker-compose reads it. */
async function dotEnv(): Promise<Record<string, string>> {
  const text = dotEnvText(await createDeploySecrets());
  return Object.fromEntries(text.split('\n').map((line) => /^(\w+)='(.*)'$/.exec(line)!.slice(1, 3) as [string, string]));
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
  it('is valid against the Compose specification (vendored schema), with no top-level name (docker-compose 1.29)', () => {
    // deploy/schemas/compose-spec.json: github.com/compose-spec/compose-spec schema/compose-spec.json (see docs/architecture.md, Layout).
    const schema = JSON.parse(readFileSync(path.join(ROOT, 'deploy/schemas/compose-spec.json'), 'utf8')) as object;
    // Its $schema says https://json-schema.org/draft-07/schema, which ajv knows as http://…: the schema is
    // draft-07 and is compiled as such, without checking it against a meta-schema by that name.
    const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
    addFormats.default(ajv);
    const validate = ajv.compile(schema);
    const valid = validate(compose);
    expect(validate.errors ?? [], 'compose-spec').toEqual([]);
    expect(valid).toBe(true);
    expect(Object.keys(compose)).not.toContain('name');
  });

  it('runs Redis as a primary, a replica and three sentinels, and every app service is pointed at the sentinels', async () => {
    const env = await dotEnv();
    const sentinels = ['redis-sentinel-1', 'redis-sentinel-2', 'redis-sentinel-3'];
    for (const name of ['redis-primary', 'redis-replica', ...sentinels]) expect(compose.services[name], name).toBeDefined();
    for (const name of Object.keys(APPS)) {
      const vars = compose.services[name]!.environment!;
      expect(vars.REDIS_SENTINELS?.split(','), name).toEqual(sentinels.map((s) => `${s}:26379`));
      expect(new URL(interpolate(vars.REDIS_URL!, env)).password, name).toBe(env.REDIS_PASSWORD);
    }
  });

  it('every gateway mounts the one partner registry volume at CLIENT_REGISTRY_DIR', () => {
    const gateway = compose.services.gateway!;
    expect(gateway.volumes).toContain(`partner-registry:${gateway.environment!.CLIENT_REGISTRY_DIR}`);
  });

  it('every app service environment satisfies its config schema', async () => {
    const env = await dotEnv();
    for (const [name, schema] of Object.entries(APPS)) {
      const service = compose.services[name];
      expect(service, name).toBeDefined();
      const resolved = Object.fromEntries(Object.entries(service!.environment ?? {}).map(([k, v]) => [k, interpolate(v, env)]));
      expect(() => parseConfig(schema, resolved), name).not.toThrow();
      // Docker kills only after the whole graceful stop could run: drain, in-flight requests, the bounded stop.
      const { SHUTDOWN_DRAIN_MS, SHUTDOWN_GRACE_MS } = parseConfig(schema, resolved) as unknown as {
        SHUTDOWN_DRAIN_MS: number;
        SHUTDOWN_GRACE_MS: number;
      };
      expect(seconds(service!.stop_grace_period) * 1000, name).toBeGreaterThanOrEqual(
        SHUTDOWN_DRAIN_MS + SHUTDOWN_GRACE_MS + SERVICE_STOP_MS,
      );
      // The leases docs/operators.md describes and the benchmark runs with (bench/stack.ts): one Redis call per lease.
      if (name === 'gateway') expect(parseConfig(gatewaySchema, resolved)).toMatchObject({ RATE_LIMIT_LEASE: 10, COST_BUDGET_LEASE: 500 });
      // The gateway's young generation capped (docs/operators.md, Memory); the other services keep V8's defaults.
      expect(service!.environment?.NODE_OPTIONS, name).toBe(name === 'gateway' ? '--max-semi-space-size=32' : undefined);
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
