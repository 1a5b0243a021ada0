import { existsSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../platform/paths.js';
import { mintPartnerKey } from '../gateway/identity/partner-keys.js';

/**
 * `npm run partner:key -- <client>`: a new partner API key. The key goes to the partner (it is
 * shown once and stored nowhere); the JSON entry, which holds only its sha256, goes into
 * PARTNER_API_KEYS. Revoke by setting `"revoked": true` on the entry (or removing it).
 */
const client = process.argv[2];
if (!client) {
  console.error('usage: npm run partner:key -- <client-name>');
  process.exit(64);
}
const { key, entry } = mintPartnerKey(client);
const manifest = path.join(ROOT, 'persisted-queries', `${client}.json`);
console.error(`API key for ${client} (give it to the partner; it is not stored anywhere):\n\n  ${key}\n`);
if (!existsSync(manifest))
  console.error(`note: ${path.relative(ROOT, manifest)} does not exist yet; the gateway refuses to start without it.\n`);
console.error('Add this entry to PARTNER_API_KEYS:\n');
console.log(JSON.stringify(entry));
