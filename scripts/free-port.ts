import { readFileSync } from 'node:fs';
import net from 'node:net';

/**
 * Where listening ports are picked: below the kernel's ephemeral range. A port the kernel hands
 * out (`listen(0)`) is from that range, which outgoing connections draw their source ports from
 * too, so between picking it and the service listening, a client socket (to Postgres, Redis, …)
 * may take it: EADDRINUSE. Below the range nothing takes a port but a listener.
 */
function pickRange(): [number, number] | null {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (!(low > 12_000)) return null;
    // A slice per process (test workers pick at the same time): two processes rarely share one.
    const slices = 8;
    const size = Math.floor((low - 10_000) / slices);
    const start = 10_000 + (process.pid % slices) * size;
    return [start, start + size - 1];
  } catch {
    return null;
  }
}
const range = pickRange();
/** Ports this process handed out already (a service may not listen on it yet). */
const handedOut = new Set<number>();

function probe(port: number): Promise<number | null> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(null));
    srv.listen(port, '127.0.0.1', () => {
      const { port: bound } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(bound));
    });
  });
}

/** A free loopback port (for services that must know each other's URLs before they listen). */
export async function freePort(): Promise<number> {
  if (range) {
    for (let attempt = 0; attempt < 50; attempt++) {
      const port = range[0] + Math.floor(Math.random() * (range[1] - range[0] + 1));
      if (handedOut.has(port)) continue;
      if ((await probe(port)) !== null) {
        handedOut.add(port);
        return port;
      }
    }
  }
  const port = await probe(0);
  if (port === null) throw new Error('no free loopback port');
  return port;
}
