import { randomBytes } from 'node:crypto';
import type { ServiceContext, ServiceModule } from '@bazaar/chassis';
import type { Static } from '@bazaar/chassis';
import { CheckoutSaga } from './application/checkout-saga.ts';
import { OrderUpdates } from './application/order-updates.ts';
import { PlaceOrder } from './application/place-order.ts';
import { CatalogClient } from './clients/catalog-client.ts';
import { PaymentsClient } from './clients/payments-client.ts';
import { OrdersConfig } from './config.ts';
import { orderHandlers } from './handlers/message-handlers.ts';
import { OrderEventStore } from './persistence/order-event-store.ts';
import { OrderProjections } from './persistence/order-projections.ts';
import { orderRoutes } from './routes/order-routes.ts';

type Context = ServiceContext<Static<typeof OrdersConfig> & ServiceContext['config']>;

/** The parts of one orders instance, shared by its routes and its message handlers. */
function wire(context: Context): OrdersParts {
  let parts = instances.get(context);
  if (parts) return parts;
  const { db, config, outbox, log, metrics } = context;
  if (!db) throw new Error('orders needs its database');
  const store = new OrderEventStore({ snapshotEvery: config.ORDER_SNAPSHOT_EVERY });
  const projections = new OrderProjections();
  const saga = new CheckoutSaga({
    db,
    store,
    projections,
    outbox,
    log,
    metrics,
    commandPolicies: config.COMMAND_POLICY_OVERRIDES,
    settings: {
      stepTimeoutMs: config.SAGA_STEP_TIMEOUT_MS,
      reservationTtlMs: config.RESERVATION_TTL_MS,
      compensationBackoffBaseMs: config.COMPENSATION_BACKOFF_BASE_MS,
      compensationBackoffMaxMs: config.COMPENSATION_BACKOFF_MAX_MS,
      stuckAfterAttempts: config.COMPENSATION_STUCK_AFTER,
    },
  });
  const placeOrder = new PlaceOrder({
    db,
    store,
    projections,
    saga,
    catalog: new CatalogClient(context.upstreams.get('catalog')),
    payments: new PaymentsClient(context.upstreams.get('payments')),
    fingerprintKey: () => fingerprintKey(context),
  });
  parts = { db, store, projections, saga, placeOrder, updates: new OrderUpdates(db) };
  instances.set(context, parts);
  return parts;
}
interface OrdersParts {
  db: NonNullable<Context['db']>;
  store: OrderEventStore;
  projections: OrderProjections;
  saga: CheckoutSaga;
  placeOrder: PlaceOrder;
  updates: OrderUpdates;
}
const instances = new WeakMap<object, OrdersParts>();

/** The request-fingerprint key: from config, else generated once and kept in the database. */
async function fingerprintKey({ db, config }: Context): Promise<string> {
  if (config.ORDERS_FINGERPRINT_KEY) return config.ORDERS_FINGERPRINT_KEY;
  await db!.query("INSERT INTO service_keys (name, value) VALUES ('request-fingerprint', $1) ON CONFLICT DO NOTHING", [randomBytes(32).toString('base64url')]);
  const { rows } = await db!.query<{ value: string }>("SELECT value FROM service_keys WHERE name = 'request-fingerprint'");
  return rows[0]!.value;
}

export const ordersService: ServiceModule<typeof OrdersConfig> = {
  name: 'orders',
  title: 'Bazaar orders',
  description: 'Event-sourced orders with their read models, and the checkout saga that reserves stock, takes payment and books shipping.',
  configSchema: OrdersConfig,
  migrations: new URL('../migrations/', import.meta.url),
  routes: async (app, context) => {
    const parts = wire(context);
    orderRoutes(app, parts);
    // The deadline sweeper: steps past their deadline are compensated, stuck compensations resent;
    // then the commands in flight per participant are counted for the bulkheads.
    let sweeping: Promise<unknown> = Promise.resolve();
    const timer = setInterval(() => {
      sweeping = sweeping.then(() => parts.saga.sweep()).then(() => parts.saga.countInFlight()).catch((error: unknown) => context.log.error({ err: error }, 'saga deadline sweep failed'));
    }, context.config.SAGA_SWEEP_MS);
    timer.unref();
    app.addHook('onClose', async () => {
      clearInterval(timer);
      await sweeping;
      await parts.updates.close();
    });
  },
  messageHandlers: (context) => orderHandlers(wire(context).saga),
};
