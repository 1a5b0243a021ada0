import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * GraphQL Code Generator (client preset) for the project's own test operations: every
 * graphql(`…`) document under test/ is validated against the client-facing schema and typed, so a
 * misspelt field in a test query fails `npm run typecheck`. `npm run codegen` rewrites
 * test/generated/ (committed); `npm run codegen:check` (part of `npm test`) fails when it is stale.
 */

const config: CodegenConfig = {
  schema: 'schema/api.graphql',
  documents: ['test/**/*.ts', '!test/generated/**'],
  // Only graphql(`…`) calls are operations to type: tests also send raw strings (some invalid on
  // purpose) through helpers such as a local `gql`, which must not be validated here.
  pluckConfig: { modules: [], globalGqlIdentifierName: 'graphql', gqlMagicComment: 'graphql' },
  generates: {
    'test/generated/': {
      preset: 'client',
      // NodeNext resolution wants `.js` on relative imports; verbatimModuleSyntax wants `import type`.
      config: { useTypeImports: true, emitLegacyCommonJSImports: false },
      presetConfig: { fragmentMasking: false },
    },
  },
};

export default config;
