import { randomUUID } from 'node:crypto';
import type { ApiClient } from './stack.js';

/**
 * What a client does on a loaded machine: retries a failed call with backoff, for up to two
 * minutes. (Five immediate attempts were not enough at load 20: the reservation call's deadline
 * answers SERVICE_UNAVAILABLE, a retryable code, several times in a row.)
 */
export async function retried<T>(what: string, attempt: () => Promise<{ done: T } | { errors: unknown }>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 100; ; delay = Math.min(delay * 2, 2_000)) {
    const outcome = await attempt();
    if ('done' in outcome) return outcome.done;
    if (Date.now() > deadline) throw new Error(`${what} failed for ${timeoutMs} ms: ${JSON.stringify(outcome.errors)}`);
    await new Promise((r) => setTimeout(r, delay));
  }
}

/** One order of one unit, retried with the same idempotency key until placed: still one order. */
export function placeOrderRetried(api: Pick<ApiClient, 'gql'>, token: string, productId: string, keyPrefix = 'order'): Promise<string> {
  const idempotencyKey = `${keyPrefix}-${randomUUID()}`;
  return retried<string>('placeOrder', async () => {
    const res = await api.gql(
      `mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { id } }`,
      { input: { items: [{ productId, quantity: 1 }], idempotencyKey } },
      { token },
    );
    return res.data?.placeOrder ? { done: res.data.placeOrder.id as string } : { errors: res.errors };
  });
}
