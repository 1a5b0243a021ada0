import express from 'express';
import { GraphQLError } from 'graphql';
import { z } from 'zod';
import type { Identity } from './auth/identity.js';
import { ANONYMOUS } from './auth/identity.js';
import { INTERNAL_TOKEN_HEADER } from './auth/service-token.js';
import type { ServiceCaller, ServiceTokenSigner, ServiceTokenVerifier } from './auth/service-token.js';
import { isPublicError } from './errors.js';
import { CONSISTENCY_LSN_HEADER } from './lsn.js';
import { noteWrites } from './consistency.js';
import type { Logger } from './logger.js';

/**
 * Commands one service sends another (reserve stock, ask an order's status...). They are not part of
 * the public graph, so they live on `/internal/*` as JSON over HTTP, each open only to the
 * services named in `callers` and validated with zod like any edge.
 */
export interface InternalRoute<I = unknown, O = unknown> {
  path: string;
  callers: string[];
  input: z.ZodType<I>;
  handler: (input: I, caller: ServiceCaller) => Promise<O>;
}

export const defineInternalRoute = <I, O>(route: InternalRoute<I, O>): InternalRoute => route as unknown as InternalRoute;

/**
 * `reportWrites`: where this service's primary stands after a command (read-your-writes: the
 * caller passes it on with its own response, so the client's next read sees what the command wrote).
 */
export function createInternalRouter(
  routes: InternalRoute[],
  verifier: ServiceTokenVerifier,
  log: Logger,
  afterHandled?: () => void,
  reportWrites?: () => Promise<string | undefined>,
): express.Router {
  const router = express.Router();
  for (const route of routes) {
    router.post(route.path, async (req, res) => {
      const caller = await verifier.verify(req.header(INTERNAL_TOKEN_HEADER));
      if (!caller)
        return void res.status(401).json({ error: { message: 'Unauthenticated service call.', extensions: { code: 'UNAUTHENTICATED' } } });
      if (!route.callers.includes(caller.service)) {
        return void res.status(403).json({ error: { message: 'Service not allowed.', extensions: { code: 'FORBIDDEN' } } });
      }
      const parsed = route.input.safeParse(req.body);
      if (!parsed.success) {
        return void res.status(400).json({ error: { message: z.prettifyError(parsed.error), extensions: { code: 'BAD_USER_INPUT' } } });
      }
      try {
        const data = await route.handler(parsed.data, caller);
        const written = await reportWrites?.();
        if (written) res.setHeader(CONSISTENCY_LSN_HEADER, written);
        res.json({ data });
        afterHandled?.();
      } catch (err) {
        if (isPublicError(err)) {
          return void res.status(422).json({ error: { message: err.message, extensions: err.extensions } });
        }
        log.error({ err, path: route.path }, 'internal route failed');
        res.status(500).json({ error: { message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } } });
      }
    });
  }
  return router;
}

export interface InternalClient {
  call<O>(path: string, body: unknown, identity?: Identity): Promise<O>;
}

export class InternalCallError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/**
 * The callee did not answer: refused or reset connection, no answer before the deadline, or a
 * proxy's 502/503/504. The command may or may not have run there, so a caller must either retry it
 * (every internal command is idempotent) or leave its effect to the callee's own healing.
 */
export class ServiceUnavailableError extends InternalCallError {
  constructor(
    message: string,
    readonly service: string,
    status = 0,
  ) {
    super(message, status);
  }
}

const UNAVAILABLE_STATUSES = new Set([502, 503, 504]);

export interface InternalClientOptions {
  /** The callee's name, for errors and logs. */
  service: string;
  /** Deadline of one call, connection included. (5,000 ms) */
  timeoutMs?: number;
}

/** Calls another service's internal routes; public errors come back as the same GraphQLError. */
export function createInternalClient(baseUrl: string, signer: ServiceTokenSigner, options: InternalClientOptions): InternalClient {
  const timeoutMs = options.timeoutMs ?? 5_000;
  const unavailable = (path: string, why: string, status?: number) =>
    new ServiceUnavailableError(`internal call ${options.service}${path} failed: ${why}`, options.service, status);
  return {
    async call<O>(path: string, body: unknown, identity: Identity = ANONYMOUS): Promise<O> {
      let res: Response;
      let payload: { data?: O; error?: { message: string; extensions: Record<string, unknown> } } | null;
      try {
        res = await fetch(new URL(`/internal${path}`, baseUrl), {
          method: 'POST',
          headers: { 'content-type': 'application/json', [INTERNAL_TOKEN_HEADER]: await signer.sign(identity) },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(timeoutMs),
        });
        // The body is read under the same deadline: an answer cut off half-way is no answer.
        payload = (await res.json().catch((err: unknown) => {
          if (isNetworkFailure(err)) throw err;
          return null;
        })) as typeof payload;
      } catch (err) {
        if (isNetworkFailure(err)) throw unavailable(path, describeFailure(err));
        throw err;
      }
      noteWrites(res.headers.get(CONSISTENCY_LSN_HEADER));
      if (res.ok && payload && 'data' in payload) return payload.data as O;
      if (res.status === 422 && payload?.error) {
        throw new GraphQLError(payload.error.message, { extensions: payload.error.extensions });
      }
      if (UNAVAILABLE_STATUSES.has(res.status)) throw unavailable(path, `status ${res.status}`, res.status);
      throw new InternalCallError(`internal call ${path} failed with ${res.status}: ${payload?.error?.message ?? 'no body'}`, res.status);
    },
  };
}

/**
 * fetch (undici) rejects with a TypeError for a refused or reset connection ("fetch failed", or
 * "terminated" while reading the body) and a TimeoutError/AbortError at the deadline.
 */
function isNetworkFailure(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return err.name === 'TimeoutError' || err.name === 'AbortError' || err instanceof TypeError;
}

function describeFailure(err: unknown): string {
  if (!(err instanceof Error)) return 'unknown failure';
  if (err.name === 'TimeoutError' || err.name === 'AbortError') return 'no answer before the deadline';
  const cause = (err as { cause?: { code?: string } }).cause;
  return cause?.code ?? (err as { code?: string }).code ?? err.message;
}
