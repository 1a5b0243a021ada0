import type { UsageEntry } from '../../gateway/usage/index.js';
import type { SchemaChange } from './schema-changes.js';

export interface UsageFailure {
  /** The breaking change's path (graphql-inspector) and the coordinate a client used. */
  change: string;
  coordinate: string;
  client: string;
  version: string;
  partnerId: string;
  operation: string;
  count: number;
  lastSeen: string;
}

/**
 * Breaking changes against recorded usage: each use, within the window, of a coordinate a breaking
 * change breaks is one failure, naming the client, its version and the operation (most used first).
 */
export function usageBreaks(changes: SchemaChange[], usage: UsageEntry[]): UsageFailure[] {
  const byCoordinate = new Map<string, UsageEntry[]>();
  for (const u of usage) byCoordinate.set(u.coordinate, [...(byCoordinate.get(u.coordinate) ?? []), u]);
  const failures: UsageFailure[] = [];
  for (const change of changes.filter((c) => c.level === 'breaking'))
    for (const coordinate of change.coordinates)
      for (const u of byCoordinate.get(coordinate) ?? [])
        failures.push({
          change: change.path,
          coordinate,
          client: u.client,
          version: u.version,
          partnerId: u.partnerId,
          operation: u.operation,
          count: u.count,
          lastSeen: new Date(u.lastSeen).toISOString(),
        });
  return failures.sort((a, b) => b.count - a.count);
}
