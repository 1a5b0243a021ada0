import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { ROOT } from '../platform/paths.js';

/**
 * A child process of the benchmark (tsx), stopped by SIGTERM to its own pid only. Every one runs
 * as production does (NODE_ENV=production unless the caller says otherwise) and without tsx's
 * source-map support (bench/no-source-maps.mjs), which would otherwise tax every `new Error().stack`.
 */
export interface Child {
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** `tree`: the project root to run `file` from (bench:cpu-ab runs another checkout's subgraphs); this one by default. */
export function spawnTs(file: string, env: Record<string, string>, quiet = true, tree = ROOT): Child {
  const proc = fork(path.join(tree, file), [], {
    cwd: tree,
    // BENCH_PROFILE_DIR: a V8 CPU profile of every child, written when it exits.
    execArgv: [
      '--import',
      'tsx',
      '--import',
      path.join(ROOT, 'bench/no-source-maps.mjs'),
      ...(process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : []),
      // V8 flags NODE_OPTIONS refuses (bench:cpu-ab's BENCH_AB_ENV can set it per variant).
      ...(env.BENCH_EXEC_ARGV?.split(' ').filter(Boolean) ?? []),
    ],
    env: { ...process.env, NODE_ENV: 'production', ...env },
    stdio: quiet ? ['ignore', 'ignore', 'inherit', 'ipc'] : 'inherit',
  });
  return {
    proc,
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null || proc.signalCode) {
          resolve();
          return;
        }
        const kill = setTimeout(() => proc.kill('SIGKILL'), 5_000);
        proc.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        proc.kill('SIGTERM');
      }),
  };
}

/** Polls a GraphQL endpoint with `body` until `accept` takes the answer (bounded). */
async function pollGraphql(
  url: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
  accept: (res: Response, text: string) => boolean,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
      const text = await res.text();
      if (accept(res, text)) return;
      last = `${res.status} ${text}`;
    } catch (err) {
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} not ready: ${last.slice(0, 300)}`);
}

/** Polls a GraphQL endpoint until `{ __typename }` answers 200 (bounded): the gateway itself is up. */
export function waitForGraphql(url: string, headers: Record<string, string> = {}, timeoutMs = 60_000): Promise<void> {
  return pollGraphql(url, '{"query":"{ __typename }"}', headers, timeoutMs, (res) => res.ok);
}

/**
 * Polls until the operation in `body` answers 200 without errors (bounded): the subgraphs behind
 * the gateway serve it too, every breaker on its way closed.
 */
export function waitForOperation(url: string, body: string, headers: Record<string, string> = {}, timeoutMs = 60_000): Promise<void> {
  return pollGraphql(url, body, headers, timeoutMs, (res, text) => res.ok && !text.includes('"errors"'));
}

export function waitForMessage(child: Child, key: string, timeoutMs = 60_000): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${key}' message within ${timeoutMs} ms`)), timeoutMs);
    const onMessage = (m: any) => {
      if (m && key in m) {
        clearTimeout(timer);
        child.proc.off('message', onMessage);
        resolve(m[key]);
      }
    };
    child.proc.on('message', onMessage);
    child.proc.once('exit', (code) => reject(new Error(`process exited (${code}) before '${key}'`)));
  });
}

/** One job to the load-generator process, its result back. */
export async function runJob<T>(worker: Child, job: unknown): Promise<T> {
  const reply = new Promise<any>((resolve) => {
    const onMessage = (m: any) => {
      if (m && ('result' in m || 'error' in m)) {
        worker.proc.off('message', onMessage);
        resolve(m);
      }
    };
    worker.proc.on('message', onMessage);
  });
  worker.proc.send(job as never);
  const m = await reply;
  if (m.error) throw new Error(m.error);
  return m.result as T;
}
