import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Per-request values that code deep in a call stack (loggers, error masks) needs without threading them through.
 *
 * Kept on AsyncLocalStorage on purpose. On Node 20 it turned on promise hooks for every promise of
 * the process (~10% of the account page's CPU); on Node 24 (the runtime this project moves to) it is built on
 * AsyncContextFrame and costs no hook: measured with it stubbed out (`npm run bench:cpu-ab`, Node
 * 24.22, 5 interleaved repetitions), subgraph CPU per request moved 0.96x (storefront) and 0.97x
 * (account page), inside the machine's noise, not worth threading a scope through logger, error
 * formatter, consistency notes and internal calls.
 */
export interface RequestScope {
  requestId: string;
  /** WAL positions other services reported writing during this request (read-your-writes, platform/consistency.ts). */
  writtenLsns?: Map<string, bigint>;
}

export const requestScope = new AsyncLocalStorage<RequestScope>();
