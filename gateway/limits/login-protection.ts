import { createHash } from 'node:crypto';
import type { ApolloServerPlugin } from '@apollo/server';
import { Kind, OperationTypeNode, getArgumentValues } from 'graphql';
import type { DocumentNode, GraphQLSchema, SelectionSetNode } from 'graphql';
import type { RedisGuard } from '../../platform/redis-guard.js';
import type { GatewayConfig } from '../../platform/config.js';
import { ErrorCode } from '../../platform/errors.js';
import type { Logger } from '../../platform/logger.js';
import type { GatewayContext } from '../context.js';
import { collectFields, fragmentsOf } from '../selections.js';
import type { Supergraph } from '../supergraph.js';
import { createLimiter, rateLimitedError } from './limiter.js';

/** One selection of the protected field (LOGIN_FIELD) in a mutation: where its result lands, and whose account it tries. */
interface Attempt {
  responseKey: string;
  /** sha256 of the normalized account name (it stays out of Redis keys); null when it is not a string. */
  account: string | null;
}

/**
 * Credential stuffing protection for the sign-in field (LOGIN_FIELD, a root mutation field by
 * coordinate), at the gateway: it knows the client IP and sees the outcome in the response
 * (INVALID_CREDENTIALS or a result), and the subgraph stays a plain password check. (The
 * alternative, passing the IP to the subgraph in the service token and counting there, would
 * spread one policy over two services.)
 *
 * Each selection of the field (aliases included: ten aliased attempts in one request are ten
 * attempts) takes a point from its account's counter (the normalized value at
 * LOGIN_ACCOUNT_ARGUMENT, whether or not the account exists, so a refusal tells nothing about
 * existence) and from its IP's counter *before* it runs, so a burst of parallel attempts cannot
 * all slip through before the first failure is recorded. After the response: INVALID_CREDENTIALS
 * keeps the points; a success resets the account's counter and gives the IP its point back;
 * anything else (bad input, an outage) gives both back. A refused attempt never reaches the
 * password check and does not count against the IP.
 *
 * Over either limit the whole operation is 429 RATE_LIMITED with Retry-After, the right password
 * included, until the window that holds the failures ends.
 *
 * The field is found in each request's own schema, so a supergraph reload is followed with no
 * state here; whether the loaded supergraph has the field at all is reported by
 * `warnIfLoginFieldMissing` on each load.
 */
export function createLoginProtection(deps: {
  config: GatewayConfig;
  redis: RedisGuard | null;
  log: Logger;
}): ApolloServerPlugin<GatewayContext> {
  const { config, redis, log } = deps;
  const { perAccount, perIp } = loginLimiters(config, redis);
  const target = protectedFieldOf(config);

  return {
    async requestDidStart() {
      let attempts: Attempt[] = [];
      let ip: string | undefined;
      return {
        async didResolveOperation({ schema, document, operation, request, contextValue }) {
          if (operation?.operation !== OperationTypeNode.MUTATION) return;
          attempts = loginAttempts(schema, document, operation.selectionSet, request.variables ?? {}, target);
          if (!attempts.length) return;
          ip = contextValue.clientIp;
          const taken: { limiter: typeof perIp; key: string; points: number }[] = [];
          const take = async (limiter: typeof perIp, key: string, points: number, what: string) => {
            const outcome = await limiter.consume(key, points);
            taken.push({ limiter, key, points });
            if (outcome.allowed) return;
            await Promise.all(taken.map((t) => t.limiter.refund(t.key, t.points)));
            attempts = []; // settled here: nothing ran
            log.info({ what, requestId: contextValue.requestId }, 'sign-in attempts refused');
            throw rateLimitedError(
              `Too many failed sign-in attempts ${what}; retry after ${outcome.retryAfterSeconds} s.`,
              outcome.retryAfterSeconds,
            );
          };
          if (ip) await take(perIp, ip, attempts.length, 'from this address');
          for (const a of attempts) if (a.account) await take(perAccount, a.account, 1, 'for this account');
        },
        async willSendResponse({ response }) {
          if (!attempts.length || response.body.kind !== 'single') return;
          const { data, errors } = response.body.singleResult;
          const settled = attempts.map(async ({ responseKey, account }) => {
            const failed = errors?.some((e) => e.path?.[0] === responseKey && e.extensions?.code === ErrorCode.INVALID_CREDENTIALS);
            if (failed) return;
            const succeeded = data?.[responseKey] != null;
            await Promise.all([
              account ? (succeeded ? perAccount.reset(account) : perAccount.refund(account)) : undefined,
              ip ? perIp.refund(ip) : undefined,
            ]);
          });
          // Before the response goes out, so a client's next attempt sees the reset.
          await Promise.all(settled).catch((err: unknown) => log.warn({ err }, 'sign-in attempt bookkeeping failed'));
        },
      };
    },
  };
}

/** Failed attempts counted per account and per IP, over one window. */
function loginLimiters(config: GatewayConfig, redis: RedisGuard | null) {
  const window = config.LOGIN_WINDOW_SECONDS;
  return {
    perAccount: createLimiter(redis, config.EVENT_NAMESPACE, {
      name: 'login:account',
      points: config.LOGIN_MAX_FAILURES_PER_ACCOUNT,
      durationSeconds: window,
    }),
    perIp: createLimiter(redis, config.EVENT_NAMESPACE, {
      name: 'login:ip',
      points: config.LOGIN_MAX_FAILURES_PER_IP,
      durationSeconds: window,
    }),
  };
}

/** A supergraph without LOGIN_FIELD counts no sign-in attempts: said once per load, not per request. */
export function warnIfLoginFieldMissing(supergraph: Supergraph, config: GatewayConfig, log: Logger): void {
  if (definesField(supergraph, config.LOGIN_FIELD)) return;
  log.warn(
    { field: config.LOGIN_FIELD, supergraph: supergraph.hash },
    'LOGIN_FIELD is not a field of the supergraph: no sign-in attempts are counted',
  );
}

/** Whether the supergraph defines (or extends) the type of `coordinate` with that field. */
function definesField(supergraph: Supergraph, coordinate: string): boolean {
  const [typeName, fieldName] = coordinate.split('.');
  return supergraph.document.definitions.some(
    (def) =>
      (def.kind === Kind.OBJECT_TYPE_DEFINITION || def.kind === Kind.OBJECT_TYPE_EXTENSION) &&
      def.name.value === typeName &&
      (def.fields ?? []).some((f) => f.name.value === fieldName),
  );
}

/** Where the protected field is: a root mutation field by coordinate, and the account's path in its arguments. */
export interface ProtectedField {
  typeName: string;
  fieldName: string;
  accountPath: string[];
}

export const protectedFieldOf = (config: GatewayConfig): ProtectedField => {
  const [typeName, fieldName] = config.LOGIN_FIELD.split('.') as [string, string];
  return { typeName, fieldName, accountPath: config.LOGIN_ACCOUNT_ARGUMENT.split('.') };
};

/**
 * The mutation's root selections of the protected field, through fragments; @skip/@include ignored
 * (a skipped one is given back). A supergraph whose mutation type has no such field has nothing to protect.
 */
function loginAttempts(
  schema: GraphQLSchema,
  document: DocumentNode,
  root: SelectionSetNode,
  variables: Record<string, unknown>,
  target: ProtectedField,
): Attempt[] {
  const mutation = schema.getMutationType();
  const field = mutation?.name === target.typeName ? mutation.getFields()[target.fieldName] : undefined;
  if (!mutation || !field) return [];
  const found = collectFields(schema, fragmentsOf(document), mutation, root).filter((f) => f.node.name.value === target.fieldName);
  return found.map(({ node }) => {
    let account: unknown;
    try {
      account = target.accountPath.reduce<unknown>(
        (value, key) => (value as Record<string, unknown> | undefined)?.[key],
        getArgumentValues(field, node, variables),
      );
    } catch {
      account = undefined; // bad variables: execution refuses them anyway
    }
    return {
      responseKey: node.alias?.value ?? node.name.value,
      account: typeof account === 'string' ? createHash('sha256').update(account.trim().toLowerCase()).digest('base64url') : null,
    };
  });
}
