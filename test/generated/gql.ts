/* eslint-disable */
import * as types from './graphql.js';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "\n  query AccountPage($n: Int!) {\n    me {\n      name\n      orders(first: $n) {\n        edges {\n          node {\n            number\n            total {\n              amountCents\n            }\n            status\n            customer {\n              name\n            }\n            items {\n              quantity\n              product {\n                name\n                price {\n                  amountCents\n                }\n                category {\n                  name\n                }\n                shippingEstimate {\n                  amountCents\n                }\n              }\n            }\n            invoice {\n              status\n              payments {\n                status\n              }\n            }\n          }\n        }\n      }\n    }\n  }\n": typeof types.AccountPageDocument,
    "\n  mutation SignUp($input: SignUpInput!) {\n    signUp(input: $input) {\n      token\n      user {\n        id\n      }\n    }\n  }\n": typeof types.SignUpDocument,
    "\n  mutation LogIn($input: LogInInput!) {\n    logIn(input: $input) {\n      token\n    }\n  }\n": typeof types.LogInDocument,
    "\n  mutation CreateCategory($input: CreateCategoryInput!) {\n    createCategory(input: $input) {\n      id\n      slug\n    }\n  }\n": typeof types.CreateCategoryDocument,
    "\n  mutation CreateProduct($input: CreateProductInput!) {\n    createProduct(input: $input) {\n      id\n      sku\n    }\n  }\n": typeof types.CreateProductDocument,
    "\n  mutation PlaceOrder($input: PlaceOrderInput!) {\n    placeOrder(input: $input) {\n      id\n      number\n      invoice {\n        id\n      }\n    }\n  }\n": typeof types.PlaceOrderDocument,
    "\n  mutation PayInvoice($input: PayInvoiceInput!) {\n    payInvoice(input: $input) {\n      id\n      status\n    }\n  }\n": typeof types.PayInvoiceDocument,
};
const documents: Documents = {
    "\n  query AccountPage($n: Int!) {\n    me {\n      name\n      orders(first: $n) {\n        edges {\n          node {\n            number\n            total {\n              amountCents\n            }\n            status\n            customer {\n              name\n            }\n            items {\n              quantity\n              product {\n                name\n                price {\n                  amountCents\n                }\n                category {\n                  name\n                }\n                shippingEstimate {\n                  amountCents\n                }\n              }\n            }\n            invoice {\n              status\n              payments {\n                status\n              }\n            }\n          }\n        }\n      }\n    }\n  }\n": types.AccountPageDocument,
    "\n  mutation SignUp($input: SignUpInput!) {\n    signUp(input: $input) {\n      token\n      user {\n        id\n      }\n    }\n  }\n": types.SignUpDocument,
    "\n  mutation LogIn($input: LogInInput!) {\n    logIn(input: $input) {\n      token\n    }\n  }\n": types.LogInDocument,
    "\n  mutation CreateCategory($input: CreateCategoryInput!) {\n    createCategory(input: $input) {\n      id\n      slug\n    }\n  }\n": types.CreateCategoryDocument,
    "\n  mutation CreateProduct($input: CreateProductInput!) {\n    createProduct(input: $input) {\n      id\n      sku\n    }\n  }\n": types.CreateProductDocument,
    "\n  mutation PlaceOrder($input: PlaceOrderInput!) {\n    placeOrder(input: $input) {\n      id\n      number\n      invoice {\n        id\n      }\n    }\n  }\n": types.PlaceOrderDocument,
    "\n  mutation PayInvoice($input: PayInvoiceInput!) {\n    payInvoice(input: $input) {\n      id\n      status\n    }\n  }\n": types.PayInvoiceDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query AccountPage($n: Int!) {\n    me {\n      name\n      orders(first: $n) {\n        edges {\n          node {\n            number\n            total {\n              amountCents\n            }\n            status\n            customer {\n              name\n            }\n            items {\n              quantity\n              product {\n                name\n                price {\n                  amountCents\n                }\n                category {\n                  name\n                }\n                shippingEstimate {\n                  amountCents\n                }\n              }\n            }\n            invoice {\n              status\n              payments {\n                status\n              }\n            }\n          }\n        }\n      }\n    }\n  }\n"): (typeof documents)["\n  query AccountPage($n: Int!) {\n    me {\n      name\n      orders(first: $n) {\n        edges {\n          node {\n            number\n            total {\n              amountCents\n            }\n            status\n            customer {\n              name\n            }\n            items {\n              quantity\n              product {\n                name\n                price {\n                  amountCents\n                }\n                category {\n                  name\n                }\n                shippingEstimate {\n                  amountCents\n                }\n              }\n            }\n            invoice {\n              status\n              payments {\n                status\n              }\n            }\n          }\n        }\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SignUp($input: SignUpInput!) {\n    signUp(input: $input) {\n      token\n      user {\n        id\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation SignUp($input: SignUpInput!) {\n    signUp(input: $input) {\n      token\n      user {\n        id\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation LogIn($input: LogInInput!) {\n    logIn(input: $input) {\n      token\n    }\n  }\n"): (typeof documents)["\n  mutation LogIn($input: LogInInput!) {\n    logIn(input: $input) {\n      token\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateCategory($input: CreateCategoryInput!) {\n    createCategory(input: $input) {\n      id\n      slug\n    }\n  }\n"): (typeof documents)["\n  mutation CreateCategory($input: CreateCategoryInput!) {\n    createCategory(input: $input) {\n      id\n      slug\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateProduct($input: CreateProductInput!) {\n    createProduct(input: $input) {\n      id\n      sku\n    }\n  }\n"): (typeof documents)["\n  mutation CreateProduct($input: CreateProductInput!) {\n    createProduct(input: $input) {\n      id\n      sku\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation PlaceOrder($input: PlaceOrderInput!) {\n    placeOrder(input: $input) {\n      id\n      number\n      invoice {\n        id\n      }\n    }\n  }\n"): (typeof documents)["\n  mutation PlaceOrder($input: PlaceOrderInput!) {\n    placeOrder(input: $input) {\n      id\n      number\n      invoice {\n        id\n      }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation PayInvoice($input: PayInvoiceInput!) {\n    payInvoice(input: $input) {\n      id\n      status\n    }\n  }\n"): (typeof documents)["\n  mutation PayInvoice($input: PayInvoiceInput!) {\n    payInvoice(input: $input) {\n      id\n      status\n    }\n  }\n"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;