import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './paths.js';
import { parse } from 'graphql';
import type { DocumentNode } from 'graphql';
import type { BaseConfig, SubgraphBaseConfig } from './config.js';
import { createDatabase } from './db.js';
import { guardDriverRejections } from './driver-rejections.js';
import { configureLoaders } from './loaders.js';
import { createLogger } from './logger.js';
import { startTracingFromConfig } from './observability/index.js';
import { createServiceTokenSigner, createServiceTokenVerifier } from './auth/service-token.js';
import { createEventBus } from './events/index.js';
import type { EventBus } from './events/index.js';

/** A subgraph's SDL: schema/<name>.graphql is the one source rover.yaml and the server both read. */
export function loadTypeDefs(name: string): DocumentNode {
  return parse(readFileSync(path.join(ROOT, 'schema', `${name}.graphql`), 'utf8'));
}

/**
 * What every service (the gateway and each subgraph) builds first from its config: its logger,
 * tracing, and the key it signs its outgoing service calls with. The HTTP shell around it is
 * createServiceApp (http.ts).
 */
export async function createServiceCore(name: string, config: BaseConfig) {
  const log = createLogger(name, config.LOG_LEVEL, config.LOG_DESTINATION);
  startTracingFromConfig(name, config);
  const signer = await createServiceTokenSigner(config.SERVICE_PRIVATE_JWK);
  return { log, signer };
}

/** What every subgraph builds from its config before its own parts: the core, database, service trust. */
export async function createServiceBasics<S extends Record<string, unknown>>(name: string, config: SubgraphBaseConfig, schema: S) {
  const { log, signer } = await createServiceCore(name, config);
  configureLoaders({ batching: !config.DATALOADER_DISABLED });
  guardDriverRejections(log);
  const database = createDatabase(config, schema, { applicationName: name, log });
  const verifier = createServiceTokenVerifier(config.TRUSTED_SERVICE_JWKS);
  // Opened on first use only: a service without events holds no Redis connection.
  let bus: EventBus | undefined;
  return {
    log,
    database,
    verifier,
    signer,
    get bus(): EventBus {
      return (bus ??= createEventBus(config, log));
    },
  };
}
