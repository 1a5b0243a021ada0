/** The foundation issue's AccountPage query: every subgraph, nested lists, entity hops back and forth. */
export const ACCOUNT_PAGE = `query AccountPage($n: Int!) { me { name orders(first: $n) { edges { node {
  number total { amountCents } status customer { name }
  items { quantity product { name price { amountCents } category { name } shippingEstimate { amountCents } } }
  invoice { status payments { status } } } } } } }`;
