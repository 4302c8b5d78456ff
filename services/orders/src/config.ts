import { Type, extendConfig } from '@bazaar/chassis';

export const OrdersConfig = extendConfig({
  /** Where identity runs; its JWKS verifies access tokens. */
  IDENTITY_URL: Type.String({ format: 'uri' }),
  /**
   * Where catalog runs (the fallback when the registry lists no live instance): prices are read
   * from it when an order is placed. Deadlines and retries of these calls are the declared call
   * policies (packages/topology/src/call-policies.ts, CALL_POLICY_OVERRIDES).
   */
  CATALOG_URL: Type.String({ format: 'uri' }),
  /** Where payments runs: cards are tokenized there when an order is placed. */
  PAYMENTS_URL: Type.String({ format: 'uri' }),
  /** How long a saga step may take before the saga compensates (the slow test card takes 3 s). */
  SAGA_STEP_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 15_000 }),
  /** How often the saga looks for steps past their deadline. */
  SAGA_SWEEP_MS: Type.Integer({ minimum: 10, default: 250 }),
  /** How long catalog holds an order's stock unless committed or released; well beyond the saga's own deadlines. */
  RESERVATION_TTL_MS: Type.Integer({ minimum: 1_000, default: 900_000 }),
  /** Backoff (full jitter) before a compensation that failed is sent again. */
  COMPENSATION_BACKOFF_BASE_MS: Type.Integer({ minimum: 1, default: 500 }),
  COMPENSATION_BACKOFF_MAX_MS: Type.Integer({ minimum: 1, default: 60_000 }),
  /** From this many attempts a compensation is reported stuck (metric saga_compensations_stuck, error log). */
  COMPENSATION_STUCK_AFTER: Type.Integer({ minimum: 1, default: 5 }),
  /**
   * Overrides of the declared policies of the saga's commands, per participant (JSON, e.g.
   * `{"payments": {"breaker": {"minimumCalls": 10}}}`; see CommandPolicy in
   * packages/topology/src/call-policies.ts). Checked at start: a field that is not a policy's stops the service.
   */
  COMMAND_POLICY_OVERRIDES: Type.String({ default: '{}' }),
  /** Snapshot an order's state every this many events. */
  ORDER_SNAPSHOT_EVERY: Type.Integer({ minimum: 1, default: 10 }),
  /** Key of the Idempotency-Key request fingerprint; generated and kept in the database when unset. */
  ORDERS_FINGERPRINT_KEY: Type.Optional(Type.String({ minLength: 32 })),
});
