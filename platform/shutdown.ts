import type { Redis } from 'ioredis';

/**
 * How long a shutdown waits for one dependency (a Redis QUIT, the relay's last append) before it
 * lets go: a hung Redis (frozen, a dead host without RST) answers nothing, and a process that never
 * exits waits for the orchestrator's SIGKILL with nothing logged. What is cut here is safe to cut:
 * an outbox row whose append was cut stays unpublished and is relayed again.
 */
export const SHUTDOWN_STEP_MS = 2_000;

/** True when `work` settled within `ms`, false when it was left behind (never rejects). */
export async function settledWithin(work: Promise<unknown> | undefined | null, ms: number): Promise<boolean> {
  if (!work) return true;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([
      work.then(
        () => true,
        () => true,
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** QUIT (the replies still due first, then a clean close), or just the socket closed when Redis does not answer in time. */
export async function closeRedis(client: Redis, ms = SHUTDOWN_STEP_MS): Promise<void> {
  await settledWithin(client.quit(), ms);
  client.disconnect();
}
