import { GraphQLError, Kind, visit } from 'graphql';
import type { DocumentNode } from 'graphql';
import type { ApolloServerPlugin } from '@apollo/server';
import { badInput } from './errors.js';

/**
 * Rules every GraphQL request must meet before anything executes, in one place for every service
 * (the gateway, each subgraph, and operations sent over the gateway's WebSocket).
 *
 * - No NUL character in any string, literal or variable, at any depth. Postgres refuses U+0000 in
 *   `text` (`invalid byte sequence`), so without this rule a NUL in any argument that reaches SQL
 *   is a driver error, masked as INTERNAL_SERVER_ERROR; no field of this API has a use for one.
 * - The request names one operation of its document. Apollo Server leaves that check to the
 *   executor, and @apollo/gateway's executor throws an uncoded error that is masked as
 *   INTERNAL_SERVER_ERROR; answered here as Apollo Server answers it without a gateway (400
 *   OPERATION_RESOLUTION_FAILURE).
 */

const NUL = '\u0000';

/** The path of the first string holding NUL inside a variable value, or null. */
function nulPath(value: unknown, at: string): string | null {
  if (typeof value === 'string') return value.includes(NUL) ? at : null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = nulPath(value[i], `${at}.${i}`);
      if (found) return found;
    }
    return null;
  }
  if (value && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      const found = nulPath(inner, `${at}.${key}`);
      if (found) return found;
    }
  }
  return null;
}

/**
 * Documents already walked. Apollo hands every request of one operation the same parsed document
 * (its document store), so a persisted or repeated operation is walked once, not on every request.
 */
const nulLiterals = new WeakMap<DocumentNode, boolean>();

function hasNulLiteral(document: DocumentNode): boolean {
  let found = nulLiterals.get(document);
  if (found === undefined) {
    // An object, so the flag set inside the visitor is not narrowed to its initial `false`.
    const seen = { literal: false };
    visit(document, {
      [Kind.STRING](node) {
        if (node.value.includes(NUL)) seen.literal = true;
      },
    });
    found = seen.literal;
    nulLiterals.set(document, found);
  }
  return found;
}

/** BAD_USER_INPUT when a string literal of the document or any variable holds NUL. */
export function nulCharacterError(document: DocumentNode, variables: Record<string, unknown> | undefined): GraphQLError | undefined {
  if (hasNulLiteral(document)) return badInput('String arguments must not contain the NUL character (U+0000).');
  for (const [name, value] of Object.entries(variables ?? {})) {
    const found = nulPath(value, name);
    if (found) return badInput(`Variable $${found} must not contain the NUL character (U+0000).`, { variable: found.split('.')[0] });
  }
  return undefined;
}

const operationResolutionError = (operationName: string | null | undefined) =>
  new GraphQLError(
    operationName ? `Unknown operation named "${operationName}".` : 'Must provide operation name if query contains multiple operations.',
    {
      extensions: { code: 'OPERATION_RESOLUTION_FAILURE', http: { status: 400 } },
    },
  );

/**
 * The rules above as an Apollo Server plugin. Register it first: its refusal then wins over any
 * other plugin's reading of the operation.
 */
export function inputRulesPlugin<C extends object>(): ApolloServerPlugin<C> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ document, operation, request }) {
          if (!operation) throw operationResolutionError(request.operationName);
          const nul = nulCharacterError(document, request.variables);
          if (nul) {
            nul.extensions.http = { status: 400 };
            throw nul;
          }
        },
      };
    },
  };
}
