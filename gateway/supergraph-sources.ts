import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../platform/logger.js';
import { sha256 } from './supergraph.js';

/** Hands a new SDL text to the supergraph state (supergraph-reload.ts), naming where it came from. */
export type OfferSupergraph = (sdl: string, source: string) => unknown;

/** A watch event is followed by a short pause: a writer may still be writing, and one swap fires several events. */
const SETTLE_MS = 50;

/**
 * One read of a source at a time: a text whose hash differs from the last one seen is offered; a
 * failing read is logged once per outage (the loaded supergraph keeps serving). `read` resolves
 * null when the source says it is unchanged (a 304).
 */
function createSourceCheck(opts: {
  read: () => Promise<string | null>;
  source: string;
  initialHash: string | undefined;
  offer: OfferSupergraph;
  warn: (err: unknown) => void;
}): () => Promise<void> {
  let seen = opts.initialHash;
  let reading = false;
  let failing = false;
  return async () => {
    if (reading) return;
    reading = true;
    try {
      const text = await opts.read();
      failing = false;
      if (text === null) return;
      const hash = sha256(text);
      if (hash === seen) return;
      seen = hash;
      opts.offer(text, opts.source);
    } catch (err) {
      if (!failing) opts.warn(err);
      failing = true;
    } finally {
      reading = false;
    }
  };
}

/**
 * Follows the supergraph file. A Kubernetes ConfigMap volume replaces the file in place through a
 * symlink swap (`..data` pointing at a new folder), which a watch on the file itself misses (it
 * watches the old inode): so the folder is watched, for speed, and the file is read again every
 * `intervalMs` regardless, because watches are lost on some filesystems (NFS, overlay, editors'
 * rename-on-save). Only a change of the text (its hash) is offered; a file missing for a moment
 * (mid-swap) is read again next time.
 */
export function followSupergraphFile(opts: {
  file: string;
  initialHash: string;
  intervalMs: number;
  offer: OfferSupergraph;
  log: Logger;
}): { close(): void } {
  const check = createSourceCheck({
    read: () => readFile(opts.file, 'utf8'),
    source: `file ${opts.file}`,
    initialHash: opts.initialHash,
    offer: opts.offer,
    warn: (err) => opts.log.warn({ err, file: opts.file }, 'supergraph file unreadable; the loaded supergraph keeps serving'),
  });
  let settle: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(path.dirname(opts.file), { persistent: false }, () => {
      clearTimeout(settle);
      settle = setTimeout(() => void check(), SETTLE_MS);
    });
    watcher.on('error', () => watcher?.close());
  } catch {
    // No watch on this filesystem: the interval alone follows the file.
  }
  const timer = setInterval(() => void check(), opts.intervalMs).unref();
  return {
    close() {
      clearInterval(timer);
      clearTimeout(settle);
      watcher?.close();
    },
  };
}

/**
 * Polls a URL serving the supergraph SDL, with `If-None-Match`: an unchanged supergraph costs a
 * 304. A failing URL is logged once per outage and changes nothing (the loaded supergraph serves).
 */
export function followSupergraphUrl(opts: { url: string; intervalMs: number; offer: OfferSupergraph; log: Logger }): { close(): void } {
  let etag: string | undefined;
  const poll = createSourceCheck({
    read: async () => {
      const res = await fetch(opts.url, {
        headers: etag ? { 'if-none-match': etag } : {},
        signal: AbortSignal.timeout(Math.max(opts.intervalMs, 5_000)),
      });
      if (res.status === 304) return null;
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const text = await res.text();
      etag = res.headers.get('etag') ?? undefined;
      return text;
    },
    source: `url ${opts.url}`,
    initialHash: undefined,
    offer: opts.offer,
    warn: (err) => opts.log.warn({ err, url: opts.url }, 'supergraph URL unreachable; the loaded supergraph keeps serving'),
  });
  void poll();
  const timer = setInterval(() => void poll(), opts.intervalMs).unref();
  return { close: () => clearInterval(timer) };
}
