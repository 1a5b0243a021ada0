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
  let seen = opts.initialHash;
  let reading = false;
  let failing = false;
  const check = async () => {
    if (reading) return;
    reading = true;
    try {
      const text = await readFile(opts.file, 'utf8');
      failing = false;
      const hash = sha256(text);
      if (hash === seen) return;
      seen = hash;
      opts.offer(text, `file ${opts.file}`);
    } catch (err) {
      // Said once per outage, not every interval.
      if (!failing) opts.log.warn({ err, file: opts.file }, 'supergraph file unreadable; the loaded supergraph keeps serving');
      failing = true;
    } finally {
      reading = false;
    }
  };
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
  let seen: string | undefined;
  let failing = false;
  let polling = false;
  const poll = async () => {
    if (polling) return;
    polling = true;
    try {
      const res = await fetch(opts.url, {
        headers: etag ? { 'if-none-match': etag } : {},
        signal: AbortSignal.timeout(Math.max(opts.intervalMs, 5_000)),
      });
      if (res.status !== 304 && !res.ok) throw new Error(`HTTP ${res.status}`);
      failing = false;
      if (res.status === 304) return;
      const text = await res.text();
      etag = res.headers.get('etag') ?? undefined;
      const hash = sha256(text);
      if (hash === seen) return;
      seen = hash;
      opts.offer(text, `url ${opts.url}`);
    } catch (err) {
      if (!failing) opts.log.warn({ err, url: opts.url }, 'supergraph URL unreachable; the loaded supergraph keeps serving');
      failing = true;
    } finally {
      polling = false;
    }
  };
  void poll();
  const timer = setInterval(() => void poll(), opts.intervalMs).unref();
  return { close: () => clearInterval(timer) };
}
