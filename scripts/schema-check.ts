import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { parseConfig } from '../platform/config.js';
import { createLogger } from '../platform/logger.js';
import { ROOT } from '../platform/paths.js';
import { openUsageStorage } from '../gateway/usage/index.js';
import { ExplainedError, runScript } from './run-script.js';
import { parseDays, usageCommandSchema } from './schema-usage.js';
import { runSchemaCheck } from './schema-checks/run-check.js';
import { formatSummary } from './schema-checks/summary.js';

/**
 * `npm run schema:check -- --subgraph <name> --sdl <file> [--days 30] [--accept <coordinate>]… [--json <out>]`:
 * what a subgraph team runs in CI before its SDL change is composed (docs/schema-changes.md). Exit 0:
 * passed; 1: a check failed (the summary says which and why), or a bad argument (the message says which).
 */
const USAGE = `usage: npm run schema:check -- --subgraph <name> --sdl <file.graphql> [--days 30] [--accept <coordinate>]… [--json <report.json>]`;

/** Where the check reads today's supergraph and the trusted documents: the gateways' own variables. */
const checkInputsSchema = usageCommandSchema.extend({
  SUPERGRAPH_PATH: z.string().default('schema/supergraph.graphql'),
  PERSISTED_QUERIES_DIR: z.string().default('persisted-queries'),
  CLIENT_REGISTRY_DIR: z.string().optional(),
});

function args(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      options: {
        subgraph: { type: 'string' },
        sdl: { type: 'string' },
        days: { type: 'string' },
        accept: { type: 'string', multiple: true },
        json: { type: 'string' },
      },
    }).values;
  } catch (err) {
    throw new ExplainedError(`${(err as Error).message}\n${USAGE}`);
  }
}

async function main(argv: string[]): Promise<number> {
  const values = args(argv);
  if (!values.subgraph || !values.sdl) throw new ExplainedError(USAGE);
  const days = parseDays(values.days);
  const config = parseConfig(checkInputsSchema);
  const sdl = await readFile(values.sdl, 'utf8').catch(() => {
    throw new ExplainedError(`cannot read --sdl ${values.sdl}`);
  });
  const storage = openUsageStorage(config, createLogger('schema-check', 'error'));
  try {
    const report = await runSchemaCheck({
      subgraph: values.subgraph,
      sdl,
      currentSupergraphSdl: await readFile(path.resolve(ROOT, config.SUPERGRAPH_PATH), 'utf8'),
      persistedDir: path.resolve(ROOT, config.PERSISTED_QUERIES_DIR),
      // The registry the gateways serve: CLIENT_REGISTRY_DIR, else npm start's (as `npm run partner`).
      registryDir: path.resolve(ROOT, config.CLIENT_REGISTRY_DIR ?? path.join(config.DATA_DIR ?? '.data', 'clients')),
      usage: storage.store,
      days,
      accept: values.accept ?? [],
    });
    if (values.json) await writeFile(values.json, `${JSON.stringify(report, null, 2)}\n`);
    (report.ok ? console.log : console.error)(formatSummary(report));
    return report.ok ? 0 : 1;
  } finally {
    await storage.close();
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === import.meta.filename) {
  await runScript(async () => {
    process.exitCode = await main(process.argv.slice(2));
  });
}
