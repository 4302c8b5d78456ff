import { Type } from 'typebox';
import { defineMessage } from './define.ts';

export const identityMessages = {
  'identity.user-registered.v1': defineMessage({
    kind: 'event',
    summary: 'A customer account was created.',
    key: 'userId',
    schema: Type.Object(
      {
        userId: Type.String({ format: 'uuid' }),
        email: Type.String({ format: 'email', maxLength: 254 }),
        name: Type.String({ minLength: 1, maxLength: 100 }),
        registeredAt: Type.String({ format: 'date-time' }),
      },
      { additionalProperties: false },
    ),
  }),
} as const;
