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
