import { context, createContextKey, type Context } from '@opentelemetry/api';

/** What a service knows about the request it is serving, wherever it is in the call stack. */
export interface RequestContext {
  /** Correlation id: taken from `x-request-id` when a caller sent one, generated otherwise. */
  readonly requestId: string;
  /** Inside a message handler: the id of the message being handled (the cause of what it writes). */
  readonly causationId?: string;
}

/**
 * The request context rides in the OpenTelemetry context the chassis opens for
 * every request anyway: one async-local scope per request instead of two.
 */
const REQUEST_CONTEXT = createContextKey('bazaar.request-context');

/** `parent` extended with `request`; run work inside it with `context.with`. */
export function withRequestContext(parent: Context, request: RequestContext): Context {
  return parent.setValue(REQUEST_CONTEXT, request);
}

export function runWithRequestContext<R>(request: RequestContext, fn: () => R): R {
  return context.with(withRequestContext(context.active(), request), fn);
}

export function currentRequestContext(): RequestContext | undefined {
  return context.active().getValue(REQUEST_CONTEXT) as RequestContext | undefined;
}

/** Accepts a caller's correlation id only if it is short and printable (it is echoed into logs and headers). */
export function acceptableRequestId(value: string | string[] | undefined): string | undefined {
  if (typeof value !== 'string') return undefined;
  return /^[A-Za-z0-9._:-]{1,128}$/.test(value) ? value : undefined;
}
