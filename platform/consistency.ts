import type { ApolloServerPlugin } from '@apollo/server';
import { OperationTypeNode } from 'graphql';
import type { Database } from './db.js';

type LsnSource = Pick<Database<Record<string, unknown>>, 'commitLsn'>;
import { CONSISTENCY_LSN_HEADER, READ_SOURCE_HEADER, formatLsnList, mergeLsn, parseLsn, parseLsnList } from './lsn.js';
import { requestScope } from './request-scope.js';

/**
 * Read-your-writes, the subgraph's half. A mutation's response reports where the primary's WAL
 * stands after its commits (`x-consistency-lsn: orders:0/16B3748`, plus what services it called
 * wrote); the gateway folds those into the client's consistency token and, on later requests,
 * hands each subgraph its own position back in the same header. The request then reads from a
 * replica only if that replica has replayed it (see Database.pickReader), else from the primary.
 *
 * The header is only believed on /graphql and /internal, which answer nothing without a valid
 * service token: a client can never set it directly (the gateway forwards none of its headers).
 */

/** The position this subgraph must have replayed for this request, if the caller sent a sane one. */
export function requestedLsn(header: string | undefined): bigint | undefined {
  return parseLsn(header);
}

/** An internal call wrote elsewhere during this request: report that position with our own. */
export function noteWrites(header: string | null): void {
  const scope = requestScope.getStore();
  if (!scope || !header) return;
  const written = (scope.writtenLsns ??= new Map<string, bigint>());
  for (const [name, lsn] of parseLsnList(header)) mergeLsn(written, name, lsn);
}

/** `<name>:<lsn>` for a response after writes, with what was noted during the request; undefined without replicas. */
export async function writesReport(name: string, database: LsnSource): Promise<string | undefined> {
  const own = await database.commitLsn().catch(() => undefined);
  const entries = new Map(requestScope.getStore()?.writtenLsns ?? []);
  const lsn = parseLsn(own);
  if (lsn !== undefined) mergeLsn(entries, name, lsn);
  return entries.size ? formatLsnList(entries) : undefined;
}

/**
 * Mutations (and only they) report their writes' position; a query never wrote anything. A query
 * says instead whether a replica served any of its reads (READ_SOURCE_HEADER), for the gateway's caches.
 */
export function consistencyPlugin<C extends { db: { readonly readFromReplica: boolean } }>(
  name: string,
  database: LsnSource,
): ApolloServerPlugin<C> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ operation, response, contextValue }) {
          if (operation?.operation === OperationTypeNode.QUERY)
            response.http.headers.set(READ_SOURCE_HEADER, contextValue.db.readFromReplica ? 'replica' : 'primary');
          if (operation?.operation !== OperationTypeNode.MUTATION) return;
          const report = await writesReport(name, database);
          if (report) response.http.headers.set(CONSISTENCY_LSN_HEADER, report);
        },
      };
    },
  };
}
