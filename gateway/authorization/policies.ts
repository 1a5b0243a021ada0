import { Kind, print, visit } from 'graphql';
import type { ConstDirectiveNode, ConstValueNode, DirectiveNode, DocumentNode } from 'graphql';
import type { Supergraph } from '../supergraph.js';

/**
 * Who may see a field or type, as the subgraphs declared it with federation's `@authenticated`
 * and `@requiresScopes(scopes: [[…]])` (OR of AND-groups, as Apollo Router reads them).
 */
export interface Policy {
  authenticated: boolean;
  /** Any one inner list, all of whose scopes the caller holds, satisfies the policy. */
  scopes: string[][] | null;
}

export interface SupergraphPolicies {
  /** "Type" or "Type.field" -> policy. */
  byCoordinate: Map<string, Policy>;
  /** The supergraph for @apollo/gateway: the security features kept, but no longer marked for: SECURITY. */
  gatewaySdl: string;
  /** The same, as a document (what the query planner is built from, without parsing the text again). */
  gatewayDocument: DocumentNode;
}

const FEATURES = {
  authenticated: 'https://specs.apollo.dev/authenticated/',
  requiresScopes: 'https://specs.apollo.dev/requiresScopes/',
};

/**
 * Reads the policies out of the composed supergraph and prepares it for @apollo/gateway, which
 * refuses any `for: SECURITY` feature it does not implement itself. The gateway then loads the
 * supergraph with these features as plain metadata, and authorize-operation.ts enforces them.
 */
export function readPolicies(supergraph: Supergraph): SupergraphPolicies {
  const doc = supergraph.document;
  // The names the supergraph uses for the two directives (they may be renamed by @link's `as`).
  const names = { authenticated: 'authenticated', requiresScopes: 'requiresScopes' };
  const stripped = visit(doc, {
    Directive(node) {
      if (node.name.value !== 'link') return undefined;
      const url = stringArg(node, 'url');
      const feature = (Object.keys(FEATURES) as (keyof typeof FEATURES)[]).find((f) => url?.startsWith(FEATURES[f]));
      if (!feature) return undefined;
      const as = stringArg(node, 'as');
      if (as) names[feature] = as;
      return { ...node, arguments: node.arguments?.filter((a) => a.name.value !== 'for') };
    },
  });

  const byCoordinate = new Map<string, Policy>();
  const policyOf = (directives: readonly ConstDirectiveNode[] | undefined): Policy | null => {
    const authenticated = directives?.some((d) => d.name.value === names.authenticated) ?? false;
    const scoped = directives?.find((d) => d.name.value === names.requiresScopes);
    if (!authenticated && !scoped) return null;
    const arg = scoped?.arguments?.find((a) => a.name.value === 'scopes')?.value;
    return { authenticated: true, scopes: scoped ? (arg ? scopesOf(arg) : []) : null };
  };
  for (const def of doc.definitions) {
    if (def.kind !== Kind.OBJECT_TYPE_DEFINITION && def.kind !== Kind.INTERFACE_TYPE_DEFINITION) continue;
    const typePolicy = policyOf(def.directives);
    if (typePolicy) byCoordinate.set(def.name.value, typePolicy);
    for (const field of def.fields ?? []) {
      const fieldPolicy = policyOf(field.directives);
      if (fieldPolicy) byCoordinate.set(`${def.name.value}.${field.name.value}`, fieldPolicy);
    }
  }
  return { byCoordinate, gatewaySdl: print(stripped), gatewayDocument: stripped };
}

function stringArg(node: DirectiveNode, name: string): string | undefined {
  const value = node.arguments?.find((a) => a.name.value === name)?.value;
  return value?.kind === Kind.STRING ? value.value : undefined;
}

function scopesOf(value: ConstValueNode): string[][] {
  if (value.kind !== Kind.LIST) return [];
  return value.values.map((inner) =>
    inner.kind === Kind.LIST ? inner.values.flatMap((v) => (v.kind === Kind.STRING ? [v.value] : [])) : [],
  );
}

/** Whether a caller with these facts satisfies a policy. */
export function allows(policy: Policy, caller: { authenticated: boolean; scopes: ReadonlySet<string> }): boolean {
  if (policy.authenticated && !caller.authenticated) return false;
  if (!policy.scopes) return true;
  return policy.scopes.some((group) => group.every((s) => caller.scopes.has(s)));
}
