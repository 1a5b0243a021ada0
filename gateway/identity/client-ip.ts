import type http from 'node:http';

/** Express's compiled `trust proxy` function: may the hop at this address (i hops from us) be believed? */
export type TrustProxy = (address: string, hop: number) => boolean;

/**
 * `req.ip` for a request Express never sees (the WebSocket upgrade), with the trust function Express
 * compiled from TRUST_PROXY (`app.get('trust proxy fn')`): the socket's peer, then X-Forwarded-For
 * from right to left, stopping at the first address not trusted to have told the truth (the
 * algorithm of `proxy-addr`, which Express uses for req.ip).
 */
export function clientAddress(req: http.IncomingMessage, trust: TrustProxy): string | undefined {
  const forwarded = String(req.headers['x-forwarded-for'] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .reverse();
  const chain = [req.socket.remoteAddress, ...forwarded];
  for (let hop = 0; hop < chain.length - 1; hop++) {
    if (!chain[hop] || !trust(chain[hop]!, hop)) return chain[hop];
  }
  return chain[chain.length - 1];
}
