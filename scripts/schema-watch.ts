import { watch } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { API_SCHEMA_FILE, ROOT, SUPERGRAPH_FILE, apiSchemaSdl, composeSupergraph } from './compose-supergraph.js';

/** Editors save in bursts (a temp file, a rename, a chmod): compose once the folder is quiet. */
const QUIET_MS = 300;

/**
 * `npm start`'s schema loop: when a subgraph SDL in schema/ changes, compose again (rover.yaml)
 * and write schema/supergraph.graphql and schema/api.graphql, which the running gateway follows
 * (SUPERGRAPH_PATH, gateway/supergraph-sources.ts) and reloads without a restart. A composition
 * error is printed and changes nothing: the last good supergraph keeps serving. The subgraph
 * servers read their own SDL at start, so a field a subgraph newly resolves needs its code (and a
 * restart of npm start); a field removed from the graph is gone at once.
 */
export function watchSchemaSources(log: (line: string) => void = console.log): { close(): void } {
  const folder = path.join(ROOT, 'schema');
  const generated = new Set([path.basename(SUPERGRAPH_FILE), path.basename(API_SCHEMA_FILE)]);
  let timer: NodeJS.Timeout | undefined;
  let running = Promise.resolve();
  const recompose = async () => {
    try {
      const sdl = await composeSupergraph();
      if (sdl === (await readFile(SUPERGRAPH_FILE, 'utf8').catch(() => ''))) return;
      await writeFile(API_SCHEMA_FILE, apiSchemaSdl(sdl));
      await writeFile(SUPERGRAPH_FILE, sdl);
      log('schema/ changed: composed schema/supergraph.graphql; the gateway reloads it');
    } catch (err) {
      log(`schema/ changed, but the supergraph was not updated: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  const watcher = watch(folder, { persistent: false }, (_event, file) => {
    if (!file?.endsWith('.graphql') || generated.has(file)) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      running = running.then(recompose);
    }, QUIET_MS);
  });
  return {
    close() {
      clearTimeout(timer);
      watcher.close();
    },
  };
}
