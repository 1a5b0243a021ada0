import { AsyncLocalStorage } from 'node:async_hooks';

/** Per-request values that code deep in a call stack (loggers, error masks) needs without threading them through. */
export interface RequestScope {
  requestId: string;
  /** WAL positions other services reported writing during this request (read-your-writes, platform/consistency.ts). */
  writtenLsns?: Map<string, bigint>;
}

export const requestScope = new AsyncLocalStorage<RequestScope>();
