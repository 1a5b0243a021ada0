import { cpuDelta, rssMb, sampleCpu } from './proc-cpu.js';
import type { CpuSample, Probe } from './proc-cpu.js';
import { runJob } from './processes.js';
import type { Child } from './processes.js';
import type { GatewayName } from './gateways.js';
import type { Stack } from './stack.js';

export interface Measured<T> {
  result: T;
  cpu: CpuSample;
  /** The highest resident set of the `rssOf` process seen during the measured window, MB (0: none asked). */
  rssMb: number;
}

/**
 * Runs one job on the load worker and reads every probe's CPU at the start (the worker says when
 * its warm-up ends) and the end of its measured window.
 */
export async function measureJob<T>(worker: Child, probes: Record<string, Probe>, job: unknown, rssOf?: number): Promise<Measured<T>> {
  let before: CpuSample | undefined;
  let peakRss = 0;
  let rssTimer: NodeJS.Timeout | undefined;
  // RSS under load: sampled every 500 ms of the measured window only (the warm-up may still be growing it).
  const sampleRss = () => (peakRss = Math.max(peakRss, rssOf ? rssMb(rssOf) : 0));
  const onMessage = (m: { measuring?: boolean } | undefined) => {
    if (!m?.measuring) return;
    before = sampleCpu(probes);
    rssTimer = setInterval(sampleRss, 500);
  };
  worker.proc.on('message', onMessage);
  try {
    const result = await runJob<T>(worker, job);
    sampleRss();
    return { result, cpu: cpuDelta(before ?? sampleCpu(probes), sampleCpu(probes)), rssMb: peakRss };
  } finally {
    clearInterval(rssTimer);
    worker.proc.off('message', onMessage);
  }
}

/** measureJob with the stack's probes: the gateway under test, the subgraphs, Postgres, Redis. */
export function measure<T>(stack: Stack, gateway: GatewayName, job: unknown): Promise<Measured<T>> {
  const candidates: [string, Probe | undefined][] = [
    ['gateway', stack.probes[gateway]],
    ['subgraphs', stack.probes.subgraphs],
    ['postgres', stack.probes.postgres],
    ['redis', stack.probes.redis],
  ];
  const probes = Object.fromEntries(candidates.filter(([, p]) => p)) as Record<string, Probe>;
  return measureJob<T>(stack.worker, probes, job, stack.probes[gateway]?.pid);
}

export type CacheCounts = Record<string, { hit: number; miss: number; skipped?: number }>;

/** Cache hits and misses (and lookups skipped) our gateway has counted so far, per `*cache*_total` counter with result="hit"|"miss"|"skipped". */
export async function cacheCounters(url: string): Promise<CacheCounts | null> {
  const text = await fetch(url).then(
    (r) => (r.ok ? r.text() : ''),
    () => '',
  );
  const counts: CacheCounts = {};
  for (const line of text.split('\n')) {
    const m = /^(\w*cache\w*_total)\{([^}]*)\}\s+([\d.e+]+)/.exec(line);
    const result = m && (/result="(hit|miss|skipped)"/.exec(m[2]!)?.[1] as 'hit' | 'miss' | 'skipped' | undefined);
    if (!m || !result) continue;
    const c = (counts[m[1]!] ??= { hit: 0, miss: 0 });
    c[result] = (c[result] ?? 0) + Number(m[3]);
    // Per subgraph (and scope, where the counter has one) or per path (the response cache's edge or pipeline) too
    // (`<counter>/<subgraph> <scope>`), for the log line.
    const subgraph = (/subgraph="(\w+)"/.exec(m[2]!) ?? /path="(\w+)"/.exec(m[2]!))?.[1];
    const scope = /scope="(\w+)"/.exec(m[2]!)?.[1];
    if (subgraph) {
      const per = (counts[`${m[1]}/${subgraph}${scope ? ` ${scope}` : ''}`] ??= { hit: 0, miss: 0 });
      per[result] = (per[result] ?? 0) + Number(m[3]);
    }
  }
  return Object.keys(counts).length ? counts : null;
}

/**
 * The hit rate over a run: of the response cache when the workload used it (anonymous and partner
 * requests: a hit is a whole request served from it), else of the entity cache's lookups.
 */
export const hitRate = (a: CacheCounts | null, b: CacheCounts | null) => {
  if (!a || !b) return null;
  const delta = (name: string) => ({ hit: (b[name]?.hit ?? 0) - (a[name]?.hit ?? 0), miss: (b[name]?.miss ?? 0) - (a[name]?.miss ?? 0) });
  const names = Object.keys(b)
    .filter((n) => !n.includes('/'))
    .sort((x, y) => Number(y.includes('response')) - Number(x.includes('response')));
  for (const name of names) {
    const d = delta(name);
    if (d.hit + d.miss > 0) return d.hit / (d.hit + d.miss);
  }
  return 0;
};

/**
 * `response edge 100% of 9000, response pipeline 12% of 1500, catalog public 97% of 1200 (4800 skipped), orders private 40% of 300`:
 * the response cache's hit rate by where it answered, and the entity cache's per subgraph and scope
 * (with the lookups it skipped where they could not pay), between two readings.
 */
export function perSubgraphHits(a: CacheCounts, b: CacheCounts): string {
  return Object.keys(b)
    .filter((n) => n.startsWith('gateway_entity_cache_total/') || n.startsWith('gateway_response_cache_total/'))
    .sort((x, y) => Number(y.includes('response')) - Number(x.includes('response')))
    .map((n) => {
      const hit = (b[n]?.hit ?? 0) - (a[n]?.hit ?? 0);
      const all = hit + (b[n]?.miss ?? 0) - (a[n]?.miss ?? 0);
      const label = `${n.includes('response') ? 'response ' : ''}${n.split('/')[1]}`;
      const skipped = (b[n]?.skipped ?? 0) - (a[n]?.skipped ?? 0);
      return all || skipped
        ? `${label} ${all ? Math.round((100 * hit) / all) : 0}% of ${all}${skipped ? ` (${skipped} skipped)` : ''}`
        : '';
    })
    .filter(Boolean)
    .join(', ');
}
