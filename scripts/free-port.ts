import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

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

/**
 * Ports handed out by every process on this machine: a file per port holding the pid that took it.
 * A port is picked up front and listened on seconds later (a tsx service starting), and in that
 * window another test process, probing the same port, found it free too: two services on one
 * port, one dead with EADDRINUSE (seen in a CI run). A port whose file names a live process is
 * skipped; a dead process's file is taken over; this process's files go when it exits.
 */
const RESERVATIONS = path.join(os.tmpdir(), 'supergraph-ports');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function reserve(port: number): boolean {
  const file = path.join(RESERVATIONS, String(port));
  try {
    mkdirSync(RESERVATIONS, { recursive: true });
    const fd = openSync(file, 'wx');
    writeSync(fd, String(process.pid));
    closeSync(fd);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return true; // no shared folder: this process's own set still holds
  }
  // Empty: another process is writing its pid right now.
  const owner = Number(readFileSync(file, 'utf8').trim());
  if (!owner || (owner !== process.pid && alive(owner))) return false;
  writeFileSync(file, String(process.pid));
  return true;
}

process.once('exit', () => {
  for (const port of handedOut) {
    try {
      unlinkSync(path.join(RESERVATIONS, String(port)));
    } catch {
      // another process took it over, or it is gone already
    }
  }
});

/** A free loopback port (for services that must know each other's URLs before they listen). */
export async function freePort(): Promise<number> {
  if (range) {
    for (let attempt = 0; attempt < 50; attempt++) {
      const port = range[0] + Math.floor(Math.random() * (range[1] - range[0] + 1));
      if (handedOut.has(port)) continue;
      if ((await probe(port)) !== null && reserve(port)) {
        handedOut.add(port);
        return port;
      }
    }
  }
  const port = await probe(0);
  if (port === null) throw new Error('no free loopback port');
  return port;
}
