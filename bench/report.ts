import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from '../platform/paths.js';

export type GatewayName = 'ours' | 'stock' | 'hive';
export interface Cell { rps: number; p50: number; p99: number; failed: number; reps: number[] }
export interface Row { workload: string; results: Partial<Record<GatewayName, Cell>> }

/** bench/subscription-latency.ts in its own process (its own stack; ours only: the peers serve no subscriptions). */
export async function runSubscriptionBench(subscribers: number): Promise<unknown> {
  if (subscribers <= 0) return null;
  const code = await new Promise<number | null>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/subscription-latency.ts')], {
      env: { ...process.env, SUBSCRIBERS: String(subscribers), BROADCAST_EVENTS: process.env.BENCH_BROADCAST_EVENTS ?? '10' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    child.on('exit', resolve);
  });
  if (code !== 0) return { error: `subscription bench exited with ${code}` };
  return JSON.parse(await readFile(path.join(ROOT, 'bench/results/subscription-latency.json'), 'utf8'));
}

const fmt = (n: number | undefined, digits = 0) => (n === undefined ? '—' : n.toFixed(digits));
const ratio = (a?: number, b?: number) => (a && b ? `${(a / b).toFixed(2)}×` : '—');

export async function writeReport(r: {
  size: string;
  loadSeconds: number;
  rows: Row[];
  dataloader: { mode: string; statementsPerOp: number; rps: number; p50: number; p99: number }[];
  subscriptions: any;
  skipped: Partial<Record<GatewayName, string>>;
  settings: Record<string, number>;
  totalSeconds: number;
}): Promise<string> {
  const cpus = os.cpus();
  const machine = { cpu: cpus[0]?.model ?? 'unknown', cores: cpus.length, memoryGiB: Math.round(os.totalmem() / 2 ** 30), node: process.version, os: `${os.type()} ${os.release()}` };
  const lines = [
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}. Run ${new Date().toISOString()}, ${r.totalSeconds.toFixed(0)} s in all.`,
    `Data: ${r.size} (COPY + ANALYZE: ${r.loadSeconds.toFixed(1)} s). Load: autocannon, ${r.settings.connections} connections, ${r.settings.warmupS} s warm-up + ${r.settings.durationS} s measured, ${r.settings.reps} repetitions, medians; checkout: ${r.settings.checkoutConcurrency} closed loops.`,
    '',
    '| workload | ours req/s | stock req/s | Hive req/s | ours p50 / p99 ms | stock p50 / p99 ms | Hive p50 / p99 ms | ours/stock | ours/Hive |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...r.rows.map((row) => {
      const [o, s, h] = (['ours', 'stock', 'hive'] as const).map((g) => row.results[g]);
      const lat = (c?: Cell) => (c ? `${fmt(c.p50)} / ${fmt(c.p99)}` : 'skipped');
      const name = row.workload === 'checkout' ? 'checkout (checkouts/s)' : row.workload;
      return `| ${name} | ${fmt(o?.rps, 1)} | ${fmt(s?.rps, 1)} | ${fmt(h?.rps, 1)} | ${lat(o)} | ${lat(s)} | ${lat(h)} | ${ratio(o?.rps, s?.rps)} | ${ratio(o?.rps, h?.rps)} |`;
    }),
    '',
    '| account page, ours | SQL statements / operation | req/s | p50 / p99 ms |',
    '|---|---:|---:|---:|',
    ...r.dataloader.map((d) => `| DataLoader ${d.mode} | ${d.statementsPerOp.toFixed(1)} | ${d.rps.toFixed(1)} | ${d.p50} / ${d.p99} |`),
    '',
  ];
  const subs = r.subscriptions;
  if (subs?.targeted) {
    lines.push(`Real time (ours only; the peers serve no subscriptions over this supergraph): ${subs.subscribers} subscribers; targeted orderStatusChanged p50 ${subs.targeted.latencyMs.p50} ms / p99 ${subs.targeted.latencyMs.p99} ms (${subs.targeted.delivered}/${subs.targeted.expected} delivered); broadcast stockChanged p50 ${subs.broadcast.latencyMs.p50} ms / p99 ${subs.broadcast.latencyMs.p99} ms (${subs.broadcast.delivered}/${subs.broadcast.expected}), commit to receipt.`, '');
  } else if (subs) lines.push(`Real time: ${JSON.stringify(subs)}`, '');
  for (const [g, why] of Object.entries(r.skipped)) lines.push(`Skipped ${g}: ${why}`, '');
  lines.push(
    'Notes: one subgraphs process (all four) behind every gateway; ours gets `Authorization: Bearer <user JWT>` and signs service tokens itself;',
    'the peers get the SDL without the authorization links (they enforce none) and forward a gateway-signed `x-internal-token` the client minted.',
    'Partner: APQ by hash for ours and stock (registered first); Hive Gateway ships no APQ, so it gets the full document.',
  );
  const md = `${lines.join('\n')}\n`;
  await mkdir(path.join(ROOT, 'bench/results'), { recursive: true });
  // BENCH_RESULTS_NAME: trial runs (one workload, fewer gateways) without replacing latest.*.
  const name = process.env.BENCH_RESULTS_NAME ?? 'latest';
  await writeFile(path.join(ROOT, `bench/results/${name}.md`), md);
  await writeFile(path.join(ROOT, `bench/results/${name}.json`), `${JSON.stringify({ machine, ...r }, null, 2)}\n`);
  console.log(md);
  return md;
}
