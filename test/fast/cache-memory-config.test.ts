import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../platform/paths.js';

/**
 * CACHE_LOCAL_MAX_MB is memory in the gateway's own heap, whose limit V8 sets from the container's
 * memory (a 512 MiB container: 352 MB) or NODE_OPTIONS. A value past half of that limit stops the
 * gateway at start, naming the variable, instead of letting it run out of heap under load. Checked in
 * a process of its own, started with a small heap, as a container would start it.
 */
const parseIn = async (heapMb: number, env: Record<string, string>) => {
  // The problems the gateway would print about this variable (the rest of its config is left unset here).
  const code = `import('./platform/config.js').then((c) => { try { c.parseConfig(c.gatewaySchema, process.env); } catch (e) { console.log(e.problems.filter((p) => p.startsWith('CACHE_LOCAL_MAX_MB')).join('\\n')); } })`;
  const { stdout } = await promisify(execFile)(
    path.join(ROOT, 'node_modules/.bin/node'),
    [`--max-old-space-size=${heapMb}`, '--import', 'tsx', '-e', code],
    { cwd: ROOT, env: { PATH: process.env.PATH, ...env } },
  );
  return stdout.trim();
};

describe('CACHE_LOCAL_MAX_MB', () => {
  it('stops a gateway whose heap it would take more than half of, naming the variable; the default fits a 512 MiB container', async () => {
    // --max-old-space-size=256: the old generation a 512 MiB container gives (heap limit about 352 MB with the shipped semi-space).
    const refused = await parseIn(256, { CACHE_LOCAL_MAX_MB: '300' });
    expect(refused).toMatch(/^CACHE_LOCAL_MAX_MB: more than half of this process's heap limit \(\d+ MB/);
    expect(await parseIn(256, {})).toBe('');
    expect(await parseIn(256, { CACHE_LOCAL_MAX_MB: '128' })).toBe('');
  }, 60_000);
});
