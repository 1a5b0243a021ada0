import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { generate } from '@graphql-codegen/cli';
import { ROOT } from '../platform/paths.js';
import config from '../codegen.js';

/**
 * `npm run codegen:check` (part of `npm test`): runs GraphQL Code Generator with codegen.ts in
 * memory (nothing is written) and compares its output with what is committed: each subgraph's
 * generated/ resolver types and test/generated/. An SDL change, or a test operation changed,
 * without `npm run codegen` fails here with the stale files named, instead of as a puzzling type
 * error (or, worse, as resolvers typed against yesterday's schema).
 */

/** The folders codegen.ts writes into: an output ending in `/` is one, a file's folder otherwise. */
const outputDirs = [...new Set(Object.keys(config.generates).map((out) => (out.endsWith('/') ? out.slice(0, -1) : path.dirname(out))))];

/** What codegen.ts generates now; an invalid schema or operation is reported as codegen words it, without a stack. */
async function generateInMemory(): Promise<{ filename: string; content: string }[]> {
  try {
    return (await generate({ ...config, cwd: ROOT, silent: true }, false)) as { filename: string; content: string }[];
  } catch (err) {
    const errors = (err as { errors?: { message?: string }[] }).errors;
    const detail = errors?.length ? errors.map((e) => e.message).join('\n') : (err as Error).message;
    console.error(`codegen:check: codegen.ts cannot generate from the schemas and test operations:\n${detail}`);
    process.exit(1);
  }
}

const generated = await generateInMemory();
const expected = new Map(generated.map((f): [string, string] => [path.relative(ROOT, path.resolve(ROOT, f.filename)), f.content]));
const committed = (
  await Promise.all(
    outputDirs.map(async (dir) => (await readdir(path.join(ROOT, dir)).catch(() => [])).map((name) => path.join(dir, name))),
  )
).flat();

const stale: string[] = [];
for (const [file, content] of expected) {
  const onDisk = await readFile(path.join(ROOT, file), 'utf8').catch(() => undefined);
  if (onDisk !== content) stale.push(onDisk === undefined ? `${file} (missing)` : file);
}
for (const file of committed) if (!expected.has(file)) stale.push(`${file} (no longer generated)`);

if (stale.length) {
  console.error(`codegen:check: generated types are stale, run \`npm run codegen\` and commit them:\n  ${stale.join('\n  ')}`);
  process.exit(1);
}
console.log(`codegen:check: ${expected.size} generated files in ${outputDirs.join(', ')} match the schemas and test operations`);
