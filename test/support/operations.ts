import { graphql } from '../generated/index.js';

/** The foundation issue's AccountPage query: every subgraph, nested lists, entity hops back and forth. */
export const ACCOUNT_PAGE = graphql(`
  query AccountPage($n: Int!) {
    me {
      name
      orders(first: $n) {
        edges {
          node {
            number
            total {
              amountCents
            }
            status
            customer {
              name
            }
            items {
              quantity
              product {
                name
                price {
                  amountCents
                }
                category {
                  name
                }
                shippingEstimate {
                  amountCents
                }
              }
            }
            invoice {
              status
              payments {
                status
              }
            }
          }
        }
      }
    }
  }
`);

/** The fixtures of test/support/stack.ts (customer, admin, category, product), made through the API. */
export const SIGN_UP = graphql(`
  mutation SignUp($input: SignUpInput!) {
    signUp(input: $input) {
      token
      user {
        id
      }
    }
  }
`);

export const LOG_IN = graphql(`
  mutation LogIn($input: LogInInput!) {
    logIn(input: $input) {
      token
    }
  }
`);

export const CREATE_CATEGORY = graphql(`
  mutation CreateCategory($input: CreateCategoryInput!) {
    createCategory(input: $input) {
      id
      slug
    }
  }
`);

export const CREATE_PRODUCT = graphql(`
  mutation CreateProduct($input: CreateProductInput!) {
    createProduct(input: $input) {
      id
      sku
    }
  }
`);

/** A customer's order; its invoice is issued by billing from the order event. */
export const PLACE_ORDER = graphql(`
  mutation PlaceOrder($input: PlaceOrderInput!) {
    placeOrder(input: $input) {
      id
      number
      invoice {
        id
      }
    }
  }
`);

export const PAY_INVOICE = graphql(`
  mutation PayInvoice($input: PayInvoiceInput!) {
    payInvoice(input: $input) {
      id
      status
    }
  }
`);
