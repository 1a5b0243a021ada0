import { Supergraph as BuiltSupergraph } from '@apollo/federation-internals';
import { ConfigError } from '../platform/config.js';
import type { GatewayConfig } from '../platform/config.js';
import type { Logger } from '../platform/logger.js';
import { readPolicies } from './authorization/policies.js';
import type { Policy } from './authorization/policies.js';
import { createDeferPlanning } from './incremental/defer-plan.js';
import type { DeferPlanning } from './incremental/defer-plan.js';
import { warnIfLoginFieldMissing } from './limits/login-protection.js';
import { readCostHints } from './limits/operation-cost.js';
import type { CostHints } from './limits/operation-cost.js';
import { unknownRoutingOverrides } from './routing.js';
import { readSubscriptionFields } from './subscriptions/fields.js';
import type { SubscriptionFields } from './subscriptions/fields.js';
import { createSupergraph } from './supergraph.js';
import type { Supergraph } from './supergraph.js';

/** A supergraph and everything the gateway derives from it: built together, swapped together. */
export interface LoadedSupergraph {
  supergraph: Supergraph;
  /** What @apollo/gateway loads: the security features kept as metadata (authorization/policies.ts). */
  gatewaySdl: string;
  /** @authenticated / @requiresScopes by coordinate. */
  policies: Map<string, Policy>;
  /** @cost / @listSize. */
  costHints: CostHints;
  /** Subscription fields declared with @event. */
  subscriptionFields: SubscriptionFields;
  /** @defer planning (and plans for requests finishing on this schema after a swap); the planner is built on first use. */
  planning(): DeferPlanning;
  loadedAt: Date;
}

/**
 * Parses the SDL once and derives every part from it. Throws when any part cannot be derived: the
 * SDL does not parse, federation cannot build it (the same check @apollo/gateway makes, with the
 * same supported features), an `@event` cannot work, or SUBGRAPH_URLS names a subgraph it lacks.
 * At start-up that stops the gateway; on a reload it refuses the new supergraph (supergraph-reload.ts).
 */
export function loadSupergraph(sdl: string, deps: { config: GatewayConfig; log: Logger }): LoadedSupergraph {
  const supergraph = createSupergraph(sdl);
  const unknown = unknownRoutingOverrides(
    deps.config.SUBGRAPH_URLS,
    supergraph.subgraphs.map((s) => s.name),
  );
  if (unknown.length) throw new ConfigError(unknown);
  // @authenticated / @requiresScopes: enforced by the gateway (the stock gateway refuses to load them at all).
  const { byCoordinate: policies, gatewaySdl, gatewayDocument } = readPolicies(supergraph);
  const built = BuiltSupergraph.build(gatewayDocument);
  const subscriptionFields = readSubscriptionFields(supergraph);
  const costHints = readCostHints(supergraph);
  warnIfLoginFieldMissing(supergraph, deps.config, deps.log);
  let planning: DeferPlanning | undefined;
  return {
    supergraph,
    gatewaySdl,
    policies,
    costHints,
    subscriptionFields,
    planning: () => (planning ??= createDeferPlanning(built)),
    loadedAt: new Date(),
  };
}
