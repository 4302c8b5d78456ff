import { extendConfig, Type } from '@bazaar/chassis';

export const NotificationsConfig = extendConfig({
  /** Where identity runs; its JWKS verifies access tokens. */
  IDENTITY_URL: Type.String({ format: 'uri' }),
  /**
   * The mail server notifications are emailed through, e.g. `smtp://127.0.0.1:2525`
   * or `smtps://user:pass@mail.example.com`. Unset: notifications stay in the inbox.
   */
  SMTP_URL: Type.Optional(Type.String({ pattern: '^smtps?://\\S+$' })),
  /** The sender of notification emails. */
  SMTP_FROM: Type.String({ minLength: 3, maxLength: 200, default: 'Bazaar <no-reply@bazaar.local>' }),
  /** How often the email sender looks for emails due. */
  EMAIL_POLL_MS: Type.Integer({ minimum: 10, default: 1_000 }),
  /** Sending attempts of one email before it is given up as failed. */
  EMAIL_MAX_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 100, default: 12 }),
  /** Base of the exponential backoff (capped at 15 minutes) between attempts of a failing email. */
  EMAIL_BACKOFF_BASE_MS: Type.Integer({ minimum: 1, default: 5_000 }),
});
