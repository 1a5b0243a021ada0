// ESLint (flat config): typescript-eslint strict + stylistic, type-checked, for every TypeScript file;
// @graphql-eslint for the subgraph SDL (schema/<subgraph>.graphql), the test operations (graphql(`…`)
// in test/) and the persisted-query manifests. Which schema each GraphQL file is checked against is
// in graphql.config.yml. `npm run lint` runs it over the whole tree (part of `npm test`).
import { readFileSync } from 'node:fs';
import js from '@eslint/js';
import { buildSubgraphSchema } from '@apollo/subgraph';
import graphqlPlugin from '@graphql-eslint/eslint-plugin';
import { parse, printSchema } from 'graphql';
import tseslint from 'typescript-eslint';

const TS_FILES = ['**/*.ts', '**/*.mts', '**/*.mjs', '**/*.js'];

/**
 * Persisted-query manifests are JSON (`{ operations: [{ body }] }`): hand each operation's body to
 * the GraphQL rules as its own virtual `.graphql` file, as graphqlPlugin.processor does for code.
 */
const manifestProcessor = {
  meta: { name: 'persisted-query-manifest' },
  preprocess(text) {
    const operations = JSON.parse(text).operations ?? [];
    return operations.map((op, i) => ({ text: op.body, filename: `${i}_${op.name ?? 'operation'}.graphql` }));
  },
  postprocess: (messages) => messages.flat(),
  supportsAutofix: false,
};

/**
 * A subgraph's SDL is checked against the schema @apollo/subgraph builds from it (federation
 * directives and `_entities` included), handed over as `schemaSdl`: graphql-eslint's own federation
 * path calls buildSubgraphSchema({ typeDefs }), a call form later @apollo/subgraph releases drop.
 */
const subgraphSchemas = ['users', 'catalog', 'orders', 'billing'].map((name) => {
  const file = `schema/${name}.graphql`;
  const schemaSdl = printSchema(buildSubgraphSchema(parse(readFileSync(new URL(file, import.meta.url), 'utf8'))));
  return { files: [file], languageOptions: { parserOptions: { schemaSdl } } };
});

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      'dist/',
      '.data/',
      'coverage/',
      // Generated: codegen (test/generated, subgraphs/*/generated), compose (supergraph + API schema), drizzle-kit (migrations).
      'test/generated/',
      'subgraphs/*/generated/',
      'schema/supergraph.graphql',
      'schema/api.graphql',
      'migrations/',
      // The fixed public contract, a copy kept byte-for-byte.
      'contract/',
      'bench/results/',
    ],
  },
  {
    files: TS_FILES,
    extends: [js.configs.recommended, tseslint.configs.strictTypeChecked, tseslint.configs.stylisticTypeChecked],
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['eslint.config.js', 'bench/*.mjs'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // noUncheckedIndexedAccess is on: `!` marks an element the surrounding code (or the test's own assertion) knows exists.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // `() => void x` / `(x) => set.add(x)` arrow shorthands that return a void call are read as statements.
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true, ignoreVoidOperator: true }],
      // `async` marks functions that implement a Promise-returning contract (resolvers, hooks, handlers) even without an await.
      '@typescript-eslint/require-await': 'off',
      // `() => {}` is the deliberate no-op callback (postgres `onnotice`, swallowed shutdown rejections).
      '@typescript-eslint/no-empty-function': ['error', { allow: ['arrowFunctions'] }],
      // Passing on a caught value unchanged (`catch (err) { reject(err) }`) keeps the original error; it is `unknown` by type.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      // Template literals interpolate numbers and counts on purpose (log lines, SQL identifiers built from numbers).
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      // `_`-prefixed names are the conventional "deliberately unused" (callback positions, destructured rests).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
      // A function a reader can hold (issue 14); one that is longer says why on an eslint-disable-next-line.
      'max-lines-per-function': ['error', { max: 60, skipBlankLines: true, skipComments: true, IIFEs: true }],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      // Responses are parsed JSON (`any`) until every test operation is a typed document (issue 14, codegen); tests assert their shape.
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      // Tests probe values the types call certain (`res.data?.x` on a response that may carry errors instead).
      '@typescript-eslint/no-unnecessary-condition': 'off',
      // A test file's describe()/it() callbacks are lists of cases and a bench's main a script read top to bottom: length there is not nesting.
      'max-lines-per-function': 'off',
    },
  },
  {
    // Plain JavaScript files (this config, bench/*.mjs loader hooks) have no types to check against.
    files: ['**/*.js', '**/*.mjs'],
    extends: [tseslint.configs.disableTypeChecked],
  },
  {
    // Operations in test code: graphql(`…`) documents become virtual .graphql files (pluck config in graphql.config.yml).
    files: ['test/**/*.ts'],
    processor: graphqlPlugin.processor,
  },
  {
    files: ['persisted-queries/*.json'],
    processor: manifestProcessor,
  },
  {
    files: ['**/*.graphql'],
    languageOptions: { parser: graphqlPlugin.parser },
    plugins: { '@graphql-eslint': graphqlPlugin },
  },
  ...subgraphSchemas,
  {
    files: ['schema/*.graphql'],
    rules: {
      ...graphqlPlugin.configs['flat/schema-recommended'].rules,
      // Short docs are one-line "…" strings, long ones block strings: both styles are in use on purpose.
      '@graphql-eslint/description-style': 'off',
      // Root fields carry descriptions; types and inputs named after their field (`SignUpInput`, `UserConnection`) need none.
      '@graphql-eslint/require-description': ['error', { rootField: true }],
      // Connections, payloads and values (Money, PageInfo) are Relay/value shapes without an id.
      '@graphql-eslint/strict-id-in-types': 'off',
      // @cacheControl is declared for Apollo Server's cache hints, not referenced by a field of one subgraph.
      '@graphql-eslint/no-unreachable-types': 'off',
    },
  },
  {
    files: ['test/**/*.ts/*.graphql', 'persisted-queries/*.json/*.graphql'],
    rules: {
      ...graphqlPlugin.configs['flat/operations-recommended'].rules,
      // Tests and manifests select what they read; ids are for a normalised client cache, which these clients do not use.
      '@graphql-eslint/require-selections': 'off',
    },
  },
  {
    // A manifest is one client's list: names are unique within it (pq:check), not across clients and tests.
    files: ['persisted-queries/*.json/*.graphql'],
    rules: { '@graphql-eslint/unique-operation-name': 'off' },
  },
);
