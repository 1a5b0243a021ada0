import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLIENT_FILE, createClientRegistry, writeJsonAtomic } from '../../gateway/persisted-queries/client-registry.js';
import type { LastGoodStore } from '../../gateway/persisted-queries/client-registry.js';
import { createLogger } from '../../platform/logger.js';

/**
 * Reads of the registry folder never overlap: a read held up (here by a slow last-good store, as a
 * slow volume or a busy Redis would) must not finish after a newer read and put back the older state.
 */
describe('client registry reads', () => {
  it('a read that began before a change never overwrites a read that began after it', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'registry-reads-'));
    const file = path.join(dir, 'slow', CLIENT_FILE);
    await writeJsonAtomic(file, { name: 'slow', keys: [], manifests: {} });
    let release: (() => void) | undefined;
    const store: LastGoodStore = {
      // The broken file below has no last good copy; the store's first answer waits to be released.
      get: () => (release ? Promise.resolve(null) : new Promise((resolve) => (release = () => resolve(null)))),
      set: async () => undefined,
    };
    const registry = await createClientRegistry(dir, 60_000, createLogger('test', 'silent'), store);
    try {
      // Folders are read in name order: the older read lists no "fresh" and is held at "zz-broken".
      await writeJsonAtomic(path.join(dir, 'zz-broken', CLIENT_FILE), { name: 'zz-broken', keys: 'not a list' });
      const older = registry.refresh();
      await expect.poll(() => release, { timeout: 10_000 }).toBeDefined();
      const key = { id: 'fresh-1', sha256: 'a'.repeat(64), createdAt: new Date().toISOString(), revoked: false };
      await writeJsonAtomic(path.join(dir, 'fresh', CLIENT_FILE), { name: 'fresh', keys: [key], manifests: {} });
      const newer = registry.refresh();
      // Held until the newer read is done, or for a second: reads that wait their turn never are.
      await Promise.race([newer, new Promise((resolve) => setTimeout(resolve, 1_000))]);
      release!();
      await Promise.all([older, newer]);
      expect(registry.current().keys.map((k) => k.id)).toEqual(['fresh-1']);
    } finally {
      registry.stop();
    }
  });

  it('counts the files its last read skipped as bad: a broken manifest and a broken client.json, until fixed or removed', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'registry-bad-'));
    const manifests = { '1.0': { publishedAt: new Date().toISOString(), retired: false } };
    await writeJsonAtomic(path.join(dir, 'acme', CLIENT_FILE), { name: 'acme', keys: [], manifests });
    const manifest = path.join(dir, 'acme', 'manifests', '1.0.json');
    const good = { format: 'apollo-persisted-query-manifest', version: 1, operations: [] };
    await writeJsonAtomic(manifest, good);
    const registry = await createClientRegistry(dir, 60_000, createLogger('test', 'silent'));
    try {
      expect(registry.badFiles()).toBe(0);
      await writeFile(manifest, '{ "format": "apollo-persisted-query-manifest", ');
      await writeJsonAtomic(path.join(dir, 'broken', CLIENT_FILE), { name: 'broken', keys: 'not a list' });
      await registry.refresh();
      expect(registry.badFiles()).toBe(2);
      await writeJsonAtomic(manifest, good);
      await registry.refresh();
      expect(registry.badFiles()).toBe(1);
      // A client removed is no longer read, so no longer counted.
      await rm(path.join(dir, 'broken'), { recursive: true });
      await registry.refresh();
      expect(registry.badFiles()).toBe(0);
    } finally {
      registry.stop();
    }
  });
});
