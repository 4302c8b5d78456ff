/**
 * The error catalogue: every error any Bazaar service can answer, with one stable
 * code, one HTTP status and one title, defined here and nowhere else. Clients may
 * branch on `code`; it never changes meaning. Answers are RFC 9457
 * `application/problem+json` documents built by the chassis from these entries.
 */
export const errorCatalogue = {
  // Generic, raised by the chassis and the gateway.
  VALIDATION_FAILED: { status: 400, title: 'The request is not valid' },
  MALFORMED_BODY: { status: 400, title: 'The request body could not be parsed' },
  MALFORMED_REQUEST: { status: 400, title: 'The request is not valid HTTP' },
  UNAUTHENTICATED: { status: 401, title: 'Authentication is required' },
  FORBIDDEN: { status: 403, title: 'You are not allowed to do this' },
  NOT_FOUND: { status: 404, title: 'No such resource' },
  ROUTE_NOT_FOUND: { status: 404, title: 'No such route' },
  METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed on this resource' },
  NOT_ACCEPTABLE: { status: 406, title: 'No acceptable representation' },
  PRECONDITION_FAILED: { status: 412, title: 'The resource changed since you read it' },
  REQUEST_TIMEOUT: { status: 408, title: 'The request did not arrive in time' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'The request body is too large' },
  URI_TOO_LONG: { status: 414, title: 'A part of the request path is too long' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported content type' },
  RATE_LIMITED: { status: 429, title: 'Too many requests' },
  HEADERS_TOO_LARGE: { status: 431, title: 'The request headers are too large' },
  INTERNAL_ERROR: { status: 500, title: 'Something went wrong on our side' },
  UPSTREAM_UNAVAILABLE: { status: 502, title: 'A backing service could not be reached' },
  SERVICE_UNAVAILABLE: { status: 503, title: 'The service is unavailable' },
  UPSTREAM_TIMEOUT: { status: 504, title: 'A backing service did not answer in time' },
  UPSTREAM_CIRCUIT_OPEN: { status: 503, title: 'A backing service is failing; calls to it are paused' },
  UPSTREAM_SATURATED: { status: 503, title: 'A backing service has too many calls in flight' },
  UNKNOWN_SERVICE: { status: 404, title: 'No such service' },
  INSTANCE_NOT_FOUND: { status: 404, title: 'No such service instance' },

  // messaging (every service that consumes messages)
  DEAD_LETTER_NOT_FOUND: { status: 404, title: 'No such dead letter' },
  DEAD_LETTER_REPLAY_FAILED: { status: 422, title: 'The dead letter failed again when replayed; it stays in the queue' },

  // identity
  EMAIL_TAKEN: { status: 409, title: 'An account with this email already exists' },
  WEAK_PASSWORD: { status: 400, title: 'The password does not meet the password policy' },
  INVALID_CREDENTIALS: { status: 401, title: 'Email or password is incorrect' },
  LOGIN_THROTTLED: { status: 429, title: 'Too many login attempts; try again later' },
  REFRESH_TOKEN_INVALID: { status: 401, title: 'The refresh token is invalid, expired or revoked' },
  ADDRESS_NOT_FOUND: { status: 404, title: 'No such address' },
  ADDRESS_LIMIT_REACHED: { status: 409, title: 'The account already has the maximum number of addresses' },

  // catalog
  PRODUCT_NOT_FOUND: { status: 404, title: 'No such product' },
  CATEGORY_NOT_FOUND: { status: 422, title: 'No such category' },
  CATEGORY_TAKEN: { status: 409, title: 'A category with this slug already exists' },
  SKU_TAKEN: { status: 409, title: 'A product with this SKU already exists' },
  INSUFFICIENT_STOCK: { status: 409, title: 'Stock cannot go below what is reserved or below zero' },

  // notifications
  NOTIFICATION_NOT_FOUND: { status: 404, title: 'No such notification' },

  // orders
  ORDER_NOT_FOUND: { status: 404, title: 'No such order' },
  IDEMPOTENCY_KEY_REQUIRED: { status: 400, title: 'This request needs an Idempotency-Key header' },
  IDEMPOTENCY_KEY_REUSED: { status: 422, title: 'This Idempotency-Key was already used with a different request' },
  IDEMPOTENCY_KEY_IN_PROGRESS: { status: 409, title: 'A request with this Idempotency-Key is still being processed' },
  PRODUCT_UNAVAILABLE: { status: 422, title: 'A product in the order does not exist or is not for sale' },
  CURRENCY_MISMATCH: { status: 422, title: 'The products of one order must be priced in one currency' },
  ORDER_NOT_CANCELLABLE: { status: 409, title: 'The order can no longer be cancelled' },
  ORDER_CONFLICT: { status: 409, title: 'The order was changed concurrently; try again' },
  SAGA_NOT_FOUND: { status: 404, title: 'No checkout saga for this order' },

  // payments
  CARD_INVALID: { status: 422, title: 'The card details are not valid' },
  CARD_EXPIRED: { status: 422, title: 'The card has expired' },
  PAYMENT_NOT_FOUND: { status: 404, title: 'No such payment' },

  // shipping
  SHIPMENT_NOT_FOUND: { status: 404, title: 'No such shipment' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof errorCatalogue;

/** The `type` URI of a problem document for `code` (RFC 9457 §3.1.1). */
export function problemType(code: ErrorCode): string {
  return `urn:bazaar:problem:${code.toLowerCase().replaceAll('_', '-')}`;
}
