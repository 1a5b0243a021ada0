import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { eventually } from './stack.js';

/**
 * Commands clients sent to Redis naming `key`, as `MONITOR` lists them, while `run` runs.
 *
 * The monitor is `redis-cli monitor`, a connection that is only ever a monitor: ioredis's own
 * `monitor()` can take a monitor line for a command reply when the line arrives in the same read as
 * MONITOR's `OK` ("Command queue state error"). The end is a marker, not a pause: after `run`, an
 * `ECHO <marker>` goes through `client`, and counting stops once the monitor has listed it, so every
 * command `run` caused (sent before the marker) has been seen.
 */
export function countRedisCalls(url: string, client: Redis, key: string, run: () => Promise<unknown>): Promise<number> {
  return countRedisCallsTo(url, client, `"${key}"`, run);
}

/**
 * The same, for commands naming any key that starts with `prefix`, sent by any connection but
 * `client`'s: `run` may look at those keys through `client` (e.g. wait until an entry is written)
 * without counting its own looks.
 */
export function countRedisCallsUnder(url: string, client: Redis, prefix: string, run: () => Promise<unknown>): Promise<number> {
  return countRedisCallsTo(url, client, `"${prefix}`, run, true);
}

/** Commands whose MONITOR line holds `quoted` (a key as MONITOR quotes it, or the start of one); `client`'s own too unless `notClients`. */
async function countRedisCallsTo(
  url: string,
  client: Redis,
  quoted: string,
  run: () => Promise<unknown>,
  notClients = false,
): Promise<number> {
  // MONITOR names each command's connection as `[<db> <addr>]`.
  const own = notClients ? ` ${/\baddr=(\S+)/.exec(await client.client('INFO'))?.[1] ?? '?'}]` : null;
  const monitor = spawn('redis-cli', ['-u', url, 'monitor'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const marker = `monitor-end-${randomUUID()}`;
  let started = false;
  let ended = false;
  let calls = 0;
  createInterface({ input: monitor.stdout }).on('line', (line) => {
    if (line === 'OK') started = true;
    else if (line.includes(`"${marker}"`)) ended = true;
    // Commands a script runs are listed too (source "lua"): only what a client sent is a round trip.
    else if (!ended && !/\[\d+ lua\]/.test(line) && line.includes(quoted) && !(own && line.includes(own))) calls++;
  });
  try {
    await eventually(async () => (started ? true : undefined), { timeoutMs: 30_000 });
    await run();
    await client.echo(marker);
    await eventually(async () => (ended ? true : undefined), { timeoutMs: 30_000 });
  } finally {
    monitor.kill();
  }
  return calls;
}
