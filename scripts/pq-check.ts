import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ROOT } from '../platform/paths.js';
import { checkManifests } from '../gateway/persisted-queries/check.js';
import { readManifestFiles } from '../gateway/persisted-queries/manifest.js';

/**
 * `npm run pq:check`: every operation of every client manifest in persisted-queries/ against the
 * committed supergraph. Run before composing a schema change into production (it is part of
 * `npm test`): a field a partner's or an app's listed operation uses cannot disappear unnoticed.
 */
const dir = path.resolve(ROOT, process.env.PERSISTED_QUERIES_DIR ?? 'persisted-queries');
const supergraphSdl = await readFile(path.resolve(ROOT, process.env.SUPERGRAPH_PATH ?? 'schema/supergraph.graphql'), 'utf8');
const problems = await checkManifests({ dir, supergraphSdl });
if (problems.length) {
  for (const p of problems) console.error(`client "${p.client}", operation "${p.operation}": ${p.message}`);
  console.error(`pq:check: ${problems.length} problem(s) in ${path.relative(ROOT, dir)}/`);
  process.exit(1);
}
const files = await readManifestFiles(dir);
const count = files.reduce((n, f) => n + (f.manifest?.operations.length ?? 0), 0);
console.log(`pq:check: ${count} operations in ${files.length} manifests match the supergraph`);
