import type { ChargeResult, PaymentProvider } from './payment-provider.js';
import { assertTestCardToken } from './test-mode.js';

/**
 * A provider reached over HTTP with Stripe-shaped calls (`Idempotency-Key` header on every POST):
 * test mode served by another process (test-mode-server.ts). A real processor's adapter has the
 * same shape; only the card check here is test mode's.
 */
export function createHttpProvider(baseUrl: string, timeoutMs = 10_000): PaymentProvider {
  async function post<T>(path: string, key: string, body: unknown): Promise<T> {
    const res = await fetch(new URL(path, baseUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) throw new Error(`payment provider ${path} answered ${res.status}`);
    return (await res.json()) as T;
  }
  return {
    assertCardToken: assertTestCardToken,
    charge: ({ idempotencyKey, ...body }) => post<ChargeResult>('/v1/charges', idempotencyKey, body),
    resolveCharge: (idempotencyKey) => post<ChargeResult>('/v1/charges/resolve', idempotencyKey, {}),
    refund: ({ idempotencyKey, ...body }) => post<{ reference: string }>('/v1/refunds', idempotencyKey, body),
  };
}
