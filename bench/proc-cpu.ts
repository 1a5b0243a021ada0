import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

/**
 * CPU time per process from /proc/<pid>/stat (Linux): user + system time in clock ticks, read
 * before and after a measured window. A process tree (the Postgres postmaster and its backends)
 * counts each live member's own time plus the time of children it has already reaped (cutime,
 * cstime), so a backend that exits mid-window is still counted, and nothing is counted twice.
 * Clock ticks are 10 ms (CLK_TCK 100 on Linux); windows are seconds long, so that is precise enough.
 */
const TICK_MS = 10;

export interface Stat {
  pid: number;
  ppid: number;
  /** utime + stime, ms. */
  own: number;
  /** cutime + cstime (reaped children), ms. */
  reaped: number;
}

function readStat(pid: number): Stat | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null; // gone
  }
  // The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state); utime is field 14 -> f[11], stime f[12], cutime f[13], cstime f[14].
  return { pid, ppid: Number(f[1]), own: (Number(f[11]) + Number(f[12])) * TICK_MS, reaped: (Number(f[13]) + Number(f[14])) * TICK_MS };
}

function allStats(): Stat[] {
  const out: Stat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (s) out.push(s);
  }
  return out;
}

/** A process's own CPU ms (utime + stime). */
export function processCpuMs(pid: number): number {
  return readStat(pid)?.own ?? 0;
}

/** CPU ms of a process and all its descendants, including those already reaped. */
export function treeCpuMs(root: number, stats: Stat[] = allStats()): number {
  const byParent = new Map<number, Stat[]>();
  for (const s of stats) byParent.set(s.ppid, [...(byParent.get(s.ppid) ?? []), s]);
  const rootStat = stats.find((s) => s.pid === root);
  if (!rootStat) return 0;
  let total = 0;
  const queue = [rootStat];
  while (queue.length) {
    const s = queue.pop()!;
    total += s.own + s.reaped;
    queue.push(...(byParent.get(s.pid) ?? []));
  }
  return total;
}

/** Pids whose command line contains every given fragment (e.g. a redis-server on one port). */
export function findPids(...fragments: string[]): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' ');
      if (fragments.every((f) => cmdline.includes(f))) pids.push(Number(name));
    } catch {
      // gone
    }
  }
  return pids;
}

/** The postmaster's pid, from the first line of postmaster.pid in its data directory. */
export function postmasterPid(dataDir: string): number {
  return Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
}

/** What a sample covers: one pid's own time, or a whole tree. */
export interface Probe {
  kind: 'process' | 'tree';
  pid: number;
}

export type CpuSample = Record<string, number>;

export function sampleCpu(probes: Record<string, Probe>): CpuSample {
  const stats = allStats(); // one scan of /proc for every probe: the sample is one moment
  const own = (pid: number) => stats.find((s) => s.pid === pid)?.own ?? 0;
  return Object.fromEntries(Object.entries(probes).map(([name, p]) => [name, p.kind === 'tree' ? treeCpuMs(p.pid, stats) : own(p.pid)]));
}

/** CPU ms spent by each probe between two samples. */
export function cpuDelta(before: CpuSample, after: CpuSample): CpuSample {
  return Object.fromEntries(Object.keys(after).map((k) => [k, Math.max(0, after[k]! - (before[k] ?? 0))]));
}

/** A process's resident set (VmRSS of /proc/<pid>/status), MB; 0 once it is gone. */
export function rssMb(pid: number): number {
  try {
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) / 1024 : 0;
  } catch {
    return 0;
  }
}
