import { createHash } from 'node:crypto';
import { Kind, parse } from 'graphql';
import type { DocumentNode, EnumTypeDefinitionNode } from 'graphql';

/** One subgraph as the supergraph names it (`@join__graph(name:, url:)` on a `join__Graph` value). */
export interface SupergraphSubgraph {
  /** The `join__Graph` enum value (`CATALOG`), as `@join__field(graph:)` / `@join__type(graph:)` refer to it. */
  graph: string;
  name: string;
  url: string | undefined;
}

/**
 * One loaded supergraph, parsed once. Everything the gateway derives from the schema (authorization
 * policies, costs, `@event` subscription fields, login protection, routing, `@defer` planning) reads
 * this object, never the SDL text: so a reload parses the new schema exactly once, and every part
 * follows the same swap.
 */
export interface Supergraph {
  readonly sdl: string;
  readonly document: DocumentNode;
  /** sha256 (hex) of the SDL text: what `/health/ready` names, and `sha256sum supergraph.graphql` prints. */
  readonly hash: string;
  readonly subgraphs: readonly SupergraphSubgraph[];
}

let parses = 0;

/** How many supergraphs this process has parsed (one per load: checked by test/fast/supergraph.test.ts). */
export const supergraphParses = (): number => parses;

export const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** Parses a supergraph SDL; throws on a syntax error (a reload then refuses it). */
export function createSupergraph(sdl: string): Supergraph {
  parses += 1;
  const document = parse(sdl);
  return Object.freeze({ sdl, document, hash: sha256(sdl), subgraphs: Object.freeze(subgraphsOf(document)) });
}

function subgraphsOf(document: DocumentNode): SupergraphSubgraph[] {
  const graphEnum = document.definitions.find(
    (d): d is EnumTypeDefinitionNode => d.kind === Kind.ENUM_TYPE_DEFINITION && d.name.value === 'join__Graph',
  );
  return (graphEnum?.values ?? []).flatMap((value) => {
    const args = value.directives?.find((d) => d.name.value === 'join__graph')?.arguments ?? [];
    const stringArg = (name: string) => {
      const arg = args.find((a) => a.name.value === name)?.value;
      return arg?.kind === Kind.STRING ? arg.value : undefined;
    };
    const name = stringArg('name');
    return name ? [{ graph: value.name.value, name, url: stringArg('url') }] : [];
  });
}
