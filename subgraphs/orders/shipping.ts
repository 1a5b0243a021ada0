/** Money as the graph shows it. */
export interface Money {
  amountCents: number;
  currency: string;
}

/**
 * A Product as orders sees it: catalog's entity, by id (what OrderItem.product returns); the
 * gateway adds the fields shippingEstimate @requires when that is asked for.
 */
export interface ProductReference {
  __typename?: 'Product';
  id: string;
  weightGrams?: number;
  price?: Money;
}

export const FREE_SHIPPING_FROM_CENTS = 5000;
export const BASE_SHIPPING_CENTS = 499;
export const CENTS_PER_STARTED_STEP = 50;
export const STEP_GRAMS = 500;

/**
 * Shipping for one unit: free from 5000 cents, otherwise 499 cents plus 50 cents per started
 * 500 g (0 g adds nothing, 1..500 g adds 50, 501..1000 g adds 100), in the price's currency.
 */
export function shippingEstimate(weightGrams: number, price: Money): Money {
  if (price.amountCents >= FREE_SHIPPING_FROM_CENTS) return { amountCents: 0, currency: price.currency };
  const steps = Math.ceil(Math.max(0, weightGrams) / STEP_GRAMS);
  return { amountCents: BASE_SHIPPING_CENTS + CENTS_PER_STARTED_STEP * steps, currency: price.currency };
}
