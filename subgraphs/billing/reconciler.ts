import type { Database } from '../../platform/db.js';
import type { Logger } from '../../platform/logger.js';
import { settlePayment } from './charges.js';
import { stalePendingPayments } from './db/queries.js';
import type { BillingTables } from './db/tables.js';
import type { PaymentProvider } from './payments/payment-provider.js';

export interface ReconcilerOptions {
  database: Database<BillingTables>;
  provider: PaymentProvider;
  log: Logger;
  /** A PENDING payment younger than this may still be in its request: leave it alone. */
  afterMs: number;
  intervalMs: number;
  /** Called after a sweep settled something (to publish the outbox rows it wrote). */
  onSettled?: () => void;
}

const BATCH = 100;

/**
 * Settles payments a crash left PENDING (charged or not, billing could not record it): asks the
 * processor, by the payment's idempotency key, what happened, and records that. If nothing was
 * charged the processor closes the key, so a late charge with it cannot take money afterwards.
 * Runs once at start and then every interval; any number of instances may run it (settling is
 * conditional under the payment's row lock).
 */
export function startPaymentReconciler(opts: ReconcilerOptions) {
  let running: Promise<void> | undefined;
  let stopped = false;

  async function sweep(): Promise<void> {
    const stale = await stalePendingPayments(opts.database.background, opts.afterMs, BATCH);
    let settled = 0;
    for (const payment of stale) {
      if (stopped) break;
      const outcome = await opts.provider.resolveCharge(payment.providerKey ?? `payment:${payment.id}`);
      const after = await settlePayment(opts.database.background, opts.provider, payment.id, outcome);
      opts.log.info({ paymentId: payment.id, status: after.status }, 'reconciled a payment left pending');
      settled += 1;
    }
    if (settled > 0) opts.onSettled?.();
  }

  const tick = () => {
    if (running || stopped) return;
    running = sweep()
      .catch((err: unknown) => opts.log.warn({ err }, 'payment reconciliation failed; retrying at the next interval'))
      .finally(() => (running = undefined));
  };
  const timer = setInterval(tick, opts.intervalMs);
  timer.unref();
  tick();

  return {
    /** One sweep now (tests, and start-up). */
    sweep,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
