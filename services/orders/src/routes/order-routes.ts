import { AppError, Type, type Principal, type ServiceApp } from '@bazaar/chassis';
import { Problem } from '@bazaar/contracts';
import { OrderLine, ShippingAddress } from '@bazaar/contracts/messages';
import { NotCancellableError, type CheckoutSaga } from '../application/checkout-saga.ts';
import type { OrderUpdates } from '../application/order-updates.ts';
import type { PlaceOrder } from '../application/place-order.ts';
import { OrderStatus, OrderSummary, OrderView } from '../domain/order-view.ts';
import { ConcurrencyError } from '../persistence/order-event-store.ts';
import type { OrderProjections } from '../persistence/order-projections.ts';
import type { Database } from '@bazaar/chassis';

const OrderId = Type.Object({ id: Type.String({ format: 'uuid' }) }, { additionalProperties: false });
const Placed = Type.Object({ id: Type.String({ format: 'uuid' }), status: OrderStatus });
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const PlaceOrderBody = Type.Object(
  {
    items: Type.Array(OrderLine, { minItems: 1, maxItems: 50 }),
    shippingAddress: ShippingAddress,
    payment: Type.Object(
      {
        cardNumber: Type.String({ minLength: 12, maxLength: 23, pattern: '^[0-9 ]+$' }),
        expMonth: Type.Integer({ minimum: 1, maximum: 12 }),
        expYear: Type.Integer({ minimum: 2000, maximum: 2200 }),
        cvc: Type.String({ pattern: '^[0-9]{3,4}$' }),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);

/** The caller's user id: identity issues tokens whose subject is the user's uuid. */
function customerOf(principal: Principal | undefined): string {
  if (!principal || !uuid.test(principal.userId)) throw new AppError('UNAUTHENTICATED', 'The access token does not name a user');
  return principal.userId;
}

export interface OrderRouteDeps {
  db: Database;
  placeOrder: PlaceOrder;
  saga: CheckoutSaga;
  projections: OrderProjections;
  updates: OrderUpdates;
}

export function orderRoutes(app: ServiceApp, { db, placeOrder, saga, projections, updates }: OrderRouteDeps): void {
  /** The order as its customer sees it; another customer's order does not exist for them. */
  async function ownOrder(id: string, principal: Principal | undefined) {
    const customerId = customerOf(principal);
    const order = await projections.detail(db, id);
    if (!order || (order.customerId !== customerId && !principal!.roles.includes('admin'))) throw new AppError('ORDER_NOT_FOUND', `You have no order with id ${id}`);
    const { customerId: _owner, ...view } = order;
    return view;
  }

  app.post(
    '/api/orders',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['orders'],
        summary: 'Place an order; checkout runs asynchronously (watch GET /api/orders/:id or its event stream)',
        headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7E]+$' })) }),
        body: PlaceOrderBody,
        response: { 202: Placed, 400: Problem, 401: Problem, 409: Problem, 422: Problem, 502: Problem, 503: Problem, 504: Problem },
      },
    },
    async (request, reply) => {
      const key = request.headers['idempotency-key'];
      if (!key) throw new AppError('IDEMPOTENCY_KEY_REQUIRED', 'Send an Idempotency-Key header (a fresh random value per order, e.g. a UUID)');
      const placed = await placeOrder.place(customerOf(request.principal), key, request.body, request.headers.authorization);
      return reply.code(202).header('location', `/api/orders/${placed.id}`).send(placed);
    },
  );

  app.get(
    '/api/orders',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['orders'],
        summary: "The caller's orders, newest first",
        querystring: Type.Object(
          {
            status: Type.Optional(OrderStatus),
            page: Type.Integer({ minimum: 1, maximum: 10_000, default: 1 }),
            pageSize: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(OrderSummary), total: Type.Integer(), page: Type.Integer(), pageSize: Type.Integer() }), 400: Problem, 401: Problem },
      },
    },
    async (request) => {
      const { status, page, pageSize } = request.query;
      const result = await projections.listFor(db, customerOf(request.principal), { status, page, pageSize });
      return { ...result, page, pageSize };
    },
  );

  app.get(
    '/api/orders/:id',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['orders'],
        summary: 'One of your orders: status, items, total, the reason if cancelled, and its timeline',
        params: OrderId,
        response: { 200: OrderView, 400: Problem, 401: Problem, 404: Problem },
      },
    },
    async (request) => ownOrder(request.params.id, request.principal),
  );

  app.post(
    '/api/orders/:id/cancel',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['orders'],
        summary: 'Cancel one of your orders until it is confirmed; completed checkout steps are compensated',
        params: OrderId,
        response: { 202: Placed, 400: Problem, 401: Problem, 404: Problem, 409: Problem },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      await ownOrder(id, request.principal);
      for (let attempt = 1; ; attempt++) {
        try {
          const order = await db.transaction((tx) => saga.handle(tx, id, { kind: 'cancel' }, new Date()));
          if (!order) throw new AppError('ORDER_NOT_FOUND', `You have no order with id ${id}`);
          return reply.code(202).send({ id, status: order.status });
        } catch (error) {
          if (error instanceof NotCancellableError) throw new AppError('ORDER_NOT_CANCELLABLE', error.message);
          if (error instanceof ConcurrencyError && attempt < 3) continue;
          if (error instanceof ConcurrencyError) throw new AppError('ORDER_CONFLICT', 'The order changed while cancelling it; try again');
          throw error;
        }
      }
    },
  );

  app.get(
    '/api/orders/:id/events',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['orders'],
        summary: 'Server-sent events: the order now, then each change (event `order`), until it is confirmed or cancelled',
        params: OrderId,
        produces: ['text/event-stream'],
        response: { 400: Problem, 401: Problem, 404: Problem },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const first = await ownOrder(id, request.principal);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive', 'x-accel-buffering': 'no' });
      let lastSent = '';
      const send = (view: Awaited<ReturnType<typeof ownOrder>>) => {
        const state = `${view.status}:${view.updatedAt}`;
        if (state === lastSent) return;
        lastSent = state;
        res.write(`event: order\nid: ${view.timeline.length}\ndata: ${JSON.stringify(view)}\n\n`);
        if (view.status !== 'PENDING') close();
      };
      let unsubscribe = () => {};
      const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
      let closed = false;
      const close = () => {
        if (closed) return;
        closed = true;
        clearInterval(heartbeat);
        unsubscribe();
        res.end();
      };
      request.raw.on('close', close);
      let refreshing = Promise.resolve();
      // In order: a view that came with its notice is sent as it is (the stream's owner was checked
      // when it opened); otherwise it is read again.
      const refresh = (view?: Awaited<ReturnType<typeof ownOrder>>) => {
        refreshing = refreshing.then(async () => {
          if (closed) return;
          try {
            send(view ?? (await ownOrder(id, request.principal)));
          } catch {
            close();
          }
        });
      };
      unsubscribe = await updates.subscribe(id, refresh);
      send(first);
      refresh(); // a change between the first read and the subscription is not missed
    },
  );

  const admin = app.requireRole('admin');
  app.get(
    '/api/orders/admin/orders',
    {
      onRequest: admin,
      schema: {
        tags: ['orders', 'admin'],
        summary: "Every customer's orders, newest first; by status (PENDING: checkouts in flight) or one customer's (admin)",
        querystring: Type.Object(
          {
            status: Type.Optional(OrderStatus),
            customerId: Type.Optional(Type.String({ format: 'uuid' })),
            page: Type.Integer({ minimum: 1, maximum: 10_000, default: 1 }),
            pageSize: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ items: Type.Array(Type.Object({ ...OrderSummary.properties, customerId: Type.String({ format: 'uuid' }) })), total: Type.Integer(), page: Type.Integer(), pageSize: Type.Integer() }),
          400: Problem,
          401: Problem,
          403: Problem,
        },
      },
    },
    async (request) => {
      const { status, customerId, page, pageSize } = request.query;
      return { ...(await projections.list(db, { status, customerId, page, pageSize })), page, pageSize };
    },
  );

  app.get(
    '/api/orders/admin/sagas/:id',
    {
      onRequest: admin,
      schema: {
        tags: ['orders', 'admin'],
        summary: "An order's checkout saga: state, what it waits on, and every command, reply, deadline and retry (admin)",
        params: OrderId,
        response: {
          200: Type.Object({
            orderId: Type.String(),
            status: Type.String(),
            awaiting: Type.Array(Type.String(), { description: 'The commands sent and not yet answered: the steps of the stage in flight, or the compensation in flight' }),
            deadlineAt: Type.Union([Type.String(), Type.Null()]),
            attempts: Type.Integer(),
            startedAt: Type.String(),
            updatedAt: Type.String(),
            timeline: Type.Array(Type.Object({ at: Type.String(), action: Type.String(), step: Type.Union([Type.String(), Type.Null()]), detail: Type.Union([Type.String(), Type.Null()]) })),
          }),
          400: Problem,
          401: Problem,
          403: Problem,
          404: Problem,
        },
      },
    },
    async (request) => {
      const timeline = await saga.timeline(db, request.params.id);
      if (!timeline) throw new AppError('SAGA_NOT_FOUND', `No checkout saga for order ${request.params.id}`);
      return timeline;
    },
  );
}
