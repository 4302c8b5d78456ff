import { AsyncLocalStorage } from 'node:async_hooks';

/** What a service knows about the request it is serving, wherever it is in the call stack. */
export interface RequestContext {
  /** Correlation id: taken from `x-request-id` when a caller sent one, generated otherwise. */
  readonly requestId: string;
}

const storage = new AsyncLocalStorage<RequestContext>();

export function runWithRequestContext<R>(context: RequestContext, fn: () => R): R {
  return storage.run(context, fn);
}

export function currentRequestContext(): RequestContext | undefined {
  return storage.getStore();
}

/** Accepts a caller's correlation id only if it is short and printable (it is echoed into logs and headers). */
export function acceptableRequestId(value: string | string[] | undefined): string | undefined {
  if (typeof value !== 'string') return undefined;
  return /^[A-Za-z0-9._:-]{1,128}$/.test(value) ? value : undefined;
}
