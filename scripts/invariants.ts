/**
 * The checkout invariants of the brief, checked across every service's database:
 * orders end terminal; captured money equals the total of confirmed orders and is
 * zero for cancelled ones; stock is conserved and never negative; no duplicate
 * charge, shipment or notification. Read-only; operators run it through
 * `npm run check:invariants`, tests call `checkInvariants` directly.
 */
import pg from 'pg';

export interface Violation {
  invariant: 'order-terminal' | 'money' | 'stock' | 'shipment' | 'notification';
  /** The order or product concerned. */
  subject: string;
  detail: string;
}

export interface InvariantReport {
  orders: { confirmed: number; cancelled: number; pending: number; inFlight: number };
  products: number;
  violations: Violation[];
}

export interface InvariantDatabases {
  orders: string;
  catalog: string;
  payments: string;
  shipping: string;
  notifications: string;
}

async function rows<R>(url: string, sql: string): Promise<R[]> {
  const client = new pg.Client({ connectionString: url, application_name: 'invariant-checker' });
  await client.connect();
  try {
    // One snapshot per database: its rows agree with each other.
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const result = await client.query(sql);
    await client.query('COMMIT');
    return result.rows as R[];
  } finally {
    await client.end();
  }
}

interface OrderRow {
  order_id: string;
  status: 'PENDING' | 'CONFIRMED' | 'CANCELLED';
  total_amount: string;
  placed_at: Date;
  items: Array<{ productId: string; quantity: number }>;
}

/**
 * Checks every invariant. Orders still PENDING and younger than `graceMs` are in
 * flight: counted, not judged (nor are their payments, shipments and stock).
 */
export async function checkInvariants(databases: InvariantDatabases, options: { graceMs?: number; now?: Date } = {}): Promise<InvariantReport> {
  const graceMs = options.graceMs ?? 60_000;
  const now = options.now ?? new Date();
  const [orders, products, reservations, payments, shipments, notifications] = await Promise.all([
    rows<OrderRow>(databases.orders, "SELECT s.order_id, s.status, s.total_amount, s.placed_at, d.document->'items' AS items FROM order_summaries s JOIN order_details d USING (order_id)"),
    rows<{ id: string; name: string; on_hand: number; reserved: number; sold: number; received: string | null }>(
      databases.catalog,
      `SELECT p.id, p.name, p.on_hand, p.reserved, p.sold, (SELECT sum(delta) FROM stock_adjustments a WHERE a.product_id = p.id) AS received FROM products p`,
    ),
    rows<{ order_id: string; status: string; product_id: string | null; quantity: number | null }>(
      databases.catalog,
      'SELECT r.order_id, r.status, l.product_id, l.quantity FROM reservations r LEFT JOIN reservation_lines l USING (order_id)',
    ),
    rows<{ order_id: string; status: string; customer_id: string | null; captured_amount: string; refunded_amount: string }>(
      databases.payments,
      'SELECT order_id, status, customer_id, captured_amount, refunded_amount FROM payments',
    ),
    rows<{ order_id: string; status: string; customer_id: string | null }>(databases.shipping, 'SELECT order_id, status, customer_id FROM shipments'),
    rows<{ order_id: string; kind: string; n: string }>(
      databases.notifications,
      "SELECT order_id, kind, count(*) AS n FROM notifications WHERE order_id IS NOT NULL GROUP BY order_id, kind",
    ),
  ]);

  const violations: Violation[] = [];
  const flag = (invariant: Violation['invariant'], subject: string, detail: string) => violations.push({ invariant, subject, detail });
  const report: InvariantReport = { orders: { confirmed: 0, cancelled: 0, pending: 0, inFlight: 0 }, products: products.length, violations };

  const paymentsByOrder = new Map(payments.map((p) => [p.order_id, p]));
  const shipmentsByOrder = new Map(shipments.map((s) => [s.order_id, s]));
  const reservationsByOrder = new Map<string, { status: string; lines: Map<string, number> }>();
  for (const r of reservations) {
    const entry = reservationsByOrder.get(r.order_id) ?? { status: r.status, lines: new Map<string, number>() };
    if (r.product_id) entry.lines.set(r.product_id, r.quantity!);
    reservationsByOrder.set(r.order_id, entry);
  }
  const notificationCounts = new Map(notifications.map((n) => [`${n.order_id}/${n.kind}`, Number(n.n)]));
  const judged = new Set<string>();

  for (const order of orders) {
    const id = order.order_id;
    if (order.status === 'PENDING') {
      if (now.getTime() - order.placed_at.getTime() < graceMs) {
        report.orders.inFlight++;
        continue;
      }
      report.orders.pending++;
      flag('order-terminal', id, `still PENDING ${Math.round((now.getTime() - order.placed_at.getTime()) / 1000)} s after it was placed`);
      continue;
    }
    judged.add(id);
    const confirmed = order.status === 'CONFIRMED';
    if (confirmed) report.orders.confirmed++;
    else report.orders.cancelled++;

    // Money: captured − refunded is the order total when confirmed, zero when cancelled; nothing stays authorized.
    const payment = paymentsByOrder.get(id);
    const net = payment ? Number(payment.captured_amount) - Number(payment.refunded_amount) : 0;
    const expected = confirmed ? Number(order.total_amount) : 0;
    if (net !== expected) flag('money', id, `${order.status} order of ${order.total_amount}: captured − refunded is ${net}, expected ${expected}`);
    if (payment?.status === 'AUTHORIZED') flag('money', id, `${order.status} order still holds an authorization (never captured or voided)`);

    // Stock: a confirmed order's reservation is committed with the order's lines; a cancelled order holds none.
    const reservation = reservationsByOrder.get(id);
    if (confirmed) {
      if (reservation?.status !== 'COMMITTED') flag('stock', id, `CONFIRMED order's reservation is ${reservation?.status ?? 'missing'}, expected COMMITTED`);
      else {
        for (const item of order.items) {
          if (reservation.lines.get(item.productId) !== item.quantity) flag('stock', id, `committed ${reservation.lines.get(item.productId) ?? 0} of product ${item.productId}, ordered ${item.quantity}`);
        }
      }
    } else if (reservation && (reservation.status === 'RESERVED' || reservation.status === 'COMMITTED')) {
      flag('stock', id, `CANCELLED order still holds stock (reservation ${reservation.status})`);
    }

    // Shipments: one booked or dispatched for a confirmed order, none live for a cancelled one.
    const shipment = shipmentsByOrder.get(id);
    if (confirmed && !(shipment && (shipment.status === 'BOOKED' || shipment.status === 'DISPATCHED'))) {
      flag('shipment', id, `CONFIRMED order's shipment is ${shipment?.status ?? 'missing'}`);
    }
    if (!confirmed && shipment && (shipment.status === 'BOOKED' || shipment.status === 'DISPATCHED')) flag('shipment', id, `CANCELLED order has a ${shipment.status} shipment`);

    // Notifications: exactly one for the order's outcome.
    const kind = confirmed ? 'order-confirmed' : 'order-cancelled';
    const count = notificationCounts.get(`${id}/${kind}`) ?? 0;
    if (count !== 1) flag('notification', id, `${count} ${kind} notifications, expected exactly 1`);
  }

  // No duplicate notification of any kind for any order (the shipment and refund ones too).
  for (const [key, count] of notificationCounts) if (count > 1) flag('notification', key.split('/')[0]!, `${count} ${key.split('/')[1]} notifications`);

  // Payments and shipments of orders that do not exist (tombstones aside) would be money or goods gone astray.
  const known = new Set(orders.map((o) => o.order_id));
  for (const payment of payments) if (payment.customer_id && !known.has(payment.order_id)) flag('money', payment.order_id, `payment ${payment.status} for an order orders does not know`);
  for (const shipment of shipments) if (shipment.customer_id && !known.has(shipment.order_id)) flag('shipment', shipment.order_id, `shipment ${shipment.status} for an order orders does not know`);

  // Stock per product: received = on hand + sold; reserved = open reservations; nothing negative.
  const openReserved = new Map<string, number>();
  const committed = new Map<string, number>();
  for (const r of reservations) {
    if (!r.product_id) continue;
    if (r.status === 'RESERVED') openReserved.set(r.product_id, (openReserved.get(r.product_id) ?? 0) + r.quantity!);
    if (r.status === 'COMMITTED') committed.set(r.product_id, (committed.get(r.product_id) ?? 0) + r.quantity!);
  }
  for (const product of products) {
    const received = Number(product.received ?? 0);
    if (product.on_hand < 0 || product.reserved < 0 || product.sold < 0 || product.reserved > product.on_hand) {
      flag('stock', product.id, `${product.name}: on hand ${product.on_hand}, reserved ${product.reserved}, sold ${product.sold}`);
    }
    if (received !== product.on_hand + product.sold) flag('stock', product.id, `${product.name}: received ${received} ≠ on hand ${product.on_hand} + sold ${product.sold}`);
    if (product.reserved !== (openReserved.get(product.id) ?? 0)) flag('stock', product.id, `${product.name}: reserved ${product.reserved} ≠ open reservations ${openReserved.get(product.id) ?? 0}`);
    if (product.sold !== (committed.get(product.id) ?? 0)) flag('stock', product.id, `${product.name}: sold ${product.sold} ≠ committed reservations ${committed.get(product.id) ?? 0}`);
  }
  return report;
}
