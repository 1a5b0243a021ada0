/**
 * The seam where a real card processor plugs in. Billing only ever talks to this interface; the
 * built-in implementation (test-mode.ts) behaves like a processor's test mode, embedded or served
 * over HTTP (test-mode-server.ts, reached through http-provider.ts).
 *
 * Card tokens are single-use references the client got from the processor: they go to the
 * provider and nowhere else (never stored, never logged).
 */
export interface ChargeRequest {
  amountCents: number;
  currency: string;
  cardToken: string;
  /**
   * Stable across retries of the same payment (billing derives it from the payment's client key),
   * so the processor never charges twice: a repeated key gets the first outcome back.
   */
  idempotencyKey: string;
}

export type ChargeResult = (
  { status: 'succeeded'; reference: string; method: string } | { status: 'declined'; reason: string; method: string }
) & {
  /** True when the processor answered a repeated key with its first outcome (Stripe's Idempotent-Replayed). */
  replayed?: boolean;
};

export interface RefundRequest {
  /** The reference of the charge being refunded. */
  reference: string;
  amountCents: number;
  currency: string;
  /** Stable per refund (billing uses the payment id): a retried refund returns money once. */
  idempotencyKey: string;
}

export interface PaymentProvider {
  /**
   * Rejects a token the provider cannot use, with BAD_USER_INPUT, before billing writes anything
   * (so a typo does not burn an idempotency key or leave a payment row behind).
   */
  assertCardToken(cardToken: string): void;
  /** Charges a card; a decline is a normal result, not an exception. */
  charge(request: ChargeRequest): Promise<ChargeResult>;
  /**
   * The outcome of the charge made under `idempotencyKey`, for the reconciler (which has no card
   * token). When no charge was made, the key is closed first, so a late charge with it is declined
   * ("abandoned") and can never contradict the answer (as cancelling an unconfirmed Stripe
   * PaymentIntent makes a later confirm fail).
   */
  resolveCharge(idempotencyKey: string): Promise<ChargeResult>;
  /** Refunds a charge in full or in part; throws if the processor refuses. */
  refund(request: RefundRequest): Promise<{ reference: string }>;
}
