import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { generateLocalKeys } from '../platform/local-env.js';
import { ROOT } from '../platform/paths.js';
import { SERVICES, SUBGRAPHS } from '../platform/subgraphs.js';
import type { Subgraph } from '../platform/subgraphs.js';
import { createDeploySecrets } from '../scripts/deploy-secrets.js';
import { startCluster } from './support/cluster.js';
import type { Cluster } from './support/cluster.js';
import { manifestEnvs, migrateJobEnv } from './support/manifest-topology.js';

/**
 * Every Deployment and Job of deploy/k8s started as a process with exactly the environment its manifest
 * gives it (ConfigMaps, Secrets from `npm run keys -- --k8s`), addresses aside: the services through
 * test/support/cluster.ts, which builds every service's environment that way, and the migration Job here.
 */
let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster({ logLevel: 'warn' });
}, 400_000);
afterAll(async () => {
  await cluster?.close();
});

/** Runs an entry point with exactly `env` (and PATH/HOME); resolves with its exit code and output. */
function run(entry: string, env: Record<string, string>, timeoutMs = 120_000): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, entry)], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? os.tmpdir(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${entry} did not exit within ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('the manifests start the system', () => {
  it("every Deployment's process is ready with its manifest environment, and the graph answers through the gateway", async () => {
    for (const name of SERVICES) {
      const res = await fetch(`${cluster.baseUrl(name)}/health/ready`, { signal: AbortSignal.timeout(5_000) });
      expect(res.status, name).toBe(200);
    }
    const customer = await cluster.customer('Manifest Mia');
    const res = await cluster.gql('{ me { name } products(first: 1) { edges { node { id } } } }', {}, { token: customer.token });
    expect(res.errors).toBeUndefined();
    expect(res.data?.me?.name).toBe('Manifest Mia');
  });

  it("the migration Job's process migrates four empty databases with its manifest environment", async () => {
    const { adminUrl } = inject('postgres');
    const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
    const prefix = `t_job_${randomUUID().replace(/-/g, '').slice(0, 8)}`;
    const urls = {} as Record<Subgraph, string>;
    try {
      for (const name of SUBGRAPHS) {
        await admin.unsafe(`create database "${prefix}_${name}"`);
        const url = new URL(adminUrl);
        url.pathname = `/${prefix}_${name}`;
        urls[name] = url.toString();
      }
    } finally {
      await admin.end();
    }
    const { code, output } = await run('scripts/migrate.ts', migrateJobEnv(await createDeploySecrets(), urls));
    expect(output).toContain('migrated users, catalog, orders, billing');
    expect(code).toBe(0);
    const users = postgres(urls.users, { max: 1, onnotice: () => {} });
    try {
      const [row] = await users<{ n: number }[]>`select count(*)::int as n from information_schema.tables where table_schema = 'public'`;
      expect(row!.n).toBeGreaterThan(0);
    } finally {
      await users.end();
    }
  }, 150_000);

  it('a variable its manifest does not give stops a service at start with exit 78, naming it', async () => {
    const envs = manifestEnvs(
      await createDeploySecrets(await generateLocalKeys()),
      {
        ports: { gateway: 1, users: 2, catalog: 3, orders: 4, billing: 5 },
        databaseUrls: cluster.databaseUrls,
        redisUrl: 'redis://127.0.0.1:1',
        registryDir: os.tmpdir(),
      },
      { logLevel: 'warn', eventNamespace: 'unused:' },
    );
    const { TRUSTED_SERVICE_JWKS: _removed, ...withoutTrust } = envs.users;
    const { code, output } = await run('subgraphs/users/index.ts', withoutTrust);
    expect(code).toBe(78);
    expect(output).toMatch(/TRUSTED_SERVICE_JWKS/);
  }, 150_000);
});
