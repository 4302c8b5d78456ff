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
        categoryId: Type.Union([Type.String({ format: 'uuid' }), Type.Null()]),
        active: Type.Boolean(),
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
        reason: Type.String({ minLength: 1, maxLength: 200 }),
      },
      { additionalProperties: false },
    ),
  }),
} as const;
