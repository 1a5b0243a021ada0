import type { GraphQLFieldResolver, GraphQLScalarType } from 'graphql';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parent values differ per type; generated resolver types narrow them
type AnyParent = any;

/**
 * The resolver map buildSubgraphSchema takes (`GraphQLResolverMap` in @apollo/subgraph). The
 * pinned federation release (2.14.4, see rover.yaml) keeps that type out of the package root, so
 * its shape is restated here rather than deep-imported from `@apollo/subgraph/dist/…`.
 */
export type GraphQLResolverMap<TContext> = Record<
  string,
  | Record<
      string,
      | GraphQLFieldResolver<AnyParent, TContext>
      | { requires?: string; resolve?: GraphQLFieldResolver<AnyParent, TContext>; subscribe?: GraphQLFieldResolver<AnyParent, TContext> }
    >
  | GraphQLScalarType
  | Record<string, string | number>
>;
