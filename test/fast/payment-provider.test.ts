import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig, subgraphSchemas } from '../../platform/config.js';
import { generateLocalKeys, localEnv } from '../../platform/local-env.js';
import { createHttpProvider } from '../../subgraphs/billing/payments/http-provider.js';
import { startTestModeProviderServer } from '../../subgraphs/billing/payments/test-mode-server.js';

/**
 * The test-mode processor as billing sees it over HTTP (the shape a crash test relies on): one
 * charge per idempotency key, a key resolved before any charge is closed for good, refunds once
 * per key. And the kill hook cannot be configured outside NODE_ENV=test.
 */
describe('test-mode payment provider over HTTP', () => {
  it('charges once per key, replays the first outcome, and a key resolved first can never charge', async () => {
    const server = await startTestModeProviderServer();
    try {
      const provider = createHttpProvider(server.url);
      const request = { amountCents: 1200, currency: 'USD', cardToken: 'tok_visa', idempotencyKey: 'key-1' };
      const first = await provider.charge(request);
      const again = await provider.charge(request);
      expect(first).toMatchObject({ status: 'succeeded', method: 'Visa •••• 4242' });
      expect(first.replayed).toBeUndefined();
      expect(again).toEqual({ ...first, replayed: true });
      expect(await provider.resolveCharge('key-1')).toEqual({ ...first, replayed: true });
      expect(server.ledger.chargesFor('key-1')).toBe(1);

      // Resolved before the charge arrived (the reconciler after a crash): closed, a late charge takes nothing.
      expect(await provider.resolveCharge('key-2')).toMatchObject({ status: 'declined', reason: 'abandoned' });
      expect(await provider.charge({ ...request, idempotencyKey: 'key-2' })).toMatchObject({ status: 'declined', reason: 'abandoned' });
      expect(server.ledger.chargesFor('key-2')).toBe(0);

      expect(await provider.charge({ ...request, cardToken: 'tok_chargeDeclined', idempotencyKey: 'key-3' })).toMatchObject({
        status: 'declined',
        reason: 'card_declined',
      });
      expect(server.ledger.chargesFor('key-3')).toBe(0);

      const refund = {
        reference: first.status === 'succeeded' ? first.reference : '',
        amountCents: 1200,
        currency: 'USD',
        idempotencyKey: 'refund:p1',
      };
      const r1 = await provider.refund(refund);
      expect(await provider.refund(refund)).toEqual(r1);
      await expect(provider.refund({ ...refund, idempotencyKey: 'refund:other' })).rejects.toThrow(/422/);
      expect(server.ledger.refundCount()).toBe(1);
      expect(() => provider.assertCardToken('tok_unknown')).toThrow(/unknown card token/);
    } finally {
      await server.close();
    }
  });

  it('refuses FAULT_KILL_AFTER_CHARGE_TOKEN unless NODE_ENV=test, naming the variable', async () => {
    const keys = await generateLocalKeys();
    const ports = { gateway: 4000, users: 4001, catalog: 4002, orders: 4003, billing: 4004 };
    const databaseUrls = { users: 'postgres://x/u', catalog: 'postgres://x/c', orders: 'postgres://x/o', billing: 'postgres://x/b' };
    const env = (nodeEnv: 'production' | 'test') => ({
      ...localEnv({ keys, ports, databaseUrls, nodeEnv }).billing,
      FAULT_KILL_AFTER_CHARGE_TOKEN: 'tok_visa',
    });
    expect(parseConfig(subgraphSchemas.billing, env('test')).FAULT_KILL_AFTER_CHARGE_TOKEN).toBe('tok_visa');
    const err = (() => {
      try {
        parseConfig(subgraphSchemas.billing, env('production'));
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems.join('\n')).toMatch(/FAULT_KILL_AFTER_CHARGE_TOKEN: .*NODE_ENV=test/);
    expect(
      parseConfig(subgraphSchemas.billing, { ...env('production'), FAULT_KILL_AFTER_CHARGE_TOKEN: '' }).FAULT_KILL_AFTER_CHARGE_TOKEN,
    ).toBeUndefined();
  });
});
