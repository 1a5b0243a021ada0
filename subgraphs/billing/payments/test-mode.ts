import { randomUUID } from 'node:crypto';
import { badInput } from '../../../platform/errors.js';
import type { ChargeRequest, ChargeResult, PaymentProvider, RefundRequest } from './payment-provider.js';

/** The test cards the contract names, and what each does. */
const TEST_CARDS: Record<string, ChargeResult> = {
  tok_visa: { status: 'succeeded', reference: '', method: 'Visa •••• 4242' },
  tok_chargeDeclined: { status: 'declined', reason: 'card_declined', method: 'Visa •••• 0002' },
};

const CHARGE_PREFIX = 'ch_test_';
/** Keys remembered (oldest forgotten first): bounds the memory of a long-running demo. */
const MAX_KEYS = 100_000;
/** What a key closed by resolveCharge answers from then on. */
const ABANDONED: ChargeResult = { status: 'declined', reason: 'abandoned', method: 'unknown' };

export function assertTestCardToken(cardToken: string): void {
  // The message does not echo the token: it is a secret of the customer's.
  if (!Object.hasOwn(TEST_CARDS, cardToken)) {
    throw badInput('input.cardToken: unknown card token; use tok_visa or tok_chargeDeclined in test mode.', { field: 'input.cardToken' });
  }
}

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  if (map.size >= MAX_KEYS) map.delete(map.keys().next().value!);
  map.set(key, value);
}

/**
 * The processor side of test mode: charges and refunds keyed by idempotency key, with the count of
 * money movements per key (what a test asserts "charged at most once" against). Embedded in
 * billing by default, or served over HTTP by a process of its own (test-mode-server.ts) so that
 * it outlives a billing crash.
 */
export function createTestModeLedger() {
  const charges = new Map<string, ChargeResult>();
  const refunds = new Map<string, { reference: string; charge: string }>();
  /** Cards actually charged per key: more than 1 would be a double charge. */
  const chargeCounts = new Map<string, number>();

  return {
    charge({ cardToken, idempotencyKey }: ChargeRequest): ChargeResult {
      assertTestCardToken(cardToken);
      const previous = charges.get(idempotencyKey);
      if (previous) return { ...previous, replayed: true };
      const card = TEST_CARDS[cardToken]!;
      const result: ChargeResult = card.status === 'succeeded' ? { ...card, reference: `${CHARGE_PREFIX}${randomUUID()}` } : { ...card };
      if (result.status === 'succeeded') remember(chargeCounts, idempotencyKey, (chargeCounts.get(idempotencyKey) ?? 0) + 1);
      remember(charges, idempotencyKey, result);
      return result;
    },
    resolveCharge(idempotencyKey: string): ChargeResult {
      if (!charges.has(idempotencyKey)) remember(charges, idempotencyKey, ABANDONED);
      return { ...charges.get(idempotencyKey)!, replayed: true };
    },
    refund({ reference, idempotencyKey }: RefundRequest): { reference: string } {
      const previous = refunds.get(idempotencyKey);
      if (previous) return { reference: previous.reference };
      if (!reference.startsWith(CHARGE_PREFIX)) throw new Error(`test-mode provider cannot refund charge ${reference}`);
      if ([...refunds.values()].some((r) => r.charge === reference)) throw new Error(`charge ${reference} is already refunded`);
      const refund = { reference: `re_test_${randomUUID()}`, charge: reference };
      remember(refunds, idempotencyKey, refund);
      return { reference: refund.reference };
    },
    /** How many times the card was charged under this key (0 or 1 when all is well). */
    chargesFor: (idempotencyKey: string) => chargeCounts.get(idempotencyKey) ?? 0,
    /** Every key and its charge count, for tests. */
    chargeCounts: () => Object.fromEntries(chargeCounts),
    refundCount: () => refunds.size,
  };
}

export type TestModeLedger = ReturnType<typeof createTestModeLedger>;

/**
 * A provider that behaves like a processor's test mode, in billing's own process: `tok_visa`
 * succeeds, `tok_chargeDeclined` is declined, any other token is BAD_USER_INPUT. Like a real
 * processor it answers a repeated idempotency key with the first result. Its memory dies with the
 * process, so crash tests use the HTTP one (PAYMENT_PROVIDER_URL).
 */
export function createTestModeProvider(ledger: TestModeLedger = createTestModeLedger()): PaymentProvider {
  return {
    assertCardToken: assertTestCardToken,
    charge: async (request) => ledger.charge(request),
    resolveCharge: async (key) => ledger.resolveCharge(key),
    refund: async (request) => ledger.refund(request),
  };
}
