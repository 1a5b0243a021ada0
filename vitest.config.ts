import { createRequire } from 'node:module';
import path from 'node:path';
import { defineConfig } from 'vitest/config';
import { isDriverTypeFetchFailure } from './platform/driver-rejections.js';

// graphql ships CommonJS (main) and ESM (module) builds. Node, Apollo and graphql-ws load the
// CommonJS one; pinning the tests to it too keeps one GraphQLError class (instanceof checks hold).
const graphqlMain = createRequire(import.meta.url).resolve('graphql');

export default defineConfig({
  resolve: {
    alias: [
      { find: /^graphql$/, replacement: graphqlMain },
      { find: /^graphql\/(.*)$/, replacement: `${path.dirname(graphqlMain)}/$1` },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    // Each file starts its own supergraph (five servers) against its own databases: two at a time fits two cores.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // The services guard this one postgres.js rejection themselves (platform/driver-rejections.ts);
    // in-process stacks share the test process, where Vitest would count it as a test failure.
    onUnhandledError: (error) => !isDriverTypeFetchFailure(error),
  },
});
