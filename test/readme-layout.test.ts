import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../platform/paths.js';

/** The README's "Layout" block: a newcomer's map of the tree, so it must name what is there. */
function layoutBlock(): string {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Layout'), readme.indexOf('### Decisions worth knowing'));
  const block = /```\n([\s\S]*?)```/.exec(section);
  if (!block?.[1]) throw new Error('README.md has no Layout code block');
  return block[1];
}

/** Local or generated, never committed (see .gitignore). */
const UNTRACKED = new Set(['node_modules', '.git', '.data', 'dist', 'coverage', '.env']);

const entries = (dir: string) =>
  readdirSync(path.join(ROOT, dir))
    .filter((e) => !UNTRACKED.has(e))
    .map((e) => (statSync(path.join(ROOT, dir, e)).isDirectory() ? `${e}/` : e));

const named = (block: string, entry: string) => {
  const escaped = entry.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  // A bare name, or the name in a glob row such as `subgraph-*.ts`.
  return new RegExp(`(^|[\\s,(/])${escaped}($|[\\s,):;/])`, 'm').test(block) || globbed(block, entry);
};

const globbed = (block: string, entry: string) =>
  [...block.matchAll(/(\S*\*\S*)/g)].some(([glob]) => new RegExp(`^${glob.replace(/\./g, '\\.').replace(/\*/g, '[\\w-]+')}$`).test(entry));

describe('README layout matches the tree', () => {
  const block = layoutBlock();

  it.each(['.', 'platform', 'gateway', ...readdirSync(path.join(ROOT, 'subgraphs')).map((s) => `subgraphs/${s}`)])(
    'names every entry of %s',
    (dir) => {
      const missing = entries(dir).filter((e) => !named(block, e.replace(/\/$/, '')) && !named(block, e));
      expect(missing).toEqual([]);
    },
  );

  it('names no top-level folder that does not exist', () => {
    const folders = [...block.matchAll(/^([\w.-]+)\/(?:<name>\/)?\s/gm)].map((m) => m[1]!);
    expect(folders.length).toBeGreaterThan(5);
    expect(folders.filter((f) => !existsSync(path.join(ROOT, f)))).toEqual([]);
  });
});
