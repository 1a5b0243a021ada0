import type { ApolloServerPlugin } from '@apollo/server';
import type { GatewayConfig } from '../../platform/config.js';
import { ErrorCode } from '../../platform/errors.js';
import type { Logger } from '../../platform/logger.js';
import type { ClientInfo, GatewayContext } from '../request.js';
import { normalizedOperationId } from './manifest.js';
import type { Manifest, ManifestOperation } from './manifest.js';
import type { RequestedOperation } from './requested-operation.js';

export type SafelistMode = GatewayConfig['SAFELIST_MODES'][string];

export interface Safelist {
  modeFor(client: ClientInfo): SafelistMode;
  allows(client: ClientInfo, id: string): boolean;
  /** Whether a listed body of this client's list is this text, insignificant whitespace and comments aside. */
  allowsText(client: ClientInfo, text: string): boolean;
  /** The body of an operation on this client's own list, by id: knowing another client's id is not knowing its text. */
  body(client: ClientInfo, id: string): string | undefined;
  /** Whether any manifest, first-party or a partner's, lists this id: a name the gateway can trust. */
  listedAnywhere(id: string): boolean;
  /** Whether the client's own manifest exists (partners and named clients are held to it). */
  hasManifest(client: ClientInfo): boolean;
}

/**
 * Who is held to which list: a partner always to its own manifest; a first-party client named in
 * SAFELIST_MODES to its own manifest (none = empty); everyone else, under the `"*"` mode, to the
 * union of the first-party manifests. A partner's manifest (a client named by any API key) is never
 * in that union: its operations run with its key only.
 */
export function createSafelist(
  manifests: ReadonlyMap<string, Manifest>,
  modes: Readonly<Record<string, SafelistMode>>,
  partnerClients: ReadonlySet<string> = new Set(),
): Safelist {
  const firstParty = new Map<string, ManifestOperation>();
  const all = new Map<string, ManifestOperation>();
  for (const m of manifests.values())
    for (const [id, op] of m.operations) {
      all.set(id, op);
      if (!partnerClients.has(m.client)) firstParty.set(id, op);
    }
  const named = (client: ClientInfo) => client.name !== null && Object.hasOwn(modes, client.name);
  const listFor = (client: ClientInfo) =>
    client.partnerId !== null || named(client) ? manifests.get(client.name!)?.operations : firstParty;
  return {
    modeFor: (client) => (client.partnerId !== null ? 'enforce' : named(client) ? modes[client.name!]! : (modes['*'] ?? 'off')),
    allows: (client, id) => listFor(client)?.has(id) ?? false,
    allowsText: (client, text) => textListed(listFor(client), text),
    body: (client, id) => listFor(client)?.get(id)?.body,
    listedAnywhere: (id) => all.has(id),
    hasManifest: (client) => client.name !== null && manifests.has(client.name),
  };
}

function textListed(list: ReadonlyMap<string, ManifestOperation> | undefined, text: string): boolean {
  const id = list?.size ? normalizedOperationId(text) : null;
  return id !== null && normalizedIds(list!).has(id);
}

/** Each list's bodies by normalized id, computed once per list on first freeform use (lists are rebuilt, never changed). */
const normalizedCache = new WeakMap<ReadonlyMap<string, ManifestOperation>, Set<string>>();
function normalizedIds(list: ReadonlyMap<string, ManifestOperation>): Set<string> {
  let ids = normalizedCache.get(list);
  if (!ids) {
    ids = new Set([...list.values()].map((op) => normalizedOperationId(op.body)).filter((id) => id !== null));
    normalizedCache.set(list, ids);
  }
  return ids;
}

/** A safelist that always answers from the newest one `current` returns (the client registry changes live). */
export function createLiveSafelist(current: () => Safelist): Safelist {
  return {
    modeFor: (client) => current().modeFor(client),
    allows: (client, id) => current().allows(client, id),
    allowsText: (client, text) => current().allowsText(client, text),
    listedAnywhere: (id) => current().listedAnywhere(id),
    body: (client, id) => current().body(client, id),
    hasManifest: (client) => current().hasManifest(client),
  };
}

/** Why an operation is refused at the edge: the HTTP status and the one GraphQL error to answer with. */
export interface SafelistRefusal {
  status: number;
  error: { message: string; extensions: Record<string, unknown> };
}

/**
 * The safelist decision for one operation of one client, for HTTP and WebSocket alike: decided
 * before anything is parsed, so an unlisted document costs a hash and nothing more. Status codes
 * follow Apollo Router: an unknown id is 404, unlisted freeform text 403, both
 * `PERSISTED_QUERY_NOT_IN_LIST`. Audit mode logs the operation's name and id (never its variables
 * or any header) and lets it through. A broken APQ request (text that does not match its hash, an
 * unknown version) is 400: PERSISTED_QUERY_HASH_MISMATCH, or BAD_REQUEST.
 */
export type SafelistCheck = (client: ClientInfo, op: RequestedOperation, requestId?: string) => SafelistRefusal | undefined;

export function createSafelistCheck(safelist: Safelist, log: Logger): SafelistCheck {
  return (client, op, requestId) => {
    if (op.protocolError) return { status: 400, error: { message: op.protocolError.message, extensions: { code: op.protocolError.code } } };
    const mode = safelist.modeFor(client);
    if (mode === 'off') return undefined;
    if (op.id !== null && safelist.allows(client, op.id)) return undefined;
    if (op.text !== null && safelist.allowsText(client, op.text)) return undefined;
    const facts = {
      client: client.name,
      clientVersion: client.version,
      partnerId: client.partnerId,
      operationName: op.name,
      operationId: op.id,
      requestId,
    };
    if (mode === 'audit') {
      log.warn(facts, 'operation not in the client safelist (audit only)');
      return undefined;
    }
    log.info(facts, 'operation not in the client safelist: refused');
    return {
      status: op.freeform ? 403 : 404,
      error: {
        message: `This operation is not in the persisted query list of client "${client.name ?? '(unnamed)'}".`,
        extensions: { code: ErrorCode.PERSISTED_QUERY_NOT_IN_LIST, ...(op.name ? { operationName: op.name } : {}) },
      },
    };
  };
}

/**
 * A request that names an operation of its client's own list by id alone gets its text from the
 * manifest, before Apollo's APQ step would look for it in the APQ store. The `persistedQuery`
 * extension is dropped then, so trusted documents never churn the APQ store. A client held to its
 * list (enforce: partners) never writes to the APQ store either: the store is shared by every
 * caller, so a partner's text registered there would let anyone without its key run it by id, even
 * after its version is retired.
 */
export function createTrustedDocumentsPlugin(safelist: Safelist): ApolloServerPlugin<GatewayContext> {
  return {
    async requestDidStart({ request, contextValue }) {
      const hash = (request.extensions?.persistedQuery as { sha256Hash?: unknown } | undefined)?.sha256Hash;
      if (typeof hash !== 'string') return;
      if (request.query === undefined) {
        const body = safelist.body(contextValue.client, hash);
        if (body === undefined) return;
        request.query = body;
      } else if (safelist.modeFor(contextValue.client) !== 'enforce') return;
      const { persistedQuery: _listed, ...rest } = request.extensions!;
      request.extensions = rest;
    },
  };
}
