import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { processCpuMs, treeCpuMs } from '../../bench/proc-cpu.js';
import { analyseStaleness } from '../../bench/staleness.js';
import { summarize } from '../../bench/report.js';
import type { Run } from '../../bench/report.js';
import { eventually } from '../support/eventually.js';

/** The benchmark's own arithmetic: staleness from commits and views, CPU from /proc, per-repetition ratios. */
describe('bench staleness analysis', () => {
  const window = { start: 1_000, end: 10_000 };
  it('measures from the commit bound to the first response showing the change, and counts stale views', () => {
    // Two changes of p1: 10 -> 9 (tx started 2000) and 9 -> 8 (started 1990, committed after the first: bound 2000).
    const changes = [
      { productId: 'p1', stock: 9, occurredAt: 2_000 },
      { productId: 'p1', stock: 8, occurredAt: 1_990 },
      { productId: 'p2', stock: 4, occurredAt: 5_000 },
    ];
    const seen = {
      // [sent, received, stock]
      p1: [
        [1_500, 1_600, 10],
        [2_010, 2_050, 10],
        [2_060, 2_120, 8],
      ] as [number, number, number][],
      p2: [
        [5_100, 5_150, 5],
        [5_300, 5_400, 5],
        [45_000, 45_010, 5],
      ] as [number, number, number][],
    };
    const r = analyseStaleness(changes, seen, window, 30_000);
    // p1's changes both bound at 2000, first shown at 2120; p2's never shown inside the scored window... and the
    // third view (sent 40 s after the commit) is staler than the 30 s max-age.
    expect(r.changes).toBe(3);
    expect(r.unobserved).toBe(1);
    expect(r.stalenessMs).toEqual({ p50: 120, p99: 120, max: 120 });
    expect(r.views).toBe(6);
    expect(r.staleOver100Ms).toBe(2); // p2 at 5300 (300 ms) and at 45000
    expect(r.staleOver1S).toBe(1); // p2 at 45000 only
    expect(r.staleOverMaxAge).toBe(1);
  });

  it('scores no change committed in the last second or before the window', () => {
    const r = analyseStaleness(
      [
        { productId: 'p', stock: 1, occurredAt: 9_500 },
        { productId: 'p', stock: 0, occurredAt: 500 },
      ],
      { p: [[9_600, 9_700, 1]] },
      window,
      30_000,
    );
    expect(r.changes).toBe(0);
    expect(r.stalenessMs).toBeNull();
  });
});

describe('bench CPU from /proc', () => {
  it("counts a busy child's CPU in its parent's tree, and not in the parent's own time", async () => {
    // Burns 300 ms of CPU (not of wall time: the machine may be busy).
    const child = spawn(process.execPath, ['-e', 'while (process.cpuUsage().user < 300000) {}'], { stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const ownBefore = processCpuMs(process.pid);
    const treeBefore = treeCpuMs(process.pid);
    // While it runs its time is its own; once reaped it moves into our cutime: either way in our tree.
    await eventually(async () => (treeCpuMs(process.pid) - treeBefore >= 200 ? true : undefined), { timeoutMs: 20_000 });
    await exited;
    expect(treeCpuMs(process.pid) - treeBefore).toBeGreaterThanOrEqual(200);
    expect(processCpuMs(process.pid) - ownBefore).toBeLessThan(treeCpuMs(process.pid) - treeBefore);
  });
});

describe('bench ratios', () => {
  const run = (gateway: Run['gateway'], rep: number, rps: number): Run => ({
    workload: 'storefront',
    gateway,
    rep,
    rps,
    p50: 1,
    p99: 2,
    failed: 0,
    count: rps * 10,
    hitRate: null,
    cpuPer: { gateway: 1, subgraphs: 1, postgres: 1, redis: 0, total: 3 },
  });
  it('takes ours/peer within each repetition and reports median (min..max)', () => {
    // The machine slows down in repetition 2: per-repetition ratios stay 2.0, 2.0, 1.0.
    const [row] = summarize([
      run('ours', 0, 200),
      run('stock', 0, 100),
      run('ours', 1, 100),
      run('stock', 1, 50),
      run('ours', 2, 100),
      run('stock', 2, 100),
    ]);
    expect(row!.ratios.stock).toEqual({ median: 2, min: 1, max: 2 });
    expect(row!.results.ours!.rps).toEqual({ median: 100, min: 100, max: 200 });
    expect(row!.ratios.hive).toBeUndefined();
  });
});
