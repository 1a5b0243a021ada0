import { randomUUID } from 'node:crypto';
import { badInput } from '../../../platform/errors.js';
import type { ChargeResult, PaymentProvider } from './payment-provider.js';

/** The test cards the contract names, and what each does. */
const TEST_CARDS: Record<string, ChargeResult> = {
  tok_visa: { status: 'succeeded', reference: '', method: 'Visa •••• 4242' },
  tok_chargeDeclined: { status: 'declined', reason: 'card_declined', method: 'Visa •••• 0002' },
};

const CHARGE_PREFIX = 'ch_test_';

/**
 * A provider that behaves like a processor's test mode: `tok_visa` succeeds, `tok_chargeDeclined`
 * is declined, any other token is BAD_USER_INPUT. Like a real processor it answers a repeated
 * idempotency key with the first result (remembered in memory, bounded).
 */
export function createTestModeProvider(): PaymentProvider {
  const charges = new Map<string, ChargeResult>();

  const assertCardToken = (cardToken: string) => {
    // The message does not echo the token: it is a secret of the customer's.
    if (!Object.hasOwn(TEST_CARDS, cardToken)) {
      throw badInput('input.cardToken: unknown card token; use tok_visa or tok_chargeDeclined in test mode.', { field: 'input.cardToken' });
    }
  };

  return {
    assertCardToken,
    async charge({ cardToken, idempotencyKey }) {
      assertCardToken(cardToken);
      const previous = charges.get(idempotencyKey);
      if (previous) return previous;
      const card = TEST_CARDS[cardToken]!;
      const result: ChargeResult = card.status === 'succeeded' ? { ...card, reference: `${CHARGE_PREFIX}${randomUUID()}` } : { ...card };
      if (charges.size >= 10_000) charges.clear();
      charges.set(idempotencyKey, result);
      return result;
    },
    async refund({ reference }) {
      if (!reference.startsWith(CHARGE_PREFIX)) throw new Error(`test-mode provider cannot refund charge ${reference}`);
      return { reference: `re_test_${randomUUID()}` };
    },
  };
}
