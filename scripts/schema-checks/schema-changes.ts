import { CriticalityLevel, diff } from '@graphql-inspector/core';
import type { GraphQLSchema } from 'graphql';

export type ChangeLevel = 'breaking' | 'dangerous' | 'safe';

export interface SchemaChange {
  /** graphql-inspector's change type, e.g. FIELD_REMOVED. */
  type: string;
  level: ChangeLevel;
  message: string;
  /** graphql-inspector's dotted path: `Type`, `Type.field`, `Type.field.arg`, `Enum.VALUE`. */
  path: string;
  /**
   * The schema coordinates whose users this change breaks, spelt as usage records them
   * (gateway/usage/coordinates.ts). An addition (a required argument or input field) breaks the
   * users of what it was added to; a changed argument type, the field's users too.
   */
  coordinates: string[];
}

const LEVELS: Record<CriticalityLevel, ChangeLevel> = {
  [CriticalityLevel.Breaking]: 'breaking',
  [CriticalityLevel.Dangerous]: 'dangerous',
  [CriticalityLevel.NonBreaking]: 'safe',
};

/** A change's coordinates from its inspector path (see SchemaChange.coordinates). */
export function coordinatesOfChange(type: string, changePath: string | undefined): string[] {
  if (!changePath) return [];
  const [typeName, field, arg] = changePath.split('.');
  if (!field) return [typeName!];
  const fieldCoordinate = `${typeName}.${field}`;
  if (arg === undefined) return type.endsWith('_ADDED') ? [typeName!] : [fieldCoordinate];
  const argCoordinate = `${fieldCoordinate}(${arg}:)`;
  if (type.endsWith('_ADDED')) return [fieldCoordinate];
  return type === 'FIELD_ARGUMENT_REMOVED' ? [argCoordinate] : [argCoordinate, fieldCoordinate];
}

/** Every change between two API schemas, classified by @graphql-inspector/core (its rules, not ours). */
export async function classifyChanges(current: GraphQLSchema, proposed: GraphQLSchema): Promise<SchemaChange[]> {
  const changes = await diff(current, proposed);
  return changes.map((c) => ({
    type: String(c.type),
    level: LEVELS[c.criticality.level],
    message: c.message,
    path: c.path ?? '',
    coordinates: c.criticality.level === CriticalityLevel.Breaking ? coordinatesOfChange(String(c.type), c.path) : [],
  }));
}
