import { generateLocalKeys } from '../platform/local-env.js';

/**
 * `npm run keys > .env`: fresh signing keys as the environment docker-compose.yml (and the
 * Kubernetes secret) expects. Each service gets its own private key; every service gets the public set.
 */
const keys = await generateLocalKeys();
const line = (name: string, value: unknown) => `${name}='${JSON.stringify(value)}'`;
console.log(
  [
    line('GATEWAY_PRIVATE_JWK', keys.services.gateway),
    line('USERS_PRIVATE_JWK', keys.services.users),
    line('CATALOG_PRIVATE_JWK', keys.services.catalog),
    line('ORDERS_PRIVATE_JWK', keys.services.orders),
    line('BILLING_PRIVATE_JWK', keys.services.billing),
    line('TRUSTED_SERVICE_JWKS', keys.trustedJwks),
    line('USERS_JWT_PRIVATE_JWK', keys.userTokenKey),
  ].join('\n'),
);
