import type { CodegenConfig } from '@graphql-codegen/cli';

/**
 * GraphQL Code Generator, two jobs; `npm run codegen` rewrites both outputs (committed) and
 * `npm run codegen:check` (part of `npm test`) fails when either is stale:
 * - each subgraph's resolver types (typescript-resolvers, federation mode) from its own SDL, with
 *   the parent types mapped to what its resolvers really hand around (Drizzle rows, entity
 *   references), into subgraphs/<name>/generated/: a drift between SDL and resolvers fails tsc;
 * - the project's own test operations (client preset): every graphql(`…`) document under test/
 *   is validated against the client-facing schema and typed, into test/generated/.
 */

/** Parent types per subgraph: GraphQL type -> the TypeScript type its resolvers receive and return. */
const SUBGRAPH_MAPPERS = {
  users: { User: '../db/tables.js#UserRow' },
  catalog: { Product: '../db/tables.js#ProductRow', Category: '../db/tables.js#CategoryRow' },
  orders: {
    Order: '../db/tables.js#OrderRow',
    OrderItem: '../db/tables.js#OrderItemRow',
    // Entities other subgraphs own: orders only ever holds their representation.
    User: "FederationReferenceTypes['User']",
    Product: '../shipping.js#ProductReference',
  },
  billing: {
    Invoice: '../db/tables.js#InvoiceRow',
    Payment: '../db/tables.js#PaymentRow',
    Order: "FederationReferenceTypes['Order']",
    User: "FederationReferenceTypes['User']",
  },
} as const;

const contextType = (name: string) => `../context.js#${name[0]!.toUpperCase()}${name.slice(1)}Context`;

const subgraphResolverTypes = Object.fromEntries(
  Object.entries(SUBGRAPH_MAPPERS).map(([name, mappers]) => [
    `subgraphs/${name}/generated/resolvers.ts`,
    {
      schema: `schema/${name}.graphql`,
      plugins: ['typescript', 'typescript-resolvers'],
      config: {
        federation: true,
        contextType: contextType(name),
        mappers,
        // Enums as string unions, the same values Drizzle's text columns are typed with.
        enumsAsTypes: true,
        // Resolvers return Dates; DateTimeScalar serializes them (and parses input into one).
        scalars: { DateTime: { input: 'Date', output: 'Date | string' } },
        useTypeImports: true,
      },
    },
  ]),
);

const config: CodegenConfig = {
  // Only graphql(`…`) calls are operations to type: tests also send raw strings (some invalid on
  // purpose) through helpers such as a local `gql`, which must not be validated here.
  pluckConfig: { modules: [], globalGqlIdentifierName: 'graphql', gqlMagicComment: 'graphql' },
  generates: {
    ...subgraphResolverTypes,
    'test/generated/': {
      schema: 'schema/api.graphql',
      documents: ['test/**/*.ts', '!test/generated/**'],
      preset: 'client',
      // NodeNext resolution wants `.js` on relative imports; verbatimModuleSyntax wants `import type`.
      config: { useTypeImports: true, emitLegacyCommonJSImports: false },
      presetConfig: { fragmentMasking: false },
    },
  },
};

export default config;
