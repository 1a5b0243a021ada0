import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { shippedGatewayNodeOptions } from '../../bench/shipped-node-options.js';
import { ROOT } from '../../platform/paths.js';

/**
 * CACHE_LOCAL_MAX_MB is memory in the gateway's own heap, whose limit V8 sets from the container's
 * memory or NODE_OPTIONS. A value past half of that limit stops the gateway at start, naming the
 * variable, instead of letting it run out of heap under load. Checked in a process of its own with
 * the heap deploy/k8s gives the gateway: its memory limit (the old generation gets half of a
 * container's memory: 256 MB of 512 MiB, measured in a memory cgroup, docs/operators.md) and the
 * shipped NODE_OPTIONS.
 */
function k8sGatewayMemoryMiB(): number {
  const docs = parseAllDocuments(readFileSync(path.join(ROOT, 'deploy/k8s/base/gateway.yaml'), 'utf8')).map((d) => d.toJS());
  const deployment = docs.find((d) => d?.kind === 'Deployment') as {
    spec: { template: { spec: { containers: { name: string; resources: { limits: { memory: string } } }[] } } };
  };
  const limit = deployment.spec.template.spec.containers.find((c) => c.name === 'gateway')!.resources.limits.memory;
  const [, n, unit] = /^(\d+)(Mi|Gi)$/.exec(limit)!;
  return Number(n) * (unit === 'Gi' ? 1024 : 1);
}

/** The problems the gateway would print about CACHE_LOCAL_MAX_MB (the rest of its config is left unset here). */
async function problemsWithHeapOf(memoryMiB: number, env: Record<string, string>): Promise<string> {
  const code = `import('./platform/config.js').then((c) => { try { c.parseConfig(c.gatewaySchema, process.env); } catch (e) { console.log(e.problems.filter((p) => p.startsWith('CACHE_LOCAL_MAX_MB')).join('\\n')); } })`;
  const flags = [...(shippedGatewayNodeOptions() ?? '').split(' ').filter(Boolean), `--max-old-space-size=${memoryMiB / 2}`];
  const { stdout } = await promisify(execFile)(path.join(ROOT, 'node_modules/.bin/node'), [...flags, '--import', 'tsx', '-e', code], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, ...env },
  });
  return stdout.trim();
}

describe('CACHE_LOCAL_MAX_MB', () => {
  it("fits the heap of deploy/k8s's gateway by default; a value past half of it stops the gateway, naming the variable", async () => {
    const memory = k8sGatewayMemoryMiB();
    expect(await problemsWithHeapOf(memory, {})).toBe('');
    expect(await problemsWithHeapOf(memory, { CACHE_LOCAL_MAX_MB: String(memory) })).toMatch(
      /^CACHE_LOCAL_MAX_MB: more than half of this process's heap limit \(\d+ MB/,
    );
  }, 60_000);
});
