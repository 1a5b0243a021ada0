import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serializeError } from '../platform/logger.js';
import { eventually, startStack } from './support/stack.js';
import type { Stack } from './support/stack.js';

/**
 * A statement that fails in the database is logged (with the request id) so it can be found, but
 * what it carried is not: Drizzle's error repeats every bound parameter in its message and `params`,
 * and Postgres's own `detail` of a constraint violation repeats the whole row. For signUp both
 * hold the scrypt password hash.
 */

let stack: Stack;
let logDir: string;
const REFUSED_NAME = 'Refused By The Database';

beforeAll(async () => {
  logDir = await mkdtemp(path.join(os.tmpdir(), 'supergraph-logs-'));
  const file = (service: string) => path.join(logDir, `${service}.log`);
  stack = await startStack({
    logLevel: 'info',
    extra: { users: { LOG_DESTINATION: file('users') }, gateway: { LOG_DESTINATION: file('gateway') } },
  });
  // A real failure inside the INSERT: a CHECK constraint the row breaks (Postgres: 23514, detail = the row).
  await stack.sql.users.unsafe(`alter table users add constraint test_refused_name check (name <> '${REFUSED_NAME}')`);
});
afterAll(() => stack?.close());

const readLogs = async () => {
  const [users, gateway] = await Promise.all(
    ['users', 'gateway'].map((s) => readFile(path.join(logDir, `${s}.log`), 'utf8').catch(() => '')),
  );
  return { users: users!, gateway: gateway!, all: `${users}\n${gateway}` };
};

describe('secrets never reach logs', () => {
  it('a signUp that fails in the database logs the failure, but no password hash, password or bound parameter', async () => {
    const email = `${randomUUID()}@example.test`;
    const password = `never-in-logs-${randomUUID()}`;
    const res = await stack.gql('mutation($i: SignUpInput!) { signUp(input: $i) { token } }', {
      i: { email, name: REFUSED_NAME, password },
    });
    expect(res.errors?.[0]?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
    const requestId = res.errors![0]!.extensions!.requestId as string;

    // The failure is in the users log, findable by the request id the client got.
    const logs = await eventually(async () => {
      const l = await readLogs();
      return l.users.split('\n').some((line) => line.includes(requestId) && line.includes('unexpected error')) ? l : undefined;
    });
    const line = logs.users.split('\n').find((l) => l.includes(requestId) && l.includes('unexpected error'))!;
    expect(line).toContain('test_refused_name'); // still says what went wrong

    expect(logs.all).not.toMatch(/scrypt\$/); // the stored hash format: scrypt$N$r$p$salt$hash
    expect(logs.all).not.toContain(password);
    expect(logs.all).not.toContain(email); // a bound parameter like any other
    expect(logs.all).not.toMatch(/Failing row contains/);
  });

  it("the shared error serializer drops a raw driver error's detail (the failing row) and parameters", async () => {
    const secret = `scrypt$16384$8$1$${randomUUID()}`;
    const err = await stack.sql
      .users`insert into users (email, name, role, password_hash) values (${`${randomUUID()}@example.test`}, ${REFUSED_NAME}, 'CUSTOMER', ${secret})`.catch(
      (e: unknown) => e,
    );
    expect(String((err as { detail?: string }).detail)).toContain(secret); // Postgres did put the row in it
    const logged = JSON.stringify(serializeError(err));
    expect(logged).toContain('test_refused_name');
    expect(logged).not.toContain(secret);
  });
});
