import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startStack } from './support/stack.js';
import type { Stack, TestUser } from './support/stack.js';
import { wsClient } from './support/ws-client.js';

/**
 * logIn credential-stuffing protection through the real gateway: failed attempts per account and
 * per IP, with a short window so a test can see it pass. Each test uses its own addresses
 * (X-Forwarded-For, trusted from loopback) and accounts.
 */

const PER_ACCOUNT = 5;
const PER_IP = 8;
const WINDOW_SECONDS = 4;

let stack: Stack;
let ip = 0;
const nextIp = () => `198.51.100.${++ip}`;

beforeAll(async () => {
  stack = await startStack({
    extra: {
      gateway: {
        LOGIN_MAX_FAILURES_PER_ACCOUNT: String(PER_ACCOUNT),
        LOGIN_MAX_FAILURES_PER_IP: String(PER_IP),
        LOGIN_WINDOW_SECONDS: String(WINDOW_SECONDS),
      },
    },
  });
});
afterAll(() => stack?.close());

const LOG_IN = 'mutation($input: LogInInput!) { logIn(input: $input) { token } }';

async function logIn(email: string, password: string, from: string) {
  const res = await fetch(stack.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': from },
    body: JSON.stringify({ query: LOG_IN, variables: { input: { email, password } } }),
  });
  const body = (await res.json()) as {
    data?: { logIn?: { token: string } | null };
    errors?: { message: string; extensions?: { code?: string; retryAfterSeconds?: number } }[];
  };
  return {
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    code: body.errors?.[0]?.extensions?.code ?? null,
    token: body.data?.logIn?.token,
  };
}

/** n failed attempts at once (as a stuffing tool would send them), each from its own address unless given one. */
const fail = (user: TestUser, n: number, from?: string) =>
  Promise.all(Array.from({ length: n }, () => logIn(user.email, 'wrong-password-123', from ?? nextIp())));

describe('logIn attempt limits', () => {
  it('after 5 failures for one account, even the right password is RATE_LIMITED until the window passes; others are unaffected', async () => {
    const [victim, bystander] = await Promise.all([stack.customer('Victim'), stack.customer('Bystander')]);
    expect((await fail(victim, PER_ACCOUNT)).map((r) => r.code)).toEqual(Array(PER_ACCOUNT).fill('INVALID_CREDENTIALS'));
    // Another address, a differently written email, the right password: still refused.
    const blocked = await logIn(`  ${victim.email.toUpperCase()} `, victim.password, nextIp());
    expect(blocked.status).toBe(429);
    expect(blocked.code).toBe('RATE_LIMITED');
    expect(Number(blocked.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(blocked.retryAfter)).toBeLessThanOrEqual(WINDOW_SECONDS);
    expect(blocked.token).toBeUndefined();
    // The bystander signs in meanwhile.
    expect((await logIn(bystander.email, bystander.password, nextIp())).token).toBeTruthy();
    // Once the window that holds the failures ends, the right password works again.
    const back = await eventually(async () => (await logIn(victim.email, victim.password, nextIp())).token, {
      timeoutMs: (WINDOW_SECONDS + 5) * 1000,
      intervalMs: 250,
    });
    expect(back).toBeTruthy();
  });

  it("a success resets the account's count", async () => {
    const user = await stack.customer('Forgetful');
    await fail(user, PER_ACCOUNT - 1);
    expect((await logIn(user.email, user.password, nextIp())).token).toBeTruthy();
    // Four more failures would have locked it without the reset.
    expect((await fail(user, PER_ACCOUNT - 1)).every((r) => r.code === 'INVALID_CREDENTIALS')).toBe(true);
    expect((await logIn(user.email, user.password, nextIp())).token).toBeTruthy();
  });

  it('aliased attempts in one request are counted before any runs', async () => {
    const user = await stack.customer('Aliased');
    const attempts = Array.from(
      { length: PER_ACCOUNT + 1 },
      (_, i) => `a${i}: logIn(input: { email: $email, password: "guess-${i}-password" }) { token }`,
    );
    const res = await fetch(stack.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': nextIp() },
      body: JSON.stringify({ query: `mutation($email: String!) { ${attempts.join(' ')} }`, variables: { email: user.email } }),
    });
    const body = (await res.json()) as { data?: unknown; errors?: { extensions?: { code?: string } }[] };
    expect(res.status).toBe(429);
    expect(body.errors!.map((e) => e.extensions?.code)).toEqual(['RATE_LIMITED']);
    // None ran, so none counts: the owner signs in.
    expect((await logIn(user.email, user.password, nextIp())).token).toBeTruthy();
  });

  it('one address spraying many accounts is stopped after its failures per IP; other addresses are not', async () => {
    const sprayer = nextIp();
    const targets = await Promise.all(Array.from({ length: PER_IP }, () => stack.customer('Target')));
    const sprayed = await Promise.all(targets.map((t) => logIn(t.email, 'password-from-a-leak', sprayer)));
    expect(sprayed.every((r) => r.code === 'INVALID_CREDENTIALS')).toBe(true);
    const [owner] = targets;
    expect((await logIn(owner!.email, owner!.password, sprayer)).code).toBe('RATE_LIMITED');
    // The account itself has one failure only: its owner, elsewhere, signs in.
    expect((await logIn(owner!.email, owner!.password, nextIp())).token).toBeTruthy();
  });

  it('logIn over a WebSocket is held to the same per-account limit', async () => {
    const user = await stack.customer('Socket');
    await fail(user, PER_ACCOUNT);
    const ws = wsClient(stack.url);
    try {
      const result = await ws.subscribe(LOG_IN, { input: { email: user.email, password: user.password } }).nth(1);
      expect(result.errors?.[0]?.extensions?.code).toBe('RATE_LIMITED');
      expect(result.data ?? null).toBeNull();
    } finally {
      await ws.dispose();
    }
  });
});
