import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createDeploySecrets, dotEnvText, k8sSecretsYaml } from './deploy-secrets.js';
import { ExplainedError, runScript } from './run-script.js';

/**
 * Fresh secrets for a deployment (scripts/deploy-secrets.ts): signing keys and passwords.
 * - `npm run keys -- --out .env`: the .env docker-compose.yml reads. `--out` writes the file itself
 *   (mode 0600, never over an existing one unless `--force`), so npm's banner cannot end up in it.
 * - `npm run --silent keys -- --k8s | kubectl apply -n <namespace> -f -`: the Kubernetes Secrets.
 */
await runScript(async () => {
  const secrets = await createDeploySecrets();
  const text = process.argv.includes('--k8s') ? k8sSecretsYaml(secrets) : `${dotEnvText(secrets)}\n`;
  const at = process.argv.indexOf('--out');
  if (at === -1) {
    process.stdout.write(text);
    return;
  }
  const file = process.argv[at + 1];
  if (!file || file.startsWith('--')) throw new ExplainedError('Usage: npm run keys -- [--k8s] --out <file> [--force]');
  if (existsSync(file) && !process.argv.includes('--force')) {
    throw new ExplainedError(`${file} exists; its keys would be lost. Add --force to replace it.`);
  }
  await writeFile(file, text, { mode: 0o600 });
  console.log(`wrote ${file} (private keys: keep it out of git; .gitignore does)`);
});
