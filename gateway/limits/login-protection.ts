import { createHash } from 'node:crypto';
import type { ApolloServerPlugin } from '@apollo/server';
import { Kind, OperationTypeNode } from 'graphql';
import type { DocumentNode, FieldNode, FragmentDefinitionNode, GraphQLSchema, SelectionSetNode } from 'graphql';
import { getArgumentValues } from 'graphql';
import type { Redis } from 'ioredis';
import type { GatewayConfig } from '../../platform/config.js';
import { ErrorCode } from '../../platform/errors.js';
import type { Logger } from '../../platform/logger.js';
import type { GatewayContext } from '../context.js';
import { createLimiter, rateLimitedError } from './limiter.js';

/** One `logIn` field of a mutation: where its result lands, and whose account it tries. */
interface Attempt {
  responseKey: string;
  /** sha256 of the normalized email (emails stay out of Redis keys); null when it is not a string. */
  account: string | null;
}

/**
 * Credential stuffing protection for `logIn`, at the gateway: it knows the client IP and sees the
 * outcome in the response (INVALID_CREDENTIALS or a token), and the users service stays a plain
 * password check. (The alternative, passing the IP to the users service in the service token and
 * counting there, would spread one policy over two services.)
 *
 * Each `logIn` field (aliases included: ten aliased attempts in one request are ten attempts)
 * takes a point from its account's counter (normalized email, whether or not the account exists,
 * so a refusal tells nothing about existence) and from its IP's counter *before* it runs, so a
 * burst of parallel attempts cannot all slip through before the first failure is recorded. After
 * the response: INVALID_CREDENTIALS keeps the points; a success resets the account's counter and
 * gives the IP its point back; anything else (bad input, an outage) gives both back. A refused
 * attempt never reaches the password check and does not count against the IP.
 *
 * Over either limit the whole operation is 429 RATE_LIMITED with Retry-After, the right password
 * included, until the window that holds the failures ends.
 */
export function createLoginProtection(deps: { config: GatewayConfig; redis: Redis | null; log: Logger }): ApolloServerPlugin<GatewayContext> {
  const { config, redis, log } = deps;
  const window = config.LOGIN_WINDOW_SECONDS;
  const perAccount = createLimiter(redis, config.EVENT_NAMESPACE, { name: 'login:account', points: config.LOGIN_MAX_FAILURES_PER_ACCOUNT, durationSeconds: window });
  const perIp = createLimiter(redis, config.EVENT_NAMESPACE, { name: 'login:ip', points: config.LOGIN_MAX_FAILURES_PER_IP, durationSeconds: window });

  return {
    async requestDidStart() {
      let attempts: Attempt[] = [];
      let ip: string | undefined;
      return {
        async didResolveOperation({ schema, document, operation, request, contextValue }) {
          if (operation?.operation !== OperationTypeNode.MUTATION) return;
          attempts = logInAttempts(schema, document, operation.selectionSet, request.variables ?? {});
          if (!attempts.length) return;
          ip = contextValue.clientIp;
          const taken: { limiter: typeof perIp; key: string; points: number }[] = [];
          const take = async (limiter: typeof perIp, key: string, points: number, what: string) => {
            const outcome = await limiter.consume(key, points);
            taken.push({ limiter, key, points });
            if (outcome.allowed) return;
            await Promise.all(taken.map((t) => t.limiter.refund(t.key, t.points)));
            attempts = []; // settled here: nothing ran
            log.info({ what, requestId: contextValue.requestId }, 'logIn attempts refused');
            throw rateLimitedError(`Too many failed sign-in attempts ${what}; retry after ${outcome.retryAfterSeconds} s.`, outcome.retryAfterSeconds);
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
          await Promise.all(settled).catch((err: unknown) => log.warn({ err }, 'logIn attempt bookkeeping failed'));
        },
      };
    },
  };
}

/** The mutation's root `logIn` fields, through fragments; @skip/@include ignored (a skipped one is given back). */
function logInAttempts(schema: GraphQLSchema, document: DocumentNode, root: SelectionSetNode, variables: Record<string, unknown>): Attempt[] {
  const field = schema.getMutationType()?.getFields().logIn;
  if (!field) return [];
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const def of document.definitions) if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
  const found: FieldNode[] = [];
  const walk = (set: SelectionSetNode, seen: Set<string>) => {
    for (const s of set.selections) {
      if (s.kind === Kind.FIELD) {
        if (s.name.value === 'logIn') found.push(s);
      } else if (s.kind === Kind.INLINE_FRAGMENT) {
        walk(s.selectionSet, seen);
      } else if (!seen.has(s.name.value) && fragments.has(s.name.value)) {
        walk(fragments.get(s.name.value)!.selectionSet, new Set([...seen, s.name.value]));
      }
    }
  };
  walk(root, new Set());
  return found.map((node) => {
    let email: unknown;
    try {
      email = (getArgumentValues(field, node, variables).input as { email?: unknown } | undefined)?.email;
    } catch {
      email = undefined; // bad variables: execution refuses them anyway
    }
    return {
      responseKey: node.alias?.value ?? node.name.value,
      account: typeof email === 'string' ? createHash('sha256').update(email.trim().toLowerCase()).digest('base64url') : null,
    };
  });
}
