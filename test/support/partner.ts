import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { partnerCommand } from '../../scripts/partner.js';

/**
 * `npm run partner -- <args>` against `registry`, run as the same code in this process (what the CLI
 * calls), so a flow does not pay a tsx start per step: its printed lines, joined (and its error
 * lines too, with `errors: true`).
 */
export async function runPartner(registry: string, args: string[], opts: { errors?: boolean } = {}): Promise<string> {
  const lines: string[] = [];
  await partnerCommand(
    args,
    registry,
    (l) => lines.push(l),
    (l) => {
      if (opts.errors) lines.push(l);
    },
  );
  return lines.join('\n');
}

/**
 * A manifest file as Apollo's `@apollo/generate-persisted-query-manifest` writes it; each id is the
 * sha256 of its body, computed here apart from the gateway's own code. Resolves with the ids, in order.
 */
export async function writeApolloManifest(file: string, operations: { name: string; type: string; body: string }[]): Promise<string[]> {
  const withIds = operations.map((o) => ({ id: createHash('sha256').update(o.body).digest('hex'), ...o }));
  await writeFile(file, JSON.stringify({ format: 'apollo-persisted-query-manifest', version: 1, operations: withIds }));
  return withIds.map((o) => o.id);
}

/** A gateway's `gateway_client_registry_bad_files`: registry files its last read of the folder skipped as bad. */
export async function registryBadFiles(metricsUrl: string): Promise<number> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const value = /^gateway_client_registry_bad_files(?:\{[^}]*\})? (\d+)/m.exec(text)?.[1];
  if (value === undefined) throw new Error(`${metricsUrl}/metrics has no gateway_client_registry_bad_files`);
  return Number(value);
}
