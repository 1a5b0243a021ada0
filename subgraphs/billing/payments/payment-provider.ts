/**
 * The seam where a real card processor plugs in. Billing only ever talks to this interface; the
 * built-in implementation (test-mode.ts) behaves like a processor's test mode.
 *
 * Card tokens are single-use references the client got from the processor: they go to the
 * provider and nowhere else (never stored, never logged).
 */
export interface ChargeRequest {
  amountCents: number;
  currency: string;
  cardToken: string;
  /** Stable across retries of the same request, so the processor never charges twice. */
  idempotencyKey: string;
}

export type ChargeResult =
  | { status: 'succeeded'; reference: string; method: string }
  | { status: 'declined'; reason: string; method: string };

export interface RefundRequest {
  /** The reference of the charge being refunded. */
  reference: string;
  amountCents: number;
  currency: string;
}

export interface PaymentProvider {
  /**
   * Rejects a token the provider cannot use, with BAD_USER_INPUT, before billing writes anything
   * (so a typo does not burn an idempotency key or leave a payment row behind).
   */
  assertCardToken(cardToken: string): void;
  /** Charges a card; a decline is a normal result, not an exception. */
  charge(request: ChargeRequest): Promise<ChargeResult>;
  /** Refunds a charge in full or in part; throws if the processor refuses. */
  refund(request: RefundRequest): Promise<{ reference: string }>;
}
