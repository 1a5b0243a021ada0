import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { generateLocalKeys } from '../platform/local-env.js';
import { ExplainedError, runScript } from './run-script.js';

/**
 * `npm run keys -- --out .env` (or `npm run --silent keys > .env`): fresh signing keys as the
 * environment docker-compose.yml (and the Kubernetes secret) expects. Each service gets its own
 * private key; every service gets the public set. `--out` writes the file itself (mode 0600, never
 * over an existing one unless `--force`), so npm's own banner on stdout cannot end up in it.
 */
await runScript(async () => {
  const keys = await generateLocalKeys();
  const line = (name: string, value: unknown) => `${name}='${JSON.stringify(value)}'`;
  const text = [
    line('GATEWAY_PRIVATE_JWK', keys.services.gateway),
    line('USERS_PRIVATE_JWK', keys.services.users),
    line('CATALOG_PRIVATE_JWK', keys.services.catalog),
    line('ORDERS_PRIVATE_JWK', keys.services.orders),
    line('BILLING_PRIVATE_JWK', keys.services.billing),
    line('TRUSTED_SERVICE_JWKS', keys.trustedJwks),
    line('USERS_JWT_PRIVATE_JWK', keys.userTokenKey),
  ].join('\n');
  const at = process.argv.indexOf('--out');
  if (at === -1) {
    console.log(text);
    return;
  }
  const file = process.argv[at + 1];
  if (!file || file.startsWith('--')) throw new ExplainedError('Usage: npm run keys -- --out <file> [--force]');
  if (existsSync(file) && !process.argv.includes('--force')) {
    throw new ExplainedError(`${file} exists; its keys would be lost. Add --force to replace it.`);
  }
  await writeFile(file, `${text}\n`, { mode: 0o600 });
  console.log(`wrote ${file} (private keys: keep it out of git; .gitignore does)`);
});
