import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import type { GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { describe, expect, it } from 'vitest';
import type { Identity } from '../../platform/auth/identity.js';
import type { GatewayContext } from '../../gateway/context.js';
import { SUBGRAPH_FETCH_STACK, callerKey, composeFetchStack, fetchFactsOf } from '../../gateway/subgraph-fetch-stack.js';
import type { FetchStep, SubgraphFetch } from '../../gateway/subgraph-fetch-stack.js';

/**
 * The fetch layer works from what the request knows (issue 24): the subgraph fetch stack learns
 * the operation kind from the fetch's document and the caller from the GatewayContext. Nothing
 * under gateway/ may go back to learning them from the request's bytes: the body's text (`{"query":"mutation…`)
 * or the service token the gateway has just signed (decoding it, or reading the header back).
 */

const GATEWAY = path.resolve(import.meta.dirname, '../../gateway');

const FORBIDDEN: { rule: string; pattern: RegExp }[] = [
  { rule: 'operation kind sniffed from a request body', pattern: /\\?"query\\?"\s*:\s*\\?"\s*(mutation|query|subscription)/ },
  { rule: 'operation kind sniffed from text', pattern: /startsWith\(\s*['"`]\s*(mutation|query|subscription)\b/ },
  { rule: 'operation kind sniffed from text', pattern: /\/\^\\s\*\(?(mutation|query|subscription)/ },
  {
    rule: 'service token read back',
    pattern: /\[\s*INTERNAL_TOKEN_HEADER\s*\]|\.get\(\s*INTERNAL_TOKEN_HEADER\s*\)|['"`]x-internal-token['"`]/,
  },
  {
    rule: 'service token decoded or verified',
    pattern: /\b(createServiceTokenVerifier|ServiceTokenVerifier|decodeJwt|decodeProtectedHeader)\b/,
  },
];

const violations = (source: string) => FORBIDDEN.filter(({ pattern }) => pattern.test(source)).map(({ rule }) => rule);

function gatewaySources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) return gatewaySources(file);
    return entry.name.endsWith('.ts') ? [file] : [];
  });
}

describe('no file under gateway/ learns about a fetch from its bytes', () => {
  it('the rules catch the code they forbid (the entity cache and the resilient fetcher before the stack)', () => {
    expect(violations(`const mutation = typeof init?.body === 'string' && init.body.startsWith('{"query":"mutation');`)).not.toEqual([]);
    expect(violations(`if (/^\\s*mutation/.test(body)) return;`)).not.toEqual([]);
    expect(violations(`const token = headers[INTERNAL_TOKEN_HEADER];`)).not.toEqual([]);
    expect(violations(`import { createServiceTokenVerifier } from '../platform/auth/service-token.js';`)).not.toEqual([]);
    expect(violations(`request.http?.headers.set(INTERNAL_TOKEN_HEADER, await this.signer.sign(ctx.identity));`)).toEqual([]);
  });

  it('scans every gateway source file and finds none', () => {
    const files = gatewaySources(GATEWAY);
    expect(files.length).toBeGreaterThan(20);
    const found = files.flatMap((file) => violations(readFileSync(file, 'utf8')).map((rule) => `${path.relative(GATEWAY, file)}: ${rule}`));
    expect(found).toEqual([]);
  });
});

const ADA: Identity = { userId: 'ada', role: 'CUSTOMER', scopes: ['orders:read'] };
const BOB: Identity = { userId: 'bob', role: 'CUSTOMER', scopes: ['orders:read'] };

/** The options @apollo/gateway hands a data source for one fetch of a client operation. */
function incoming(query: string, context: Partial<GatewayContext>, headers: Record<string, string> = {}) {
  return {
    kind: 'incoming operation',
    request: { query, variables: {}, http: { method: 'POST', url: 'http://orders', headers: new Headers(headers) } },
    context,
    incomingRequestContext: { context },
  } as unknown as GraphQLDataSourceProcessOptions<GatewayContext>;
}

describe("a fetch's facts come from the request", () => {
  it('the caller is the identity of the context, whatever token the request carries', () => {
    const forged = { 'x-internal-token': 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJib2IifQ.sig' };
    const ada = fetchFactsOf('orders', incoming('query Q { me { id } }', { identity: ADA, requestId: 'r1' }, forged));
    const bob = fetchFactsOf('orders', incoming('query Q { me { id } }', { identity: BOB, requestId: 'r2' }, forged));
    expect(ada.caller).toBe(callerKey(ADA));
    expect(bob.caller).toBe(callerKey(BOB));
    expect(ada.caller).not.toBe(bob.caller);
    expect(ada.requestId).toBe('r1');
    // A health check or a schema load has no caller: nothing private is kept for it.
    const health = { kind: 'health check', request: { query: '{ __typename }' }, context: {} };
    expect(fetchFactsOf('orders', health as unknown as GraphQLDataSourceProcessOptions<GatewayContext>).caller).toBeNull();
  });

  it("the operation kind is the fetch document's, however its text begins", () => {
    const kind = (query: string) => fetchFactsOf('orders', incoming(query, { identity: ADA })).operation;
    expect(kind('mutation M($id: ID!) { cancelOrder(id: $id) { id } }')).toBe('mutation');
    expect(kind('# placed by the planner\n  mutation { placeOrder { id } }')).toBe('mutation');
    // The `_entities` fetch that follows a mutation's root fetch is a query: retried and cacheable.
    expect(kind('query M__catalog__1($representations: [_Any!]!) { _entities(representations: $representations) { __typename } }')).toBe(
      'query',
    );
    expect(kind('{ mutationLog { id } }')).toBe('query');
  });

  it('the read-your-writes position is the context’s, for this subgraph', () => {
    const consistency = { lsnFor: (subgraph: string) => (subgraph === 'orders' ? '0/16B3748' : undefined) };
    const context = { identity: ADA, consistency } as unknown as Partial<GatewayContext>;
    expect(fetchFactsOf('orders', incoming('{ me { id } }', context)).lsn).toBe('0/16B3748');
    expect(fetchFactsOf('catalog', incoming('{ me { id } }', context)).lsn).toBeUndefined();
  });
});

describe('the declared stack', () => {
  it('runs its steps in the declared order, each handing the fetch on', async () => {
    const seen: string[] = [];
    const step =
      (name: string): FetchStep =>
      (fetch, next) => {
        seen.push(name);
        return next(fetch);
      };
    const send = composeFetchStack(
      {
        metrics: step('metrics'),
        deadline: step('deadline'),
        breaker: step('breaker'),
        retries: step('retries'),
        dedup: step('dedup'),
        'entity-cache': step('entity-cache'),
      },
      async () => {
        seen.push('http');
        return new Response('{}');
      },
    );
    const fetch: SubgraphFetch = {
      subgraph: 'orders',
      operation: 'query',
      caller: null,
      lsn: undefined,
      requestId: undefined,
      url: 'http://x',
      init: {},
    };
    await send(fetch);
    expect(seen).toEqual([...SUBGRAPH_FETCH_STACK]);
  });
});
