import { readFile } from 'node:fs/promises';
import { ApolloGateway } from '@apollo/gateway';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPolicies } from '../gateway/authorization/policies.js';
import { sqlStatementCounter } from '../platform/db.js';
import { SUPERGRAPH_FILE } from '../scripts/compose-supergraph.js';
import { codes, startStack } from './support/stack.js';
import type { Stack, TestUser } from './support/stack.js';

/** @authenticated / @requiresScopes, enforced at the gateway with Apollo Router's semantics. */
let stack: Stack;
let admin: TestUser;
let customer: TestUser;

beforeAll(async () => {
  stack = await startStack();
  [admin, customer] = await Promise.all([stack.admin(), stack.customer('Carol')]);
  await stack.product();
});
afterAll(() => stack?.close());

const statementsOf = async (application: string, run: () => Promise<unknown>) => {
  const seen: string[] = [];
  sqlStatementCounter.listener = (s) => s.application === application && seen.push(s.query);
  try {
    await run();
  } finally {
    sqlStatementCounter.listener = undefined;
  }
  return seen;
};

describe('authorization directives', () => {
  it('the composed supergraph carries them; the stock gateway refuses it, ours loads it', async () => {
    const sdl = await readFile(SUPERGRAPH_FILE, 'utf8');
    expect(sdl).toContain('https://specs.apollo.dev/requiresScopes/v0.1", for: SECURITY');
    process.env.APOLLO_TELEMETRY_DISABLED = 'true';
    const stock = new ApolloGateway({ supergraphSdl: sdl });
    await expect(stock.load()).rejects.toThrow(/for: SECURITY but is unsupported/);
    const { byCoordinate, gatewaySdl } = readPolicies(sdl);
    expect(byCoordinate.get('Query.users')).toEqual({ authenticated: true, scopes: [['admin']] });
    expect(byCoordinate.get('Mutation.placeOrder')).toEqual({ authenticated: true, scopes: null });
    const ours = new ApolloGateway({ supergraphSdl: gatewaySdl });
    await expect(ours.load()).resolves.toBeDefined();
    await ours.stop();
  });

  it('a customer asking for an admin-only field gets the rest of the data plus the coded error', async () => {
    const query = `query($email: String!) { me { name } userByEmail(email: $email) { id } products(first: 1) { edges { node { id } } } }`;
    const seen = await statementsOf('users', async () => {
      const res = await stack.gql(query, { email: admin.email }, { token: customer.token });
      expect(res.data.me).toEqual({ name: 'Carol' });
      expect(res.data.userByEmail).toBeNull();
      expect(res.data.products.edges).toHaveLength(1);
      expect(res.errors).toHaveLength(1);
      expect(res.errors![0]).toMatchObject({ path: ['userByEmail'], extensions: { code: 'UNAUTHORIZED_FIELD_OR_TYPE', reason: 'FORBIDDEN' } });
    });
    // Removed before planning: the users service was asked for `me` only, never for the lookup.
    expect(seen.some((q) => /lower/i.test(q))).toBe(false);
    // The same document from an admin is not served the customer's plan.
    const asAdmin = await stack.gql(query, { email: customer.email.toUpperCase() }, { token: admin.token });
    expect(asAdmin.errors).toBeUndefined();
    expect(asAdmin.data.userByEmail).toEqual({ id: customer.id });
    const again = await stack.gql(query, { email: admin.email }, { token: customer.token });
    expect(codes(again)).toEqual(['UNAUTHORIZED_FIELD_OR_TYPE']);
  });

  it('a removed non-null root field nulls the whole data, as GraphQL null propagation would', async () => {
    const res = await stack.gql(`{ me { name } users(first: 5) { edges { node { id } } } }`, {}, { token: customer.token });
    expect(res.data).toBeNull();
    expect(res.errors![0]).toMatchObject({ path: ['users'], extensions: { code: 'UNAUTHORIZED_FIELD_OR_TYPE' } });
  });

  it('a removed non-null field nulls its nearest nullable parent, and only that', async () => {
    const res = await stack.gql(`query($id: ID!) { user(id: $id) { name orders(first: 1) { edges { node { id } } } } categories { id } }`, { id: customer.id });
    expect(res.data.user).toBeNull();
    expect(Array.isArray(res.data.categories)).toBe(true);
    expect(res.errors![0]).toMatchObject({ path: ['user', 'orders'], extensions: { code: 'UNAUTHORIZED_FIELD_OR_TYPE', reason: 'UNAUTHENTICATED' } });
  });

  it('an unauthorized mutation never reaches its subgraph', async () => {
    const { id } = await stack.product({ stock: 3 });
    const seen = await statementsOf('orders', async () => {
      const res = await stack.gql(`mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }`,
        { input: { items: [{ productId: id, quantity: 1 }], idempotencyKey: 'anonymous-attempt' } });
      expect(res.data).toBeNull();
      expect(res.errors![0]).toMatchObject({ path: ['placeOrder'], extensions: { code: 'UNAUTHORIZED_FIELD_OR_TYPE', reason: 'UNAUTHENTICATED' } });
    });
    expect(seen).toEqual([]);
    const customerAdjusts = await stack.gql(`mutation($id: ID!) { adjustStock(productId: $id, delta: 5) { stock } }`, { id }, { token: customer.token });
    expect(customerAdjusts.errors![0]!.extensions).toMatchObject({ code: 'UNAUTHORIZED_FIELD_OR_TYPE', reason: 'FORBIDDEN' });
    expect((await stack.sql.catalog`select stock from products where id = ${id}`)[0]!.stock).toBe(3);
  });

  it('fragments and aliases are checked where they are used', async () => {
    const res = await stack.gql(`query { ...Admin me { ...Me } }
      fragment Admin on Query { everyone: userByEmail(email: "x@example.com") { id } }
      fragment Me on User { id }`, {}, { token: customer.token });
    expect(res.data.me).toEqual({ id: customer.id });
    expect(res.data.everyone).toBeNull();
    expect(res.errors![0]!.path).toEqual(['everyone']);
  });
});
