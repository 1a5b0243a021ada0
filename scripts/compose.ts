import { writeFile } from 'node:fs/promises';
import { SUPERGRAPH_FILE, composeSupergraph } from './compose-supergraph.js';

/** `npm run compose`: rover.yaml -> schema/supergraph.graphql (commit the result). */
const sdl = await composeSupergraph();
await writeFile(SUPERGRAPH_FILE, sdl);
console.log(`wrote ${SUPERGRAPH_FILE}`);
