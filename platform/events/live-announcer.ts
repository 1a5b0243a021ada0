import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';

export interface LiveAnnouncer {
  /** Publishes each message on its channel, in order; what Redis refuses is kept and published again. */
  announce(messages: { channel: string; message: string }[]): Promise<void>;
  stats(): { failed: number; waiting: number };
  close(): void;
}

/** Messages kept for a later try at most; beyond, the oldest are dropped and logged (subscribers resume from the stream). */
const MAX_WAITING = 10_000;
const RETRY_BASE_MS = 200;
const RETRY_MAX_MS = 5_000;

/**
 * The live half of an append: after XADD succeeded, a PUBLISH that fails (connection cut between
 * the two, a refusal) would leave subscribers and the gateways' caches without the event. Failed
 * messages wait here, in order (later ones queue behind them, so a subscriber never sees them
 * overtaken), and are published again with backoff until Redis takes them; each message whose first publish failed is
 * counted (`events_live_publish_failures_total`). A process that dies with messages waiting loses only
 * their live announcement: consumers read the stream, and a subscriber that resumes with `after` replays it.
 */
export function createLiveAnnouncer(redis: Redis, log: Logger): LiveAnnouncer {
  const waiting: { channel: string; message: string }[] = [];
  let failed = 0;
  let tries = 0;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const publishAll = async (messages: typeof waiting) => {
    const pipeline = redis.pipeline();
    for (const m of messages) pipeline.publish(m.channel, m.message);
    const results = await pipeline.exec().catch((err: unknown) => messages.map(() => [err as Error, null] as const));
    const firstFailed = (results ?? []).findIndex(([err]) => err);
    return firstFailed < 0 ? messages.length : firstFailed;
  };
  const schedule = () => {
    if (closed || timer || !waiting.length) return;
    const delay = Math.min(RETRY_BASE_MS * 2 ** tries, RETRY_MAX_MS);
    timer = setTimeout(() => {
      timer = undefined;
      void flush();
    }, delay);
    timer.unref();
  };
  const flush = async () => {
    const batch = waiting.slice(0, 500);
    const done = await publishAll(batch);
    waiting.splice(0, done);
    tries = done < batch.length ? tries + 1 : 0;
    if (!waiting.length) log.info('live announcements caught up');
    schedule();
  };
  return {
    async announce(messages) {
      if (!messages.length) return;
      if (waiting.length) {
        // Behind messages still waiting: published after them, never before.
        waiting.push(...messages);
        schedule();
        return;
      }
      const done = await publishAll(messages);
      if (done === messages.length) return;
      waiting.push(...messages.slice(done));
      failed += messages.length - done;
      if (waiting.length > MAX_WAITING) {
        const dropped = waiting.splice(0, waiting.length - MAX_WAITING).length;
        log.error({ dropped }, 'live announcements dropped: too many waiting for Redis (subscribers resume from the stream)');
      }
      log.warn({ waiting: waiting.length }, 'live announcement failed after its append; publishing it again');
      schedule();
    },
    stats: () => ({ failed, waiting: waiting.length }),
    close() {
      closed = true;
      clearTimeout(timer);
    },
  };
}
