import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  CONFIG_DOC,
  END_MARKER,
  START_MARKER,
  renderConfigReference,
  spliceConfigReference,
  undocumentedVariables,
} from '../../scripts/config-reference.js';

/**
 * docs/configuration.md's variable table is generated from the zod schemas (`npm run docs:config`):
 * a variable added, a default changed or a description edited without regenerating fails here,
 * as `npm run codegen:check` fails on stale generated types.
 */
describe('configuration reference', () => {
  const doc = readFileSync(CONFIG_DOC, 'utf8');

  it('is what `npm run docs:config` generates from platform/config/', () => {
    const stale = spliceConfigReference(doc) !== doc;
    expect(stale, 'docs/configuration.md is stale: run `npm run docs:config` and commit it').toBe(false);
  });

  it('describes every variable every service reads', () => {
    expect(undocumentedVariables()).toEqual([]);
  });

  it('keeps the hand-written prose outside the markers', () => {
    const [before, after] = [doc.slice(0, doc.indexOf(START_MARKER)), doc.slice(doc.indexOf(END_MARKER) + END_MARKER.length)];
    expect(before).toContain('exit code 78');
    expect(after).toContain('USERS_DATABASE_URL');
  });

  it('states each default once, read from the schema (a variable in several services with different defaults names each)', () => {
    const table = renderConfigReference();
    expect(table).toMatch(/^\| `PORT` \| all \| users 4001, catalog 4002, orders 4003, billing 4004, gateway 4000 \|/m);
    expect(table).toMatch(/^\| `LIMIT_MAX_DEPTH` \| gateway \| 10 \|/m);
    expect(table).toMatch(/^\| `SERVICE_PRIVATE_JWK` \| all \| required \|/m);
  });
});
