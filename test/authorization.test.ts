import { readFile } from 'node:fs/promises';
import { ApolloGateway } from '@apollo/gateway';
import { buildSchema, getNamedType, isEnumType, isInputObjectType, isListType, isNonNullType, isScalarType } from 'graphql';
import type { GraphQLField, GraphQLInputType, GraphQLSchema } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPolicies } from '../gateway/authorization/policies.js';
import { createSupergraph } from '../gateway/supergraph.js';
import { sqlStatementCounter } from '../platform/db.js';
import { API_SCHEMA_FILE, SUPERGRAPH_FILE } from '../scripts/compose-supergraph.js';
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
  // Request traffic only: the outbox relay polls on its own schedule.
  sqlStatementCounter.listener = (s) => s.application === application && s.role !== 'background' && seen.push(s.query);
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
    const { byCoordinate, gatewaySdl } = readPolicies(createSupergraph(sdl));
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
      expect(res.errors![0]).toMatchObject({
        path: ['userByEmail'],
        extensions: { code: 'FORBIDDEN', authorization: { code: 'UNAUTHORIZED_FIELD_OR_TYPE', coordinate: 'Query.userByEmail' } },
      });
    });
    // Removed before planning: the users service was asked for `me` only, never for the lookup.
    expect(seen.some((q) => /lower/i.test(q))).toBe(false);
    // The same document from an admin is not served the customer's plan.
    const asAdmin = await stack.gql(query, { email: customer.email.toUpperCase() }, { token: admin.token });
    expect(asAdmin.errors).toBeUndefined();
    expect(asAdmin.data.userByEmail).toEqual({ id: customer.id });
    const again = await stack.gql(query, { email: admin.email }, { token: customer.token });
    expect(codes(again)).toEqual(['FORBIDDEN']);
  });

  it('a removed non-null root field nulls the whole data, as GraphQL null propagation would', async () => {
    const res = await stack.gql(`{ me { name } users(first: 5) { edges { node { id } } } }`, {}, { token: customer.token });
    expect(res.data).toBeNull();
    expect(res.errors![0]).toMatchObject({ path: ['users'], extensions: { code: 'FORBIDDEN' } });
  });

  it('a removed non-null field nulls its nearest nullable parent, and only that', async () => {
    const res = await stack.gql(`query($id: ID!) { user(id: $id) { name orders(first: 1) { edges { node { id } } } } categories { id } }`, {
      id: customer.id,
    });
    expect(res.data.user).toBeNull();
    expect(Array.isArray(res.data.categories)).toBe(true);
    expect(res.errors![0]).toMatchObject({
      path: ['user', 'orders'],
      extensions: { code: 'UNAUTHENTICATED', authorization: { coordinate: 'User.orders' } },
    });
  });

  it('an unauthorized mutation never reaches its subgraph', async () => {
    const { id } = await stack.product({ stock: 3 });
    const seen = await statementsOf('orders', async () => {
      const res = await stack.gql(`mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }`, {
        input: { items: [{ productId: id, quantity: 1 }], idempotencyKey: 'anonymous-attempt' },
      });
      expect(res.data).toBeNull();
      expect(res.errors![0]).toMatchObject({ path: ['placeOrder'], extensions: { code: 'UNAUTHENTICATED' } });
    });
    expect(seen).toEqual([]);
    const customerAdjusts = await stack.gql(
      `mutation($id: ID!) { adjustStock(productId: $id, delta: 5) { stock } }`,
      { id },
      { token: customer.token },
    );
    expect(customerAdjusts.errors![0]!.extensions).toMatchObject({
      code: 'FORBIDDEN',
      authorization: { code: 'UNAUTHORIZED_FIELD_OR_TYPE' },
    });
    expect((await stack.sql.catalog`select stock from products where id = ${id}`)[0]!.stock).toBe(3);
  });

  it('fragments and aliases are checked where they are used', async () => {
    const res = await stack.gql(
      `query { ...Admin me { ...Me } }
      fragment Admin on Query { everyone: userByEmail(email: "x@example.com") { id } }
      fragment Me on User { id }`,
      {},
      { token: customer.token },
    );
    expect(res.data.me).toEqual({ id: customer.id });
    expect(res.data.everyone).toBeNull();
    expect(res.errors![0]!.path).toEqual(['everyone']);
  });
});

/** A value that passes validation for an input type (the field is removed before it is ever used). */
function sampleValue(type: GraphQLInputType): unknown {
  if (isNonNullType(type)) return sampleValue(type.ofType);
  if (isListType(type)) return [sampleValue(type.ofType)];
  if (isEnumType(type)) return type.getValues()[0]!.value;
  if (isInputObjectType(type)) {
    return Object.fromEntries(
      Object.values(type.getFields())
        .filter((f) => isNonNullType(f.type))
        .map((f) => [f.name, sampleValue(f.type)]),
    );
  }
  if (isScalarType(type))
    return ({ Int: 1, Float: 1, Boolean: true } as Record<string, unknown>)[type.name] ?? '00000000-0000-4000-8000-000000000000';
  return null;
}

/** `query($a: T!) { field(a: $a) { __typename } }` for one root field, with variables that validate. */
function operationFor(kind: 'query' | 'mutation', field: GraphQLField<unknown, unknown>) {
  const defs = field.args.map((a) => `$${a.name}: ${a.type.toString()}`);
  const args = field.args.map((a) => `${a.name}: $${a.name}`);
  const selection = isScalarType(getNamedType(field.type)) || isEnumType(getNamedType(field.type)) ? '' : ' { __typename }';
  const query = `${kind}${defs.length ? `(${defs.join(', ')})` : ''} { ${field.name}${args.length ? `(${args.join(', ')})` : ''}${selection} }`;
  return { query, variables: Object.fromEntries(field.args.map((a) => [a.name, sampleValue(a.type)])) };
}

describe('contract codes for every guarded operation', () => {
  let api: GraphQLSchema;
  let guarded: { kind: 'query' | 'mutation'; field: GraphQLField<unknown, unknown>; adminOnly: boolean }[];

  beforeAll(async () => {
    const sdl = await readFile(SUPERGRAPH_FILE, 'utf8');
    const { byCoordinate } = readPolicies(createSupergraph(sdl));
    api = buildSchema(await readFile(API_SCHEMA_FILE, 'utf8'));
    guarded = [];
    for (const kind of ['query', 'mutation'] as const) {
      const root = kind === 'query' ? api.getQueryType()! : api.getMutationType()!;
      for (const field of Object.values(root.getFields())) {
        const policy = byCoordinate.get(`${root.name}.${field.name}`);
        if (policy) guarded.push({ kind, field, adminOnly: policy.scopes !== null });
      }
    }
  });

  it('knows every admin and signed-in root operation of the schema', () => {
    const names = guarded.map((g) => `${g.field.name}${g.adminOnly ? ' (admin)' : ''}`).sort();
    expect(names).toEqual([
      'adjustStock (admin)',
      'cancelOrder',
      'createCategory (admin)',
      'createProduct (admin)',
      'invoice',
      'order',
      'payInvoice',
      'placeOrder',
      'refundPayment (admin)',
      'setOrderStatus (admin)',
      'updateProduct (admin)',
      'updateProfile',
      'userByEmail (admin)',
      'users (admin)',
    ]);
  });

  it('anonymous callers get UNAUTHENTICATED on each, and no subgraph runs a statement', async () => {
    for (const { kind, field } of guarded) {
      const { query, variables } = operationFor(kind, field);
      const seen: string[] = [];
      sqlStatementCounter.listener = (s) => s.role !== 'background' && seen.push(`${s.application}: ${s.query}`);
      try {
        const res = await stack.gql(query, variables);
        expect({ field: field.name, errors: res.errors?.map((e) => ({ path: e.path, code: e.extensions?.code })) }).toEqual({
          field: field.name,
          errors: [{ path: [field.name], code: 'UNAUTHENTICATED' }],
        });
        expect(res.errors![0]!.extensions).toMatchObject({
          authorization: { code: 'UNAUTHORIZED_FIELD_OR_TYPE', coordinate: `${kind === 'query' ? 'Query' : 'Mutation'}.${field.name}` },
        });
      } finally {
        sqlStatementCounter.listener = undefined;
      }
      expect(seen).toEqual([]);
    }
  });

  it('a customer gets FORBIDDEN on each admin operation and is let through to the signed-in ones', async () => {
    for (const { kind, field, adminOnly } of guarded) {
      const { query, variables } = operationFor(kind, field);
      const res = await stack.gql(query, variables, { token: customer.token });
      const authErrors = (res.errors ?? []).filter((e) => e.extensions?.authorization);
      if (adminOnly) {
        expect({ field: field.name, codes: codes(res) }).toEqual({ field: field.name, codes: ['FORBIDDEN'] });
        expect(authErrors).toHaveLength(1);
      } else {
        // Past the gateway's check: whatever the subgraph says (e.g. NOT_FOUND for the made-up id), never the gateway's denial.
        expect({ field: field.name, authErrors }).toEqual({ field: field.name, authErrors: [] });
        expect(codes(res)).not.toContain('UNAUTHENTICATED');
      }
    }
  });

  it('an admin passes the gateway on every one of them', async () => {
    for (const { kind, field } of guarded) {
      const { query, variables } = operationFor(kind, field);
      const res = await stack.gql(query, variables, { token: admin.token });
      // The subgraph may still refuse (an admin pays no invoices: FORBIDDEN there), but the gateway removed nothing.
      const authErrors = (res.errors ?? []).filter((e) => e.extensions?.authorization);
      expect({ field: field.name, authErrors }).toEqual({ field: field.name, authErrors: [] });
    }
  });
});
