import { readFileSync } from 'node:fs';
import { getOperationAST, parse, print } from 'graphql';
import { describe, expect, it } from 'vitest';
import { readCostHints, operationCost } from '../../gateway/limits/operation-cost.js';
import { createSupergraph } from '../../gateway/supergraph.js';
import { apiSchemaOf } from '../../gateway/persisted-queries/check.js';
import { ACCOUNT_PAGE } from '../support/operations.js';

/** Static cost on the committed supergraph: the API schema for types, the supergraph for @cost / @listSize. */

const supergraph = readFileSync(new URL('../../schema/supergraph.graphql', import.meta.url), 'utf8');
const schema = apiSchemaOf(supergraph);
const hints = readCostHints(createSupergraph(supergraph));
const cost = (query: string, variables: Record<string, unknown> = {}, defaultListSize = 10) => {
  const document = parse(query);
  return operationCost(schema, document, getOperationAST(document)!, variables, hints, { defaultListSize });
};

describe('static operation cost', () => {
  it('reads the hints catalog declares in its SDL from the composed supergraph', () => {
    expect(hints.weights.get('Query.products')).toBe(5);
    expect(hints.listSizes.get('Query.products')).toEqual({ slicingArguments: ['first'], sizedFields: ['edges'] });
    expect(hints.listSizes.get('Category.products')).toEqual({ slicingArguments: ['first'], sizedFields: ['edges'] });
    expect(hints.listSizes.get('Query.categories')).toEqual({ assumedSize: 20 });
  });

  it('charges objects 1 and leaves 0; a lookup by key is cheap', () => {
    // product 1 + price 1 + category 1; id, name, stock, amountCents free.
    expect(cost('{ product(id: "1") { id name stock price { amountCents } category { name } } }')).toBe(3);
    expect(cost('{ __typename }')).toBe(0);
  });

  it('sizes a connection by its slicing argument, literal or variable, on the field @listSize names', () => {
    // products @cost 5, then first × (edge 1 + node 1 + price 1).
    expect(cost('{ products(first: 50) { edges { node { id name price { amountCents } } } } }')).toBe(5 + 50 * 3);
    expect(cost('query($n: Int) { products(first: $n) { edges { node { id } } } }', { n: 7 })).toBe(5 + 7 * 2);
    // No argument: the schema's default (first = 20).
    expect(cost('{ products { edges { node { id } } } }')).toBe(5 + 20 * 2);
    // pageInfo is one object whatever the page size.
    expect(cost('{ products(first: 10) { pageInfo { hasNextPage } } }')).toBe(5 + 1);
  });

  it('uses assumedSize for an unsliced list, and the default list size where there is no hint', () => {
    expect(cost('{ categories { id } }')).toBe(20);
    // Order.items has no hint: 10 items by default, or whatever the gateway is configured with.
    expect(cost('query($id: ID!) { order(id: $id) { items { quantity } } }', { id: 'x' })).toBe(1 + 10);
    expect(cost('query($id: ID!) { order(id: $id) { items { quantity } } }', { id: 'x' }, 3)).toBe(1 + 3);
  });

  it('multiplies nested lists, which is what makes a fan-out query expensive', () => {
    const fanOut = '{ products(first: 100) { edges { node { category { products(first: 100) { edges { node { name } } } } } } } }';
    // 5 + 100 × (edge 1 + node 1 + category 1 + products 1 + 100 × (edge 1 + node 1))
    expect(cost(fanOut)).toBe(5 + 100 * (4 + 100 * 2));
  });

  it('reads a Relay connection without hints (User.orders) by its first argument', () => {
    expect(cost(print(ACCOUNT_PAGE), { n: 5 })).toBe(327);
    expect(cost(print(ACCOUNT_PAGE), { n: 50 })).toBe(3252);
    // The contract's biggest page still fits under the default ceiling of 10,000.
    expect(cost(print(ACCOUNT_PAGE), { n: 100 })).toBe(6502);
  });

  it('charges root mutation fields 10, and follows fragments', () => {
    expect(cost('mutation { logIn(input: { email: "a@b.c", password: "x" }) { token user { id } } }')).toBe(10 + 1);
    const viaFragments = `query { ...Q } fragment Q on Query { product(id: "1") { ...P } } fragment P on Product { price { amountCents } }`;
    expect(cost(viaFragments)).toBe(2);
  });

  it('falls back to argument defaults when the variables are not valid', () => {
    expect(cost('query($n: Int) { products(first: $n) { edges { node { id } } } }', { n: 'many' })).toBe(5 + 20 * 2);
    expect(cost('query($n: Int) { products(first: $n) { edges { node { id } } } }', { n: null })).toBe(5 + 20 * 2);
  });
});
