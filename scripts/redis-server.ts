import { spawn } from 'node:child_process';
import { Redis } from 'ioredis';

export interface RedisServerHandle {
  url: string;
  port: number;
  /** The server's process id (fault tests freeze it with SIGSTOP). */
  pid(): number | undefined;
  /** Kills the server abruptly (SIGKILL: with the append-only file, acknowledged writes survive). */
  stop(): Promise<void>;
  /** Starts it again on the same port and data directory after `stop` (an outage of chosen length). */
  start(): Promise<void>;
  /** Kills the server abruptly (fault tests) and starts it again on the same port. */
  restart(): Promise<void>;
}

/** Polls until a Redis server answers PING on this loopback port (sized for a loaded machine). */
export async function waitRedisAnswers(port: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => {});
    try {
      await probe.connect();
      await probe.ping();
      probe.disconnect();
      return;
    } catch {
      probe.disconnect();
      if (Date.now() > deadline) throw new Error(`redis on port ${port} did not answer within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/**
 * A real redis-server (Debian's package) on a loopback port. With `dataDir` it keeps an
 * append-only file fsynced on every write, as production does, so a restart loses nothing.
 */
export async function startRedisServer(port: number, opts: { dataDir?: string } = {}): Promise<RedisServerHandle> {
  const persistence = opts.dataDir ? ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', opts.dataDir] : ['--appendonly', 'no'];
  const launch = async () => {
    const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence], { stdio: 'ignore' });
    const failed = new Promise<never>((_, reject) =>
      child.once('error', (err) => reject(new Error(`cannot start redis-server (apt-get install redis-server): ${err.message}`))),
    );
    const ready = waitRedisAnswers(port);
    await Promise.race([ready, failed]);
    return child;
  };
  let child = await launch();
  const stopChild = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) {
        resolve();
        return;
      }
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: () => child.pid,
    stop: stopChild,
    async start() {
      if (child.exitCode === null && child.signalCode === null) return;
      child = await launch();
    },
    async restart() {
      await stopChild();
      child = await launch();
    },
  };
}
