import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, readRoverConfig } from '../../scripts/compose-supergraph.js';

/**
 * The toolchain the project pins: the Node runtime from the npm registry (optionalDependencies
 * `node-<os>-<cpu>`, whose `bin/node` npm scripts find first in node_modules/.bin) and one
 * federation release for rover.yaml, composition, the subgraphs and the gateway.
 */

const FEDERATION_PACKAGES = [
  '@apollo/composition',
  '@apollo/gateway',
  '@apollo/subgraph',
  '@apollo/federation-internals',
  '@apollo/query-planner',
];

interface Manifest {
  version: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}

async function manifest(dir: string): Promise<Manifest> {
  return JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8')) as Manifest;
}

/** Every installed copy of a package: the top-level one and any nested under another package. */
async function installedVersions(name: string): Promise<string[]> {
  const versions = [(await manifest(path.join(ROOT, 'node_modules', name))).version];
  for (const scope of ['@apollo', '@graphql-hive', '@graphql-eslint']) {
    const owners = await readdir(path.join(ROOT, 'node_modules', scope)).catch(() => []);
    for (const owner of owners) {
      const nested = path.join(ROOT, 'node_modules', scope, owner, 'node_modules', name);
      const found = await manifest(nested).catch(() => undefined);
      if (found) versions.push(found.version);
    }
  }
  return versions;
}

describe('toolchain', () => {
  it('npm test runs on the pinned Node 24 (node_modules/.bin/node), not the machine’s own Node', async () => {
    console.log(`toolchain: tests run on node ${process.version} (${process.execPath})`);
    expect(Number(process.versions.node.split('.')[0])).toBeGreaterThanOrEqual(24);
    const pkg = await manifest(ROOT);
    expect(pkg.optionalDependencies?.[`node-${process.platform}-${process.arch}`]).toBe(process.versions.node);
    expect(process.execPath).toBe(path.join(ROOT, 'node_modules', `node-${process.platform}-${process.arch}`, 'bin', 'node'));
  });

  it('rover.yaml, composition, @apollo/subgraph and @apollo/gateway are one federation release', async () => {
    const release = (await readRoverConfig()).federation_version.replace(/^=/, '');
    const pkg = await manifest(ROOT);
    for (const name of FEDERATION_PACKAGES) {
      const declared = pkg.dependencies?.[name] ?? pkg.devDependencies?.[name];
      // query-planner comes with the gateway; the others are declared, pinned exactly (no range to drift in).
      if (name !== '@apollo/query-planner') expect(declared, name).toBe(release);
      expect(new Set(await installedVersions(name)), name).toEqual(new Set([release]));
    }
  });
});
