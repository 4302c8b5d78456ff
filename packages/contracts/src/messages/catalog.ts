import { Type } from 'typebox';
import { Money } from '../money.ts';
import { defineMessage } from './define.ts';

const productId = Type.String({ format: 'uuid' });

export const catalogMessages = {
  'catalog.product-changed.v1': defineMessage({
    kind: 'event',
    summary: 'A product was created or its name, price, category or availability changed.',
    key: 'productId',
    schema: Type.Object(
      {
        productId,
        sku: Type.String({ minLength: 1, maxLength: 64 }),
        name: Type.String({ minLength: 1, maxLength: 200 }),
        price: Money,
        category: Type.String({ minLength: 1, maxLength: 64, description: 'Category slug' }),
        active: Type.Boolean(),
        /** The product's version after the change (its ETag); higher is newer. */
        version: Type.Integer({ minimum: 1 }),
        change: Type.Union([Type.Literal('created'), Type.Literal('updated')]),
      },
      { additionalProperties: false },
    ),
  }),
  'catalog.stock-changed.v1': defineMessage({
    kind: 'event',
    summary: 'The stock of a product changed (received, adjusted, reserved or released).',
    key: 'productId',
    schema: Type.Object(
      {
        productId,
        onHand: Type.Integer({ minimum: 0 }),
        reserved: Type.Integer({ minimum: 0 }),
        available: Type.Integer({ minimum: 0 }),
        /** The product's version after the change; higher is newer. */
        version: Type.Integer({ minimum: 1 }),
        reason: Type.String({ minLength: 1, maxLength: 200 }),
      },
      { additionalProperties: false },
    ),
  }),
} as const;
