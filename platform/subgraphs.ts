/**
 * The one registry of this project's subgraphs: databases, migrations, config schemas, local
 * start-up and deployment files all derive from it. The gateway never reads it (it learns the
 * subgraphs of whatever supergraph it serves from the supergraph itself).
 */
export const SUBGRAPHS = ['users', 'catalog', 'orders', 'billing'] as const;
export type Subgraph = (typeof SUBGRAPHS)[number];

/** Every service, in start-up order: the subgraphs, then the gateway in front of them. */
export const SERVICES = [...SUBGRAPHS, 'gateway'] as const;
export type ServiceName = (typeof SERVICES)[number];
