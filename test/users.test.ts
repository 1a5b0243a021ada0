import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import type { JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateServiceKey } from '../platform/auth/service-token.js';
import { hashPassword, verifyPassword } from '../subgraphs/users/passwords.js';
import { createTokenIssuer } from '../subgraphs/users/tokens.js';
import { codes, startStack } from './support/stack.js';
import type { GqlResponse, Stack, TestUser, UntypedResponse } from './support/stack.js';

let stack: Stack;
let admin: TestUser;
let alice: TestUser;
let bob: TestUser;

beforeAll(async () => {
  stack = await startStack();
  [admin, alice, bob] = await Promise.all([stack.admin(), stack.customer('Alice'), stack.customer('Bob')]);
});
afterAll(() => stack?.close());

const SIGN_UP = `mutation($input: SignUpInput!) { signUp(input: $input) { token user { id name email role createdAt } } }`;
const LOG_IN = `mutation($input: LogInInput!) { logIn(input: $input) { token user { id name email role } } }`;
const UPDATE_PROFILE = `mutation($input: UpdateProfileInput!) { updateProfile(input: $input) { id name email } }`;
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const PASSWORD = 'a-long-enough-password';

let n = 0;
const freshEmail = (local = 'person') => `${local}-${Date.now().toString(36)}-${n++}@Example.test`;
const signUp = (input: Record<string, unknown>) => stack.gql(SIGN_UP, { input });
const logIn = (email: string, password: string) => stack.gql(LOG_IN, { input: { email, password } });

/** The single error of a response, with its field name, for validation checks. */
function only(res: GqlResponse<unknown>) {
  expect(res.errors, JSON.stringify(res.errors)).toHaveLength(1);
  return res.errors![0]!;
}

async function jwks(): Promise<{ res: Response; body: JSONWebKeySet }> {
  const res = await fetch(`${stack.supergraph.urls.users}/.well-known/jwks.json`);
  return { res, body: (await res.json()) as JSONWebKeySet };
}

const verify = async (token: string) =>
  jwtVerify(token, createLocalJWKSet((await jwks()).body), {
    issuer: 'urn:supergraph:users',
    audience: 'urn:supergraph',
    algorithms: ['ES256'],
  });

describe('users: signUp', () => {
  it('creates a customer, keeps the email as typed, trims the name, and returns a token and the user', async () => {
    const email = freshEmail('New.Person');
    const res = await signUp({ email: `  ${email} `, name: '  Grace Hopper  ', password: PASSWORD });
    expect(res.errors).toBeUndefined();
    const { token, user } = res.data.signUp;
    // The caller is still anonymous, but the payload's user is them: they see their own fields.
    expect(user).toMatchObject({ name: 'Grace Hopper', email, role: 'CUSTOMER' });
    expect(user.createdAt).toMatch(ISO);
    expect(typeof token).toBe('string');
    const me = await stack.gql(`{ me { id email } }`, {}, { token });
    expect(me.data.me).toEqual({ id: user.id, email });
  });

  it('stores only a salted scrypt hash', async () => {
    const email = freshEmail();
    const a = await signUp({ email, name: 'A', password: PASSWORD });
    const b = await signUp({ email: freshEmail(), name: 'B', password: PASSWORD });
    const rows = await stack.sql
      .users`select id, password_hash from users where id in (${a.data.signUp.user.id}, ${b.data.signUp.user.id})`;
    expect(rows).toHaveLength(2);
    for (const row of rows) {
      expect(row.password_hash).toMatch(/^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{88}$/);
      expect(row.password_hash).not.toContain(PASSWORD);
    }
    expect(rows[0]!.password_hash).not.toBe(rows[1]!.password_hash);
  });

  it('rejects an email already taken in any letter case with EMAIL_TAKEN', async () => {
    const email = freshEmail('Taken');
    expect((await signUp({ email, name: 'First', password: PASSWORD })).errors).toBeUndefined();
    for (const again of [email, email.toLowerCase(), email.toUpperCase()]) {
      const res = await signUp({ email: again, name: 'Second', password: PASSWORD });
      expect(codes(res)).toEqual(['EMAIL_TAKEN']);
      expect(res.data).toBeNull();
    }
    const rows = await stack.sql.users`select id from users where lower(email) = ${email.toLowerCase()}`;
    expect(rows).toHaveLength(1);
  });

  it('validates every field with BAD_USER_INPUT naming it', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ email: 'not-an-email' }, 'input.email'],
      [{ email: 'two@@example.test' }, 'input.email'],
      [{ email: '' }, 'input.email'],
      [{ email: `${'a'.repeat(243)}@example.test` }, 'input.email'], // 256 characters
      [{ name: '' }, 'input.name'],
      [{ name: '   ' }, 'input.name'],
      [{ name: 'x'.repeat(101) }, 'input.name'],
      [{ password: '123456789' }, 'input.password'],
      [{ password: 'x'.repeat(1001) }, 'input.password'],
    ];
    for (const [override, field] of cases) {
      const res = await signUp({ email: freshEmail(), name: 'Valid Name', password: PASSWORD, ...override });
      const error = only(res);
      expect(error.extensions?.code, field).toBe('BAD_USER_INPUT');
      expect(error.extensions?.field, JSON.stringify(override).slice(0, 60)).toBe(field);
      expect(error.message).toContain(field);
    }
  });

  it('accepts the boundaries: 10-character password, 100-character name, 254-character email', async () => {
    const local = `b${Date.now().toString(36)}${n++}`;
    const email = `${local}${'a'.repeat(254 - local.length - '@example.test'.length)}@example.test`;
    expect(email).toHaveLength(254);
    const res = await signUp({ email, name: ` ${'n'.repeat(100)} `, password: '0123456789' });
    expect(res.errors).toBeUndefined();
    expect(res.data.signUp.user.name).toHaveLength(100);
  });
});

describe('users: logIn and tokens', () => {
  it('signs in with the email in any case and returns a working token', async () => {
    const res = await logIn(alice.email.toUpperCase(), alice.password);
    expect(res.errors).toBeUndefined();
    expect(res.data.logIn.user).toEqual({ id: alice.id, name: 'Alice', email: alice.email, role: 'CUSTOMER' });
    const me = await stack.gql(`{ me { id name } }`, {}, { token: res.data.logIn.token });
    expect(me.data.me).toEqual({ id: alice.id, name: 'Alice' });
  });

  it('gives the same INVALID_CREDENTIALS error for a wrong password and an unknown email', async () => {
    const wrongPassword = await logIn(alice.email, 'not-the-password');
    const unknownEmail = await logIn(freshEmail('nobody'), alice.password);
    const malformedEmail = await logIn('not even an email', alice.password);
    for (const res of [wrongPassword, unknownEmail, malformedEmail]) {
      expect(codes(res)).toEqual(['INVALID_CREDENTIALS']);
      expect(res.data).toBeNull();
    }
    expect(unknownEmail.errors![0]!.message).toBe(wrongPassword.errors![0]!.message);
    expect(unknownEmail.errors![0]!.extensions).toEqual(wrongPassword.errors![0]!.extensions);
  });

  it('spends comparable time on an unknown email and on a wrong password (a dummy hash is checked)', async () => {
    const median = async (attempt: () => Promise<unknown>) => {
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        const start = performance.now();
        await attempt();
        times.push(performance.now() - start);
      }
      return times.sort((a, b) => a - b)[2]!;
    };
    const wrongPassword = await median(() => logIn(alice.email, 'not-the-password'));
    const unknownEmail = await median(() => logIn(freshEmail('nobody'), 'not-the-password'));
    // Without the dummy scrypt run an unknown email answers several times faster.
    expect(unknownEmail).toBeGreaterThan(wrongPassword / 3);
  });

  it('issues ES256 JWTs verifiable with the JWKS the users service publishes', async () => {
    const { res, body } = await jwks();
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('public, max-age=300');
    expect(body.keys.length).toBeGreaterThanOrEqual(1);
    for (const key of body.keys) {
      expect(key).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
      expect(key).not.toHaveProperty('d');
      expect(key.kid).toBeTruthy();
    }

    const token = (await logIn(bob.email, bob.password)).data.logIn.token as string;
    const header = decodeProtectedHeader(token);
    expect(header.alg).toBe('ES256');
    expect(body.keys.map((k) => k.kid)).toContain(header.kid);
    const { payload } = await verify(token);
    expect(payload).toMatchObject({ sub: bob.id, role: 'CUSTOMER', scope: '', iss: 'urn:supergraph:users', aud: 'urn:supergraph' });
    expect(payload.exp! - payload.iat!).toBe(3600);
    expect(Math.abs(payload.iat! - Date.now() / 1000)).toBeLessThan(60);

    const adminPayload = (await verify(admin.token)).payload;
    expect(adminPayload).toMatchObject({ sub: admin.id, role: 'ADMIN', scope: 'admin' });
  });

  it('a tampered token is refused at the gateway', async () => {
    const [h, p, s] = alice.token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, role: 'ADMIN' })).toString('base64url')}.${s}`;
    const res = await stack.gql(`{ me { id } }`, {}, { token: forged });
    expect(codes(res)).toEqual(['UNAUTHENTICATED']);
  });
});

describe('users: reading', () => {
  it('me is null when anonymous and the caller when signed in', async () => {
    const anonymous = await stack.gql(`{ me { id } }`);
    expect(anonymous.errors).toBeUndefined();
    expect(anonymous.data.me).toBeNull();
    const res = await stack.gql(`{ me { id name email role createdAt } }`, {}, { token: alice.token });
    expect(res.errors).toBeUndefined();
    expect(res.data.me).toMatchObject({ id: alice.id, name: 'Alice', email: alice.email, role: 'CUSTOMER' });
    expect(res.data.me.createdAt).toMatch(ISO);
  });

  it('anyone reads id and name; email is null with FORBIDDEN for anyone but the user and admins', async () => {
    const query = `query($id: ID!) { user(id: $id) { id name email } }`;
    for (const token of [undefined, bob.token]) {
      const res = await stack.gql(query, { id: alice.id }, token ? { token } : {});
      expect(res.data.user).toEqual({ id: alice.id, name: 'Alice', email: null });
      expect(codes(res)).toEqual(['FORBIDDEN']);
      expect(res.errors![0]!.path).toEqual(['user', 'email']);
    }
    const self = await stack.gql(query, { id: alice.id }, { token: alice.token });
    expect(self.errors).toBeUndefined();
    expect(self.data.user).toEqual({ id: alice.id, name: 'Alice', email: alice.email });
  });

  it('role and createdAt are the user themself or an admin only (FORBIDDEN otherwise)', async () => {
    const query = `query($id: ID!) { user(id: $id) { id role createdAt } }`;
    for (const token of [undefined, bob.token]) {
      const res = await stack.gql(query, { id: alice.id }, token ? { token } : {});
      expect(codes(res)).toContain('FORBIDDEN');
      expect(res.data.user).toBeNull();
    }
    const self = await stack.gql(query, { id: alice.id }, { token: alice.token });
    expect(self.errors).toBeUndefined();
    expect(self.data.user).toMatchObject({ id: alice.id, role: 'CUSTOMER' });
  });

  it('an admin sees every field of anyone', async () => {
    const res = await stack.gql(
      `query($id: ID!) { user(id: $id) { id name email role createdAt } }`,
      { id: alice.id },
      { token: admin.token },
    );
    expect(res.errors).toBeUndefined();
    expect(res.data.user).toMatchObject({ id: alice.id, name: 'Alice', email: alice.email, role: 'CUSTOMER' });
    expect(res.data.user.createdAt).toMatch(ISO);
  });

  it('unknown and malformed ids are null without an error', async () => {
    const res = await stack.gql(
      `{ a: user(id: "00000000-0000-4000-8000-000000000000") { id } b: user(id: "nope") { id } c: user(id: "") { id } }`,
      {},
      { token: admin.token },
    );
    expect(res.errors).toBeUndefined();
    expect(res.data).toEqual({ a: null, b: null, c: null });
  });

  it('resolves User references from other subgraphs (Order.customer) with the same field rules', async () => {
    const product = await stack.product({ stock: 5 });
    const placed = await stack.gql(
      `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }`,
      { input: { items: [{ productId: product.id, quantity: 1 }], idempotencyKey: `users-ref-${Date.now()}` } },
      { token: alice.token },
    );
    expect(placed.errors).toBeUndefined();
    const query = `query($id: ID!) { order(id: $id) { customer { id name email } } }`;
    const own = await stack.gql(query, { id: placed.data.placeOrder.id }, { token: alice.token });
    expect(own.errors).toBeUndefined();
    expect(own.data.order.customer).toEqual({ id: alice.id, name: 'Alice', email: alice.email });
    const asAdmin = await stack.gql(query, { id: placed.data.placeOrder.id }, { token: admin.token });
    expect(asAdmin.errors).toBeUndefined();
    expect(asAdmin.data.order.customer.email).toBe(alice.email);
  });
});

describe('users: the admin list', () => {
  const cursor = (values: unknown[]) => Buffer.from(JSON.stringify(values)).toString('base64url');
  const LIST = `query($first: Int, $after: String) { users(first: $first, after: $after) {
    edges { cursor node { id name email createdAt } } pageInfo { hasNextPage endCursor } } }`;

  it('is admins only: UNAUTHENTICATED when anonymous, FORBIDDEN for a customer', async () => {
    const anonymous = await stack.gql(LIST, { first: 5 });
    expect(codes(anonymous)).toEqual(['UNAUTHENTICATED']);
    expect(anonymous.data).toBeNull();
    const customer = await stack.gql(LIST, { first: 5 }, { token: alice.token });
    expect(codes(customer)).toEqual(['FORBIDDEN']);
    // Auth comes before argument checks: outsiders learn nothing from a bad argument either.
    expect(codes(await stack.gql(LIST, { first: 0 }, { token: alice.token }))).toEqual(['FORBIDDEN']);
  });

  it('rejects first outside 1..100 and a foreign cursor with BAD_USER_INPUT', async () => {
    for (const variables of [
      { first: 0 },
      { first: 101 },
      { first: -1 },
      { first: 5, after: 'garbage' },
      { first: 5, after: cursor([1, 2]) },
      { first: 5, after: cursor(['not a date', '00000000-0000-4000-8000-000000000000']) },
      { first: 5, after: cursor([new Date().toISOString(), 'not-an-id']) },
    ]) {
      const res = await stack.gql(LIST, variables, { token: admin.token });
      expect(codes(res), JSON.stringify(variables)).toEqual(['BAD_USER_INPUT']);
    }
    const ok = await stack.gql(LIST, { first: 100 }, { token: admin.token });
    expect(ok.errors).toBeUndefined();
  });

  it('pages newest first with keyset cursors, without gaps or duplicates', async () => {
    for (let i = 0; i < 5; i++) await stack.customer(`Listed ${i}`);
    const expected = (await stack.sql.users`select id from users order by created_at desc, id desc`).map((r) => r.id as string);
    expect(expected.length).toBeGreaterThan(8);

    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 100; page++) {
      const res: UntypedResponse = await stack.gql(LIST, { first: 3, after }, { token: admin.token });
      expect(res.errors).toBeUndefined();
      const { edges, pageInfo } = res.data.users;
      expect(edges.length).toBeLessThanOrEqual(3);
      seen.push(...edges.map((e: any) => e.node.id));
      expect(pageInfo.endCursor).toBe(edges.at(-1)?.cursor ?? null);
      if (!pageInfo.hasNextPage) break;
      after = pageInfo.endCursor;
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual(expected);

    const first = await stack.gql(LIST, {}, { token: admin.token });
    expect(first.data.users.edges).toHaveLength(Math.min(20, expected.length)); // default page size
    expect(first.data.users.edges[0].node.name).toBe('Listed 4');
  });
});

describe('users: updateProfile', () => {
  it('needs a signed-in caller', async () => {
    const res = await stack.gql(UPDATE_PROFILE, { input: { name: 'Someone' } });
    expect(codes(res)).toEqual(['UNAUTHENTICATED']);
  });

  it("changes the caller's own name, trimmed", async () => {
    const user = await stack.customer('Before');
    const res = await stack.gql(UPDATE_PROFILE, { input: { name: '  After  ' } }, { token: user.token });
    expect(res.errors).toBeUndefined();
    expect(res.data.updateProfile).toEqual({ id: user.id, name: 'After', email: user.email });
    const read = await stack.gql(`query($id: ID!) { user(id: $id) { name } }`, { id: user.id });
    expect(read.data.user.name).toBe('After');
  });

  it('validates the name (1..100 characters after trimming)', async () => {
    const user = await stack.customer('Unchanged');
    for (const name of ['', '    ', 'x'.repeat(101)]) {
      const error = only(await stack.gql(UPDATE_PROFILE, { input: { name } }, { token: user.token }));
      expect(error.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.name' });
    }
    const read = await stack.gql(`query($id: ID!) { user(id: $id) { name } }`, { id: user.id });
    expect(read.data.user.name).toBe('Unchanged');
  });
});

describe('users: passwords.ts and tokens.ts', () => {
  it('hashes with a fresh salt each time and verifies only the right password', async () => {
    const [a, b] = await Promise.all([hashPassword(PASSWORD), hashPassword(PASSWORD)]);
    expect(a).not.toBe(b);
    expect(await verifyPassword(PASSWORD, a)).toBe(true);
    expect(await verifyPassword(`${PASSWORD}x`, a)).toBe(false);
    // Composed and decomposed forms of the same text are the same password.
    expect(await verifyPassword('caf\u0065\u0301-password', await hashPassword('caf\u00e9-password'))).toBe(true);
    for (const broken of ['', 'plain', 'scrypt$16384$8$1$c2FsdA==', 'scrypt$99999999$8$1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA==']) {
      expect(await verifyPassword(PASSWORD, broken)).toBe(false);
    }
  });

  it('publishes the current public key and the previous ones during a rotation, never private members', async () => {
    const [current, previous] = await Promise.all([generateServiceKey('users-jwt', '2'), generateServiceKey('users-jwt', '1')]);
    const issuer = await createTokenIssuer({
      JWT_PRIVATE_JWK: current.privateJwk as never,
      JWT_PREVIOUS_PUBLIC_JWKS: { keys: [previous.privateJwk as never] },
      JWT_ISSUER: 'urn:test',
      JWT_AUDIENCE: 'urn:test:aud',
      JWT_TTL_SECONDS: 600,
    });
    const doc = issuer.jwks();
    expect(doc.keys.map((k) => k.kid)).toEqual(['users-jwt.2', 'users-jwt.1']);
    for (const key of doc.keys) expect(key).not.toHaveProperty('d');
    const token = await issuer.issue({ id: '00000000-0000-4000-8000-000000000001', role: 'ADMIN' });
    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(doc), { issuer: 'urn:test', audience: 'urn:test:aud' });
    expect(protectedHeader).toEqual({ alg: 'ES256', kid: 'users-jwt.2' });
    expect(payload).toMatchObject({ sub: '00000000-0000-4000-8000-000000000001', role: 'ADMIN', scope: 'admin' });
    expect(payload.exp! - payload.iat!).toBe(600);
  });

  it('refuses a signing key that is not a private P-256 key', async () => {
    const { publicJwk } = await generateServiceKey('users-jwt');
    await expect(
      createTokenIssuer({ JWT_PRIVATE_JWK: publicJwk as never, JWT_ISSUER: 'i', JWT_AUDIENCE: 'a', JWT_TTL_SECONDS: 60 }),
    ).rejects.toThrow(/private EC P-256/);
  });
});
