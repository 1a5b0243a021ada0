import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../platform/paths.js';

/** The "Layout" block of docs/architecture.md: a newcomer's map of the tree, so it must name what is there. */
function layoutBlock(): string {
  const readme = readFileSync(path.join(ROOT, 'docs/architecture.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Layout'), readme.indexOf('### Decisions worth knowing'));
  const block = /```\n([\s\S]*?)```/.exec(section);
  if (!block?.[1]) throw new Error('docs/architecture.md has no Layout code block');
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

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s-]/gu, '')
    .replace(/\s/g, '-');

describe('README and docs/', () => {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const pages = readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md'));

  it('the README is read in minutes and links every page of docs/', () => {
    expect(readme.split('\n').length).toBeLessThan(150);
    expect(pages.filter((p) => !readme.includes(`(docs/${p}`))).toEqual([]);
  });

  it('every link between them reaches a page and a heading that exist', () => {
    const broken: string[] = [];
    for (const [file, text] of [
      ['README.md', readme],
      ...pages.map((p) => [`docs/${p}`, readFileSync(path.join(ROOT, 'docs', p), 'utf8')]),
    ] as const) {
      for (const [, target, anchor] of text.matchAll(/\]\(((?:docs\/|\.\.\/)?[\w-]+\.md)(?:#([\w-]+))?\)/g)) {
        const resolved = path.join(path.dirname(path.join(ROOT, file)), target!);
        if (!existsSync(resolved)) broken.push(`${file} -> ${target}`);
        else if (anchor) {
          const headings = [...readFileSync(resolved, 'utf8').matchAll(/^#+ (.+)$/gm)].map((m) => slug(m[1]!));
          if (!headings.includes(anchor)) broken.push(`${file} -> ${target}#${anchor}`);
        }
      }
    }
    expect(broken).toEqual([]);
  });
});
