import { shippingEstimate } from '../shipping.js';
import type { Money } from '../shipping.js';

/** The representation the gateway sends, carrying the @requires fields from the catalog. */
interface ProductRepresentation {
  id: string;
  weightGrams: number;
  price: Money;
}

export const productResolvers = {
  Product: {
    shippingEstimate: (p: ProductRepresentation) => shippingEstimate(p.weightGrams, p.price),
  },
};
