import { writeFile } from 'node:fs/promises';
import { API_SCHEMA_FILE, SUPERGRAPH_FILE, apiSchemaSdl, composeSupergraph } from './compose-supergraph.js';

/** `npm run compose`: rover.yaml -> schema/supergraph.graphql and schema/api.graphql (commit both). */
const sdl = await composeSupergraph();
await writeFile(SUPERGRAPH_FILE, sdl);
console.log(`wrote ${SUPERGRAPH_FILE}`);
await writeFile(API_SCHEMA_FILE, apiSchemaSdl(sdl));
console.log(`wrote ${API_SCHEMA_FILE}`);
