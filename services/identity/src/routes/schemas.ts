import { Type } from '@bazaar/chassis';
import { Problem } from '@bazaar/contracts';

export { Problem };

export const RoleSchema = Type.Union([Type.Literal('customer'), Type.Literal('admin')]);

/** A line of text with at least one visible character. */
const text = (maxLength: number, description?: string) =>
  Type.String({ minLength: 1, maxLength, pattern: '\\S', ...(description ? { description } : {}) });

/** Generous bound: the policy (max 128 characters) answers WEAK_PASSWORD; this only caps what gets hashed. */
const PasswordInput = Type.String({ minLength: 1, maxLength: 1024 });
const EmailInput = Type.String({ minLength: 1, maxLength: 320, description: 'Compared trimmed and case-insensitively' });
const RefreshTokenInput = Type.String({ minLength: 1, maxLength: 512 });

export const RegisterBody = Type.Object(
  {
    email: EmailInput,
    password: Type.String({ ...PasswordInput, description: '12 to 128 characters; not your email, not a common password' }),
    name: text(100, 'Display name'),
  },
  { additionalProperties: false },
);

export const LoginBody = Type.Object({ email: EmailInput, password: PasswordInput }, { additionalProperties: false });

export const RefreshBody = Type.Object({ refreshToken: RefreshTokenInput }, { additionalProperties: false });

export const UserView = Type.Object({
  id: Type.String({ format: 'uuid' }),
  email: Type.String(),
  name: Type.String(),
  roles: Type.Array(RoleSchema),
});

export const TokenResponse = Type.Object({
  accessToken: Type.String({ description: 'EdDSA-signed JWT; send as "Authorization: Bearer <token>"' }),
  refreshToken: Type.String({ description: 'Opaque, single use: exchange it at /refresh for a new pair' }),
  tokenType: Type.Literal('Bearer'),
  expiresIn: Type.Integer({ description: 'Seconds until the access token expires' }),
});

export const AddressBody = Type.Object(
  {
    label: Type.Optional(Type.String({ maxLength: 50, description: 'e.g. "Home", "Work"' })),
    name: text(100, 'Recipient'),
    line1: text(200),
    line2: Type.Optional(Type.String({ maxLength: 200 })),
    city: text(100),
    postalCode: text(20),
    country: Type.String({ pattern: '^[A-Za-z]{2}$', description: 'ISO 3166-1 alpha-2 country code, e.g. DE' }),
  },
  { additionalProperties: false },
);

export const AddressView = Type.Object({
  id: Type.String({ format: 'uuid' }),
  label: Type.Optional(Type.String()),
  name: Type.String(),
  line1: Type.String(),
  line2: Type.Optional(Type.String()),
  city: Type.String(),
  postalCode: Type.String(),
  country: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
});

export const MeView = Type.Object({
  id: Type.String({ format: 'uuid' }),
  email: Type.String(),
  name: Type.String(),
  roles: Type.Array(RoleSchema),
  createdAt: Type.String({ format: 'date-time' }),
  addresses: Type.Array(AddressView),
});

export const AddressId = Type.Object({ id: Type.String({ format: 'uuid' }) }, { additionalProperties: false });

export const Jwks = Type.Object({
  keys: Type.Array(
    Type.Object({
      kty: Type.Literal('OKP'),
      crv: Type.Literal('Ed25519'),
      x: Type.String(),
      kid: Type.String(),
      alg: Type.Literal('EdDSA'),
      use: Type.Literal('sig'),
    }),
  ),
});

export const RotatedKey = Type.Object({ kid: Type.String(), createdAt: Type.String({ format: 'date-time' }) });
