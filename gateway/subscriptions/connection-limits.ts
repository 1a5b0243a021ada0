import type http from 'node:http';

export interface ConnectionCaps {
  /** Open WebSocket connections on this gateway, in all. */
  maxTotal: number;
  /** Open WebSocket connections per client address. */
  maxPerIp: number;
}

/** graphql-ws leaves 4400–4499 to protocol errors of its own; this one is ours (no graphql-ws client treats it as fatal). */
export const IDLE_CLOSE_CODE = 4410;

/**
 * Caps on open WebSocket connections, checked at the upgrade, before the handshake completes:
 * every socket is a file descriptor and a few kilobytes, and a flood of idle ones from one host
 * once left no descriptor for HTTP requests. A refused upgrade is answered 429 (this address
 * has too many) or 503 (this gateway is full, try another) and its socket closed at once.
 *
 * A connection is counted from the accepted upgrade until its TCP socket closes, whatever ends it
 * (client, idle timeout, shutdown, a failed handshake), so the counts cannot drift.
 */
export function createConnectionLimits(caps: ConnectionCaps, clientIp: (req: http.IncomingMessage) => string | undefined) {
  const perIp = new Map<string, number>();
  let total = 0;

  const release = (ip: string) => {
    total -= 1;
    const left = (perIp.get(ip) ?? 1) - 1;
    if (left <= 0) perIp.delete(ip);
    else perIp.set(ip, left);
  };

  /** For `new WebSocketServer({ verifyClient })` (its callback form; answered synchronously). */
  const verifyClient = (info: { req: http.IncomingMessage }, done: (ok: boolean, status?: number, message?: string) => void) => {
    const ip = clientIp(info.req) ?? info.req.socket.remoteAddress ?? 'unknown';
    if (total >= caps.maxTotal) {
      done(false, 503, 'Too many WebSocket connections on this gateway');
      return;
    }
    if ((perIp.get(ip) ?? 0) >= caps.maxPerIp) {
      done(false, 429, 'Too many WebSocket connections from this address');
      return;
    }
    total += 1;
    perIp.set(ip, (perIp.get(ip) ?? 0) + 1);
    info.req.socket.once('close', () => release(ip));
    done(true);
  };

  return { verifyClient, open: () => total, openFrom: (ip: string) => perIp.get(ip) ?? 0 };
}
