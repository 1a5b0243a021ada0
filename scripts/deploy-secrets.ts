import { randomBytes } from 'node:crypto';
import { stringify } from 'yaml';
import { generateLocalKeys } from '../platform/local-env.js';
import type { LocalKeys } from '../platform/local-env.js';
import { SUBGRAPHS } from '../platform/subgraphs.js';

/**
 * Every secret a deployment needs, made fresh: signing keys (one private key per service, the public
 * set for the subgraphs), the customer-token key, and passwords (Postgres, replication, Redis).
 * One set of values, two forms: the `.env` docker-compose.yml reads, and the Kubernetes Secrets
 * deploy/k8s references by name (`supergraph-keys`, `supergraph-redis`, `<subgraph>-db-credentials`).
 */
export interface DeploySecrets {
  /** The signing keys, as docker-compose.yml and the `supergraph-keys` Secret name them. */
  keys: Record<string, string>;
  /** One password per subgraph database role (Kubernetes: CloudNativePG bootstraps the role with it). */
  databasePasswords: Record<string, string>;
  postgresPassword: string;
  replicationPassword: string;
  redisPassword: string;
}

/** Hex: safe inside a URL's user-info and a shell single-quoted string without escaping. */
const password = () => randomBytes(24).toString('hex');

/** `keys`: signing keys made elsewhere (the test harness signs tokens with the same ones); fresh by default. */
export async function createDeploySecrets(keys?: LocalKeys): Promise<DeploySecrets> {
  keys ??= await generateLocalKeys();
  const json = (value: unknown) => JSON.stringify(value);
  return {
    keys: {
      GATEWAY_PRIVATE_JWK: json(keys.services.gateway),
      USERS_PRIVATE_JWK: json(keys.services.users),
      CATALOG_PRIVATE_JWK: json(keys.services.catalog),
      ORDERS_PRIVATE_JWK: json(keys.services.orders),
      BILLING_PRIVATE_JWK: json(keys.services.billing),
      TRUSTED_SERVICE_JWKS: json(keys.trustedJwks),
      USERS_JWT_PRIVATE_JWK: json(keys.userTokenKey),
    },
    databasePasswords: Object.fromEntries(SUBGRAPHS.map((name) => [name, password()])),
    postgresPassword: password(),
    replicationPassword: password(),
    redisPassword: password(),
  };
}

/** The `.env` docker-compose.yml interpolates (`NAME='value'` lines). */
export function dotEnvText(secrets: DeploySecrets): string {
  const values = {
    ...secrets.keys,
    POSTGRES_PASSWORD: secrets.postgresPassword,
    REPLICATION_PASSWORD: secrets.replicationPassword,
    REDIS_PASSWORD: secrets.redisPassword,
  };
  return Object.entries(values)
    .map(([name, value]) => `${name}='${value}'`)
    .join('\n');
}

/** The Secret objects deploy/k8s references, for `kubectl apply -f -` into the overlay's namespace. */
export function k8sSecrets(secrets: DeploySecrets): Record<string, unknown>[] {
  const secret = (name: string, stringData: Record<string, string>, type = 'Opaque') => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, labels: { 'app.kubernetes.io/part-of': 'supergraph' } },
    type,
    stringData,
  });
  return [
    secret('supergraph-keys', secrets.keys),
    secret('supergraph-redis', { password: secrets.redisPassword }),
    // CloudNativePG's initdb takes the owner's credentials as a basic-auth Secret (username = owner).
    ...SUBGRAPHS.map((name) =>
      secret(`${name}-db-credentials`, { username: name, password: secrets.databasePasswords[name]! }, 'kubernetes.io/basic-auth'),
    ),
  ];
}

export const k8sSecretsYaml = (secrets: DeploySecrets) =>
  k8sSecrets(secrets)
    .map((s) => stringify(s, { lineWidth: 0 }))
    .join('---\n');
