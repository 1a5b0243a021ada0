import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { defineConfig } from 'vitest/config';
import { isDriverTypeFetchFailure } from './platform/driver-rejections.js';

// graphql ships CommonJS (main) and ESM (module) builds. Node, Apollo and graphql-ws load the
// CommonJS one; pinning the tests to it too keeps one GraphQLError class (instanceof checks hold).
const graphqlMain = createRequire(import.meta.url).resolve('graphql');

/**
 * Three tiers, told apart by what a file boots (docs/development.md):
 * - fast: test/fast/, the real gateway over inline subgraphs (test/support/gateway-tester.ts), no database;
 * - stack: the other test/*.test.ts files, five servers in the test process on the run's Postgres and Redis;
 * - cluster: the files that start every service as its own process (startCluster), for faults.
 * A file that calls startCluster is in the cluster tier wherever it is, so a new fault test needs no listing here.
 */
const CLUSTER_FILES = readdirSync('test')
  .filter((f) => f.endsWith('.test.ts') && readFileSync(path.join('test', f), 'utf8').includes('startCluster('))
  .map((f) => `test/${f}`);
// One real Postgres server (with a standby) and one Redis server per tier that needs them.
const servers = ['test/support/global-setup.ts'];

export default defineConfig({
  resolve: {
    alias: [
      { find: /^graphql$/, replacement: graphqlMain },
      { find: /^graphql\/(.*)$/, replacement: `${path.dirname(graphqlMain)}/$1` },
    ],
  },
  test: {
    // Each stack or cluster file starts its own supergraph against its own databases: two at a time fits two cores.
    pool: 'forks',
    maxWorkers: 2,
    // Sized for a loaded two-core machine (a passing test costs nothing more): 30 s cut orders tests short at load 20.
    testTimeout: 90_000,
    hookTimeout: 60_000,
    // The services guard this one postgres.js rejection themselves (platform/driver-rejections.ts);
    // in-process stacks share the test process, where Vitest would count it as a test failure.
    onUnhandledError: (error) => !isDriverTypeFetchFailure(error),
    projects: [
      { extends: true, test: { name: 'fast', include: ['test/fast/**/*.test.ts'] } },
      { extends: true, test: { name: 'stack', include: ['test/*.test.ts'], exclude: CLUSTER_FILES, globalSetup: servers } },
      { extends: true, test: { name: 'cluster', include: CLUSTER_FILES, globalSetup: servers } },
    ],
  },
});
