import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codes, startStack } from './support/stack.js';
import type { Stack, TestUser } from './support/stack.js';

let stack: Stack;
let admin: TestUser;
let customer: TestUser;

beforeAll(async () => {
  stack = await startStack();
  [admin, customer] = await Promise.all([stack.admin(), stack.customer()]);
});
afterAll(() => stack?.close());

const PRODUCT_FIELDS = 'id sku name description price { amountCents currency } category { id name } stock weightGrams createdAt';

describe('catalog: reading', () => {
  it('anonymous callers read products, by id and by SKU, with their category', async () => {
    const category = await stack.category('Kettles');
    const { id, sku } = await stack.product({ categoryId: category.id, priceCents: 4599, stock: 7, weightGrams: 1200 });
    const res = await stack.gql(
      `query($id: ID!, $sku: String!) {
      a: product(id: $id) { ${PRODUCT_FIELDS} } b: productBySku(sku: $sku) { id } }`,
      { id, sku },
    );
    expect(res.errors).toBeUndefined();
    expect(res.data.a).toMatchObject({
      id,
      sku,
      price: { amountCents: 4599, currency: 'USD' },
      stock: 7,
      weightGrams: 1200,
      category: { id: category.id, name: 'Kettles' },
    });
    expect(res.data.a.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(res.data.b).toEqual({ id });
  });

  it('unknown and malformed ids are simply null', async () => {
    const res = await stack.gql(
      `{ a: product(id: "00000000-0000-4000-8000-000000000000") { id } b: product(id: "not-an-id") { id } c: productBySku(sku: "NOPE") { id } }`,
    );
    expect(res.errors).toBeUndefined();
    expect(res.data).toEqual({ a: null, b: null, c: null });
  });

  it('pages through a category with keyset cursors, newest first, without gaps or repeats', async () => {
    const category = await stack.category();
    const made: string[] = [];
    for (let i = 0; i < 7; i++) made.push((await stack.product({ categoryId: category.id })).id);
    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 5; page++) {
      const res: any = await stack.gql(
        `query($c: ID!, $after: String) { products(filter: { categoryId: $c }, first: 3, after: $after) {
        edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }`,
        { c: category.id, after },
      );
      expect(res.errors).toBeUndefined();
      seen.push(...res.data.products.edges.map((e: any) => e.node.id));
      if (!res.data.products.pageInfo.hasNextPage) break;
      after = res.data.products.pageInfo.endCursor;
    }
    expect(seen).toEqual([...made].reverse());
    const viaCategory = await stack.gql(`{ categories { id products(first: 100) { edges { node { id } } } } }`);
    const mine = viaCategory.data.categories.find((c: any) => c.id === category.id);
    expect(mine.products.edges.map((e: any) => e.node.id)).toEqual([...made].reverse());
    // Category.products pages with its own cursors too.
    const firstPage: any = await stack.gql(`{ categories { id products(first: 4) { pageInfo { endCursor hasNextPage } } } }`);
    const cursor = firstPage.data.categories.find((c: any) => c.id === category.id).products.pageInfo.endCursor;
    const rest: any = await stack.gql(`query($a: String) { categories { id products(first: 100, after: $a) { edges { node { id } } } } }`, {
      a: cursor,
    });
    const restIds = rest.data.categories.find((c: any) => c.id === category.id).products.edges.map((e: any) => e.node.id);
    expect(restIds).toEqual([...made].reverse().slice(4));
  });

  it('orders by price both ways and by name, and filters by price, stock and search text', async () => {
    const category = await stack.category();
    const cheap = await stack.product({ categoryId: category.id, priceCents: 100, stock: 0, name: 'Zebra teapot' });
    const mid = await stack.product({ categoryId: category.id, priceCents: 500, name: 'Aardvark mug', description: 'Glazed stoneware' });
    const dear = await stack.product({ categoryId: category.id, priceCents: 900, name: 'Mango bowl' });
    const ids = async (args: string) => {
      const res = await stack.gql(`query($c: ID!) { products(${args.replace('FILTER', 'categoryId: $c')}) { edges { node { id } } } }`, {
        c: category.id,
      });
      expect(res.errors).toBeUndefined();
      return res.data.products.edges.map((e: any) => e.node.id);
    };
    expect(await ids('filter: { FILTER }, orderBy: PRICE_ASC')).toEqual([cheap.id, mid.id, dear.id]);
    expect(await ids('filter: { FILTER }, orderBy: PRICE_DESC')).toEqual([dear.id, mid.id, cheap.id]);
    expect(await ids('filter: { FILTER }, orderBy: NAME_ASC')).toEqual([mid.id, dear.id, cheap.id]);
    expect(await ids('filter: { FILTER, minPriceCents: 200, maxPriceCents: 600 }')).toEqual([mid.id]);
    expect(await ids('filter: { FILTER, inStock: false }')).toEqual([cheap.id]);
    expect(await ids('filter: { FILTER, search: "STONEWARE" }')).toEqual([mid.id]);
    expect(await ids('filter: { FILTER, search: "100%" }')).toEqual([]);
  });

  it('rejects bad pagination and filter input with BAD_USER_INPUT', async () => {
    const forged = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    for (const args of [
      'first: 0',
      'first: 101',
      'after: "garbage"',
      `after: "${forged(['yesterday', 'x'])}"`,
      `after: "${forged(['2026-01-01T00:00:00.000Z', 'not-a-uuid'])}"`,
      'filter: { search: "ab" }',
      'filter: { minPriceCents: 5, maxPriceCents: 1 }',
      'filter: { minPriceCents: -1 }',
    ]) {
      const res = await stack.gql(`{ products(${args}) { edges { node { id } } } }`);
      expect(codes(res), args).toEqual(['BAD_USER_INPUT']);
    }
    const cursorFromOtherOrdering = (await stack.gql(`{ products(first: 1, orderBy: PRICE_ASC) { pageInfo { endCursor } } }`)).data.products
      .pageInfo.endCursor;
    const res = await stack.gql(`query($a: String) { products(first: 1, orderBy: NAME_ASC, after: $a) { edges { cursor } } }`, {
      a: cursorFromOtherOrdering,
    });
    expect(codes(res)).toEqual(['BAD_USER_INPUT']);
  });
});

describe('catalog: admin mutations', () => {
  const create = `mutation($input: CreateProductInput!) { createProduct(input: $input) { id sku stock price { amountCents currency } } }`;
  const validInput = async () => ({
    sku: `SKU-${Math.random().toString(36).slice(2, 10)}`,
    name: 'Pour-over kettle',
    description: 'Gooseneck, 1 l',
    priceCents: 3900,
    currency: 'EUR',
    categoryId: (await stack.category()).id,
    stock: 3,
    weightGrams: 900,
  });

  it('anonymous and customers cannot change the catalog', async () => {
    const input = await validInput();
    expect(codes(await stack.gql(create, { input }))).toEqual(['UNAUTHENTICATED']);
    expect(codes(await stack.gql(create, { input }, { token: customer.token }))).toEqual(['FORBIDDEN']);
    const { id } = await stack.product();
    expect(
      codes(await stack.gql(`mutation($id: ID!) { adjustStock(productId: $id, delta: 1) { id } }`, { id }, { token: customer.token })),
    ).toEqual(['FORBIDDEN']);
    expect(
      codes(
        await stack.gql(`mutation($id: ID!) { updateProduct(id: $id, input: { name: "x" }) { id } }`, { id }, { token: customer.token }),
      ),
    ).toEqual(['FORBIDDEN']);
  });

  it('validates every field of createProduct', async () => {
    const base = await validInput();
    const bad: Record<string, unknown>[] = [
      { sku: '' },
      { sku: 'has space' },
      { name: '   ' },
      { priceCents: -1 },
      { currency: 'usd' },
      { currency: 'EURO' },
      { stock: -1 },
      { weightGrams: -5 },
    ];
    for (const patch of bad) {
      const res = await stack.gql(create, { input: { ...base, ...patch } }, { token: admin.token });
      expect(codes(res), JSON.stringify(patch)).toEqual(['BAD_USER_INPUT']);
    }
    const unknownCategory = await stack.gql(
      create,
      { input: { ...base, categoryId: '00000000-0000-4000-8000-000000000000' } },
      { token: admin.token },
    );
    expect(codes(unknownCategory)).toEqual(['NOT_FOUND']);
    expect((await stack.gql(create, { input: base }, { token: admin.token })).errors).toBeUndefined();
    const duplicate = await stack.gql(create, { input: base }, { token: admin.token });
    expect(codes(duplicate)).toEqual(['BAD_USER_INPUT']);
    expect(duplicate.errors![0]!.message).toMatch(/already taken/);
  });

  it('rejects wrong variable types before any resolver runs', async () => {
    const res = await stack.gql(create, { input: { ...(await validInput()), priceCents: '12.5' } }, { token: admin.token });
    expect(res.status).toBe(400);
    expect(codes(res)).toEqual(['BAD_USER_INPUT']);
  });

  it('updates a product and adjusts stock, never below zero', async () => {
    const { id } = await stack.product({ stock: 2 });
    const upd = await stack.gql(
      `mutation($id: ID!) { updateProduct(id: $id, input: { name: "Renamed", priceCents: 1234 }) { name price { amountCents } } }`,
      { id },
      { token: admin.token },
    );
    expect(upd.data.updateProduct).toEqual({ name: 'Renamed', price: { amountCents: 1234 } });
    const adjust = (delta: number) =>
      stack.gql(
        `mutation($id: ID!, $d: Int!) { adjustStock(productId: $id, delta: $d) { stock } }`,
        { id, d: delta },
        { token: admin.token },
      );
    expect((await adjust(5)).data.adjustStock.stock).toBe(7);
    expect((await adjust(-7)).data.adjustStock.stock).toBe(0);
    expect(codes(await adjust(-1))).toEqual(['INVALID_STATE']);
    const missing = await stack.gql(
      `mutation { adjustStock(productId: "00000000-0000-4000-8000-000000000000", delta: 1) { stock } }`,
      {},
      { token: admin.token },
    );
    expect(codes(missing)).toEqual(['NOT_FOUND']);
    const missingUpdate = await stack.gql(
      `mutation { updateProduct(id: "nope", input: { name: "x" }) { id } }`,
      {},
      { token: admin.token },
    );
    expect(codes(missingUpdate)).toEqual(['NOT_FOUND']);
  });

  it('concurrent stock adjustments are all applied and never take stock negative', async () => {
    const { id } = await stack.product({ stock: 10 });
    const results = await Promise.all(
      Array.from({ length: 15 }, () =>
        stack.gql(`mutation($id: ID!) { adjustStock(productId: $id, delta: -1) { stock } }`, { id }, { token: admin.token }),
      ),
    );
    expect(results.filter((r) => !r.errors).length).toBe(10);
    expect(results.filter((r) => codes(r)[0] === 'INVALID_STATE').length).toBe(5);
    const [row] = await stack.sql.catalog`select stock from products where id = ${id}`;
    expect(row!.stock).toBe(0);
  });
});
