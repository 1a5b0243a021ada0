import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { generate } from '@graphql-codegen/cli';
import { ROOT } from '../platform/paths.js';
import config from '../codegen.js';

/**
 * `npm run codegen:check` (part of `npm test`): runs GraphQL Code Generator with codegen.ts in
 * memory (nothing is written) and compares its output with the committed test/generated/. A test
 * operation changed without `npm run codegen`, or a schema/api.graphql change that alters a test
 * operation's types, fails here with the stale files named, instead of as a puzzling type error.
 */
const OUT = 'test/generated';

/** What codegen.ts generates now; an invalid test operation is reported as codegen words it, without a stack. */
async function generateInMemory(): Promise<{ filename: string; content: string }[]> {
  try {
    return (await generate({ ...config, cwd: ROOT, silent: true }, false)) as { filename: string; content: string }[];
  } catch (err) {
    const errors = (err as { errors?: { message?: string }[] }).errors;
    const detail = errors?.length ? errors.map((e) => e.message).join('\n') : (err as Error).message;
    console.error(`codegen:check: a test operation does not match schema/api.graphql:\n${detail}`);
    process.exit(1);
  }
}

const generated = await generateInMemory();
const expected = new Map(generated.map((f): [string, string] => [path.relative(ROOT, path.resolve(ROOT, f.filename)), f.content]));
const committed = (await readdir(path.join(ROOT, OUT))).map((name) => path.join(OUT, name));

const stale: string[] = [];
for (const [file, content] of expected) {
  const onDisk = await readFile(path.join(ROOT, file), 'utf8').catch(() => undefined);
  if (onDisk !== content) stale.push(onDisk === undefined ? `${file} (missing)` : file);
}
for (const file of committed) if (!expected.has(file)) stale.push(`${file} (no longer generated)`);

if (stale.length) {
  console.error(`codegen:check: ${OUT}/ is stale, run \`npm run codegen\` and commit it:\n  ${stale.join('\n  ')}`);
  process.exit(1);
}
console.log(`codegen:check: ${expected.size} files in ${OUT}/ match the test operations and schema/api.graphql`);
