import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { waitRedisAnswers } from '../../scripts/redis-server.js';
import { freePort } from '../../scripts/free-port.js';
import { createBlackholes } from './cluster.js';

/**
 * Redis highly available for tests, as production runs it: a primary, a replica following it, and
 * three redis-sentinel processes (quorum 2) watching it under `mymaster`. Sentinels declare the
 * primary down after 1 s without an answer and promote the replica.
 */
export interface SentinelRedis {
  /** REDIS_SENTINELS's value: `127.0.0.1:<port>,…`. */
  sentinels: string;
  masterName: string;
  /** Port of the server the sentinels currently name as primary. */
  primaryPort(): Promise<number>;
  /** SIGKILL of the process currently primary; returns its port. */
  killPrimary(): Promise<number>;
  /**
   * Drops the packets of the primary's replication link (nft, both ways: no reset), so what the
   * primary acknowledges from then on never reaches the replica. Returns the function that lets
   * them through again.
   */
  cutReplication(): Promise<() => Promise<void>>;
  /** A client of the server on `port` (the caller disconnects it). */
  client(port: number): Redis;
  stop(): Promise<void>;
}

const MASTER = 'mymaster';

/** Every service's extra environment for startCluster: Redis through these sentinels. */
export function sentinelEnv(sentinel: SentinelRedis) {
  const env = { REDIS_SENTINELS: sentinel.sentinels, REDIS_MASTER_NAME: sentinel.masterName };
  return { users: env, catalog: env, orders: env, billing: env, gateway: env };
}

const serverArgs = (port: number, dir: string) => [
  '--port',
  String(port),
  '--bind',
  '127.0.0.1',
  '--save',
  '',
  '--appendonly',
  'yes',
  '--dir',
  dir,
];

export async function startSentinelRedis(): Promise<SentinelRedis> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'supergraph-sentinel-'));
  const [primary, replica] = [await freePort(), await freePort()];
  const servers = new Map<number, ChildProcess>();
  const children: ChildProcess[] = [];
  const launch = (cmd: string, args: string[]) => {
    const child = spawn(cmd, args, { stdio: 'ignore' });
    children.push(child);
    return child;
  };
  for (const [port, extra] of [
    [primary, []],
    [replica, ['--replicaof', '127.0.0.1', String(primary)]],
  ] as const) {
    const data = path.join(dir, String(port));
    await mkdir(data);
    servers.set(port, launch('redis-server', [...serverArgs(port, data), ...extra]));
    await waitRedisAnswers(port);
  }
  const sentinelPorts = [await freePort(), await freePort(), await freePort()];
  for (const port of sentinelPorts) {
    const conf = path.join(dir, `sentinel-${port}.conf`);
    // Sentinel rewrites its own file (what it learned about replicas and other sentinels).
    await writeFile(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${MASTER} 127.0.0.1 ${primary} 2`,
        `sentinel down-after-milliseconds ${MASTER} 1000`,
        `sentinel failover-timeout ${MASTER} 5000`,
        `sentinel parallel-syncs ${MASTER} 1`,
      ].join('\n') + '\n',
    );
    launch('redis-sentinel', [conf]);
    await waitRedisAnswers(port);
  }
  const ask = async () => {
    for (const port of sentinelPorts) {
      const s = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0, retryStrategy: () => null });
      s.on('error', () => {});
      try {
        const [, p] = (await s.call('SENTINEL', 'get-master-addr-by-name', MASTER)) as [string, string];
        return Number(p);
      } catch {
        // the next sentinel
      } finally {
        s.disconnect();
      }
    }
    throw new Error('no sentinel answered');
  };
  // Ready when every sentinel knows the replica and the other sentinels (quorum possible).
  await waitSentinelsReady(sentinelPorts);
  const blackholes = createBlackholes();
  return {
    sentinels: sentinelPorts.map((p) => `127.0.0.1:${p}`).join(','),
    masterName: MASTER,
    primaryPort: ask,
    async killPrimary() {
      const port = await ask();
      const child = servers.get(port)!;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      return port;
    },
    async cutReplication() {
      const primary = new Redis({ port: await ask(), host: '127.0.0.1', maxRetriesPerRequest: 0 });
      try {
        const list = String(await primary.call('CLIENT', 'LIST', 'TYPE', 'replica'));
        const port = Number(/addr=[\d.]+:(\d+)/.exec(list)?.[1]);
        if (!port) throw new Error(`no replica connected to the primary: ${list}`);
        await blackholes.drop(port);
        return () => blackholes.restore(port);
      } finally {
        primary.disconnect();
      }
    },
    client: (port) => new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0 }),
    async stop() {
      await blackholes.close();
      await Promise.all(
        children.map(
          (c) =>
            new Promise<void>((resolve) => {
              if (c.exitCode !== null || c.signalCode !== null) {
                resolve();
                return;
              }
              c.once('exit', () => resolve());
              c.kill('SIGKILL');
            }),
        ),
      );
    },
  };
}

async function waitSentinelsReady(ports: number[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await Promise.all(
      ports.map(async (port) => {
        const s = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 0, retryStrategy: () => null });
        s.on('error', () => {});
        try {
          const info = (await s.call('SENTINEL', 'master', MASTER)) as string[];
          const field = (name: string) => Number(info[info.indexOf(name) + 1]);
          return field('num-slaves') >= 1 && field('num-other-sentinels') >= 2;
        } catch {
          return false;
        } finally {
          s.disconnect();
        }
      }),
    );
    if (ok.every(Boolean)) return;
    if (Date.now() > deadline) throw new Error('sentinels did not discover the replica and each other in time');
    await new Promise((r) => setTimeout(r, 200));
  }
}
