import { AppError, Type, type Principal, type ServiceApp, type ServiceContext } from '@bazaar/chassis';
import { Problem } from '@bazaar/contracts';
import { checkCard } from '../domain/card.ts';
import { PaymentView, paymentView } from '../domain/payment.ts';
import { PaymentMethodRepository } from '../persistence/payment-method-repository.ts';
import { PaymentRepository } from '../persistence/payment-repository.ts';

const PaymentId = Type.Object({ id: Type.String({ format: 'uuid' }) }, { additionalProperties: false });
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// The same bounds orders accepts for the card of an order, so what orders forwards is never a 400 here.
const CardInput = Type.Object(
  {
    cardNumber: Type.String({ minLength: 1, maxLength: 64, description: '12 to 19 digits; spaces between groups are allowed', examples: ['4242 4242 4242 4242'] }),
    expMonth: Type.Integer({ minimum: 1, maximum: 12 }),
    expYear: Type.Integer({ minimum: 2000, maximum: 2200 }),
    cvc: Type.String({ pattern: '^[0-9]{3,4}$', description: 'Checked for form only, never stored' }),
  },
  { additionalProperties: false },
);

const TokenView = Type.Object({
  token: Type.String({ description: 'Opaque payment token: what an order carries instead of the card' }),
  brand: Type.Union([Type.Literal('visa'), Type.Literal('mastercard'), Type.Literal('amex'), Type.Literal('unknown')]),
  last4: Type.String({ pattern: '^[0-9]{4}$' }),
  expMonth: Type.Integer(),
  expYear: Type.Integer(),
});

/** The caller's user id: identity issues tokens whose subject is the user's uuid. */
function customerOf(principal: Principal | undefined): string {
  if (!principal || !uuid.test(principal.userId)) throw new AppError('UNAUTHENTICATED', 'The access token does not name a user');
  return principal.userId;
}

export async function paymentRoutes(app: ServiceApp, { db }: ServiceContext): Promise<void> {
  if (!db) throw new Error('payments needs its database');
  const payments = new PaymentRepository(db);
  const methods = new PaymentMethodRepository(db);

  app.post(
    '/api/payments/tokens',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['payments'],
        summary: 'Tokenize a card: payments keeps its brand and last four only and answers an opaque token',
        body: CardInput,
        response: { 201: TokenView, 400: Problem, 401: Problem, 415: Problem, 422: Problem },
      },
    },
    async (request, reply) => {
      const customerId = customerOf(request.principal);
      const { expMonth, expYear } = request.body;
      const checked = checkCard(request.body, new Date());
      if (!checked.ok) throw new AppError(checked.code, checked.detail);
      const method = await methods.create(customerId, { ...checked.card, expMonth, expYear });
      return reply.code(201).send({ token: method.token, brand: method.brand, last4: method.last4, expMonth, expYear });
    },
  );

  app.get(
    '/api/payments',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['payments'],
        summary: "The caller's payments, newest first; an admin sees everyone's, or one customer's with customerId",
        querystring: Type.Object(
          {
            orderId: Type.Optional(Type.String({ format: 'uuid', description: 'Only the payment of this order' })),
            customerId: Type.Optional(Type.String({ format: 'uuid', description: "Admins only: this customer's payments" })),
            page: Type.Integer({ minimum: 1, maximum: 10_000, default: 1 }),
            pageSize: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ items: Type.Array(PaymentView), total: Type.Integer(), page: Type.Integer(), pageSize: Type.Integer() }),
          400: Problem,
          401: Problem,
          403: Problem,
        },
      },
    },
    async (request) => {
      const { orderId, customerId, page, pageSize } = request.query;
      const caller = customerOf(request.principal);
      const admin = request.principal?.roles.includes('admin') === true;
      if (customerId !== undefined && !admin && customerId !== caller) throw new AppError('FORBIDDEN', "Only admins may list another customer's payments");
      const result = await payments.list({ customerId: admin ? customerId : caller, orderId, page, pageSize });
      return { items: result.items.map(paymentView), total: result.total, page, pageSize };
    },
  );

  app.get(
    '/api/payments/:id',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['payments'],
        summary: 'One of your payments',
        params: PaymentId,
        response: { 200: PaymentView, 400: Problem, 401: Problem, 404: Problem },
      },
    },
    async (request) => {
      const { id } = request.params;
      const payment = await payments.findOwn(id, customerOf(request.principal));
      if (!payment) throw new AppError('PAYMENT_NOT_FOUND', `You have no payment with id ${id}`);
      return paymentView(payment);
    },
  );
}
