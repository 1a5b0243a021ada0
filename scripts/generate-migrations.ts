import { execFileSync } from 'node:child_process';
import { ROOT } from './compose-supergraph.js';
import { SUBGRAPHS } from '../platform/subgraphs.js';

/**
 * `npm run db:generate [subgraph...]`: drizzle-kit diffs each subgraph's Drizzle tables (db/tables.ts) against
 * its migration history and writes the next SQL migration into migrations/<subgraph>/.
 */
const all: readonly string[] = SUBGRAPHS;
const targets = process.argv.slice(2).length ? process.argv.slice(2) : all;
for (const name of targets) {
  if (!all.includes(name)) throw new Error(`unknown subgraph ${name}`);
  execFileSync(
    'npx',
    ['drizzle-kit', 'generate', '--dialect=postgresql', `--schema=subgraphs/${name}/db/tables.ts`, `--out=migrations/${name}`],
    { cwd: ROOT, stdio: 'inherit' },
  );
}
