import { describe, expect, it } from 'vitest';
import { shippingEstimate } from '../../subgraphs/orders/shipping.js';

const usd = (amountCents: number) => ({ amountCents, currency: 'USD' });

describe('shippingEstimate (pure)', () => {
  it('is free from 5000 cents, whatever the weight, in the price currency', () => {
    expect(shippingEstimate(20_000, usd(5000))).toEqual(usd(0));
    expect(shippingEstimate(0, { amountCents: 99_999, currency: 'EUR' })).toEqual({ amountCents: 0, currency: 'EUR' });
  });

  it('is 499 cents plus 50 cents per started 500 g below 5000 cents', () => {
    const cases: [number, number][] = [
      [0, 499],
      [1, 549],
      [499, 549],
      [500, 549],
      [501, 599],
      [1000, 599],
      [1001, 649],
      [2500, 749],
    ];
    for (const [grams, cents] of cases) expect(shippingEstimate(grams, usd(4999)), `${grams} g`).toEqual(usd(cents));
    expect(shippingEstimate(750, { amountCents: 100, currency: 'GBP' })).toEqual({ amountCents: 599, currency: 'GBP' });
  });
});
