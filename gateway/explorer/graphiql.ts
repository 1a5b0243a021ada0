import { gzipSync } from 'node:zlib';
import type express from 'express';

/**
 * GraphiQL on GET /graphql for a browser, from the `@graphql-yoga/render-graphiql` npm package: one
 * self-contained page (GraphiQL 5, its editor and workers inlined), so it works offline, unlike
 * Apollo Sandbox, which loads from a CDN. Headers editor (Authorization) and docs explorer
 * included; subscriptions over graphql-ws on the same path. A GraphQL GET (`?query=`) or any
 * non-HTML request goes on to Apollo. Rendered once, on first use (~9 MB, ~2 MB gzipped).
 */
/** `defaultQuery`: the starting tab (GRAPHIQL_DEFAULT_QUERY): the gateway itself knows no operation of any graph. */
export function createGraphiQL(defaultQuery: string): express.RequestHandler {
  let page: Promise<{ html: Buffer; gzip: Buffer }> | undefined;
  const render = async () => {
    const { renderGraphiQL } = await import('@graphql-yoga/render-graphiql');
    const html = Buffer.from(
      renderGraphiQL({
        title: 'Supergraph GraphiQL',
        endpoint: '/graphql',
        defaultQuery,
        headers: '{}',
        isHeadersEditorEnabled: true,
        shouldPersistHeaders: false,
        subscriptionsProtocol: 'WS',
        // Apollo's CSRF prevention lets a JSON POST through; GraphiQL sends nothing else.
        method: 'POST',
      }),
    );
    return { html, gzip: gzipSync(html) };
  };

  return (req, res, next) => {
    if (req.method !== 'GET' || 'query' in req.query || 'extensions' in req.query) {
      next();
      return;
    }
    // A browser navigating here asks for HTML first; clients asking for JSON go to Apollo.
    if (req.accepts(['application/json', 'application/graphql-response+json', 'text/html']) !== 'text/html') {
      next();
      return;
    }
    page ??= render();
    page.then(({ html, gzip }) => {
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.setHeader('cache-control', 'no-cache');
      res.vary('accept-encoding');
      if (req.acceptsEncodings('gzip') === 'gzip') {
        res.setHeader('content-encoding', 'gzip');
        res.end(gzip);
      } else {
        res.end(html);
      }
    }, next);
  };
}
