import { AsyncLocalStorage } from 'node:async_hooks';

/** Per-request values that code deep in a call stack (loggers, error masks) needs without threading them through. */
export interface RequestScope {
  requestId: string;
}

export const requestScope = new AsyncLocalStorage<RequestScope>();
