import type { Resolvers } from '../generated/resolvers.js';
import { shippingEstimate } from '../shipping.js';

export const productResolvers: Resolvers = {
  Product: {
    /** The gateway's representation carries the @requires fields from the catalog; without them there is no estimate. */
    shippingEstimate(p) {
      if (p.weightGrams === undefined || !p.price) throw new Error(`product ${p.id} arrived without the fields shippingEstimate @requires`);
      return shippingEstimate(p.weightGrams, p.price);
    },
  },
};
