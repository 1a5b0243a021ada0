import os from 'node:os';
import path from 'node:path';
import { mkdtemp } from 'node:fs/promises';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../scripts/embedded-postgres.js';
import { freePort } from '../../scripts/free-port.js';
import { startRedisServer } from '../../scripts/redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    postgres: { adminUrl: string };
    redis: { url: string };
  }
}

/**
 * One real Postgres server and one real Redis server for the whole run; each test file gets its
 * own databases and its own Redis key namespace on them.
 */
export default async function setup(project: TestProject) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'supergraph-test-pg-'));
  const pg = await startEmbeddedPostgres({ dataDir: dir, port: await freePort(), persistent: false });
  const redis = await startRedisServer(await freePort());
  project.provide('postgres', { adminUrl: pg.adminUrl });
  project.provide('redis', { url: redis.url });
  return async () => {
    await Promise.all([pg.stop(), redis.stop()]);
  };
}
