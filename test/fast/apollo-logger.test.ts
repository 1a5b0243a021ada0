import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createApolloLogger, createLogger } from '../../platform/logger.js';

/** The first `n` lines a service's logger wrote to its file (it appends asynchronously: polled, with a deadline). */
async function linesOf(file: string, n: number): Promise<Record<string, unknown>[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const lines = (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean);
    if (lines.length >= n) return lines.slice(0, n).map((l) => JSON.parse(l) as Record<string, unknown>);
    if (Date.now() > deadline) throw new Error(`${file}: ${lines.length} of ${n} lines after 10 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("Apollo's own messages in the service's log", () => {
  it("are JSON lines at their level, marked as Apollo's; an Error goes through the shared serializer, its statement parameters dropped", async () => {
    const file = path.join(await mkdtemp(path.join(os.tmpdir(), 'apollo-logger-')), 'service.log');
    const log = createLogger('gateway', 'debug', file);
    const apollo = createApolloLogger(log);
    apollo.warn('A GraphQL operation was received during server shutdown.');
    apollo.info('Gateway successfully loaded schema.');
    apollo.debug({ not: 'a string' });
    const failed = Object.assign(new Error('Failed query: insert into users\nparams: ada@example.com,$argon2id$secret'), {
      params: ['ada@example.com', '$argon2id$secret'],
    });
    apollo.error(failed);

    const lines = await linesOf(file, 4);
    expect(lines.map((l) => [l.level, l.component, l.service, l.msg])).toEqual([
      [40, 'apollo', 'gateway', 'A GraphQL operation was received during server shutdown.'],
      [30, 'apollo', 'gateway', 'Gateway successfully loaded schema.'],
      [20, 'apollo', 'gateway', '[object Object]'],
      [50, 'apollo', 'gateway', 'Failed query: insert into users\nparams: [redacted]'],
    ]);
    const written = JSON.stringify(lines[3]);
    expect((lines[3]!.err as { type: string }).type).toBe('Error');
    expect(written).not.toContain('ada@example.com');
    expect(written).not.toContain('argon2id');
  });
});
