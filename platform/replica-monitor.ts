import postgres from 'postgres';
import type { Logger } from './logger.js';
import { formatLsn, parseLsn } from './lsn.js';

/**
 * Watches every read replica of one database so that a request can choose one without a round
 * trip: each poll caches the replica's replay position and lag, and a replica that is down or
 * lags beyond the bound leaves the rotation until a later poll finds it healthy again.
 *
 * Lag is measured against the primary's own WAL position, sampled by the same poll: a replica's
 * lag is how long ago the primary first reached a position the replica has not replayed yet. So
 * an idle primary means no lag (`now() - pg_last_xact_replay_timestamp()` would grow without
 * bound while nothing happens), and a standby cut off from its primary does show lag (comparing
 * its receive and replay positions would not).
 */

export type ReplicaState = 'up' | 'lagging' | 'down';

export interface ReplicaStatus {
  /** host:port/database, never credentials. */
  name: string;
  state: ReplicaState;
  lagMs: number | null;
  replayLsn: string | null;
  error?: string;
}

export interface ReplicaMonitorOptions {
  primaryUrl: string;
  replicaUrls: string[];
  applicationName: string;
  pollMs: number;
  maxLagMs: number;
  log?: Logger;
}

export interface ReplicaMonitor {
  /** Replicas in rotation that have replayed `minLsn` (all in rotation without one), from the cached poll. */
  eligible(minLsn: bigint | undefined): number[];
  isUp(index: number): boolean;
  /** A request found the replica unreachable: out of rotation now, not at the next poll. */
  markDown(index: number, err: unknown): void;
  /** Called once when the replica next leaves the rotation for being down (reads in flight move to the primary). */
  onDown(index: number, listener: () => void): () => void;
  statuses(): ReplicaStatus[];
  stop(): Promise<void>;
}

/** A poll that takes longer than this counts as the server being down. */
const POLL_TIMEOUT_MS = 1_000;

interface Replica {
  status: ReplicaStatus;
  sql: postgres.Sql;
  replay: bigint | undefined;
  inFlight: boolean;
  downListeners: Set<() => void>;
}

const describe = (url: string) => {
  const u = new URL(url);
  return `${u.hostname}:${u.port || 5432}${u.pathname}`;
};

const withTimeout = <T>(promise: Promise<T>, ms: number) =>
  new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    promise.then(resolve, reject).finally(() => clearTimeout(timer));
  });

// eslint-disable-next-line max-lines-per-function -- a factory: the length is its returned methods, which share the closure's state; each method is short
export function createReplicaMonitor(opts: ReplicaMonitorOptions): ReplicaMonitor {
  // Own one-connection clients: polls never wait behind request traffic, and never count as it.
  const client = (url: string) =>
    postgres(url, {
      max: 1,
      connect_timeout: 2,
      idle_timeout: 60,
      onnotice: () => {},
      connection: { application_name: `${opts.applicationName}:monitor` },
    });
  const primary = client(opts.primaryUrl);
  const replicas: Replica[] = opts.replicaUrls.map((url) => ({
    status: { name: describe(url), state: 'down', lagMs: null, replayLsn: null, error: 'not checked yet' },
    sql: client(url),
    replay: undefined,
    inFlight: false,
    downListeners: new Set(),
  }));
  /** When the primary was first seen at each WAL position (ascending); trimmed to what some replica still lacks. */
  let samples: { at: number; lsn: bigint }[] = [];
  const window = 2 * opts.maxLagMs + 10 * opts.pollMs;

  const setState = (r: Replica, next: Omit<ReplicaStatus, 'name'>) => {
    const before = r.status.state;
    r.status = { name: r.status.name, ...next };
    if (before === next.state) return;
    if (next.state === 'up') opts.log?.info({ replica: r.status }, 'replica back in rotation');
    else opts.log?.warn({ replica: r.status }, `replica out of rotation: ${next.state}`);
    if (next.state === 'down') {
      const listeners = [...r.downListeners];
      r.downListeners.clear();
      for (const listener of listeners) listener();
    }
  };

  const samplePrimary = async (now: number) => {
    const [row] = await withTimeout(primary<{ lsn: string | null }[]>`select pg_current_wal_lsn()::text as lsn`, POLL_TIMEOUT_MS);
    const lsn = parseLsn(row?.lsn);
    if (lsn === undefined) return;
    const last = samples.at(-1);
    // A lower position means a different primary (restored, failed over): old samples mean nothing.
    if (last && lsn < last.lsn) samples = [];
    if (lsn !== last?.lsn) samples.push({ at: now, lsn });
  };

  const pollReplica = async (r: Replica) => {
    if (r.inFlight) return; // a hung server: the first poll's timeout already marked it down
    r.inFlight = true;
    const query = r.sql<
      { lsn: string | null }[]
    >`select (case when pg_is_in_recovery() then pg_last_wal_replay_lsn() else pg_current_wal_lsn() end)::text as lsn`;
    query.finally(() => (r.inFlight = false)).catch(() => {});
    try {
      const [row] = await withTimeout(query, POLL_TIMEOUT_MS);
      const replay = parseLsn(row?.lsn);
      if (replay === undefined) throw new Error('no replay position');
      r.replay = replay;
    } catch (err) {
      r.replay = undefined;
      setState(r, { state: 'down', lagMs: null, replayLsn: null, error: (err as Error).message });
    }
  };

  const tick = async () => {
    const now = Date.now();
    await Promise.allSettled([samplePrimary(now), ...replicas.map(pollReplica)]);
    for (const r of replicas) {
      if (r.replay === undefined) continue;
      const missing = samples.find((s) => s.lsn > r.replay!);
      const lagMs = missing ? Math.max(0, now - missing.at) : 0;
      setState(r, { state: lagMs > opts.maxLagMs ? 'lagging' : 'up', lagMs, replayLsn: formatLsn(r.replay) });
    }
    // Keep what the furthest-behind known replica still lacks, and at most one sample older than
    // the window (a replica behind it has a lag of at least the window, which is all we need).
    const known = replicas.filter((r) => r.replay !== undefined).map((r) => r.replay!);
    const floor = known.length === replicas.length && known.length > 0 ? known.reduce((a, b) => (a < b ? a : b)) : -1n;
    while (samples.length > 1 && (samples[0]!.lsn <= floor || samples[1]!.at < now - window)) samples.shift();
  };

  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<void>;
  const loop = async () => {
    await tick().catch((err: unknown) => opts.log?.error({ err }, 'replica poll failed'));
    if (!stopped)
      timer = setTimeout(() => {
        current = loop();
      }, opts.pollMs).unref();
  };
  current = loop();

  return {
    eligible(minLsn) {
      const out: number[] = [];
      replicas.forEach((r, i) => {
        if (r.status.state === 'up' && (minLsn === undefined || (r.replay !== undefined && r.replay >= minLsn))) out.push(i);
      });
      return out;
    },
    isUp: (i) => replicas[i]!.status.state === 'up',
    markDown(i, err) {
      const r = replicas[i]!;
      r.replay = undefined;
      setState(r, { state: 'down', lagMs: null, replayLsn: null, error: (err as Error | null | undefined)?.message ?? String(err) });
    },
    onDown(i, listener) {
      const set = replicas[i]!.downListeners;
      set.add(listener);
      return () => set.delete(listener);
    },
    statuses: () => replicas.map((r) => ({ ...r.status })),
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await current.catch(() => {});
      await Promise.all([primary, ...replicas.map((r) => r.sql)].map((c) => c.end({ timeout: 0 })));
    },
  };
}
