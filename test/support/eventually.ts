import { inspect } from 'node:util';

/** Polls until check returns a value that is not undefined, or fails after the deadline. */
export async function eventually<T>(check: () => Promise<T | undefined>, { timeoutMs = 10_000, intervalMs = 50 } = {}): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`condition not met within ${timeoutMs} ms${last ? `: ${last instanceof Error ? String(last) : inspect(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
