import { randomUUID } from 'node:crypto';
import type { Database } from '@bazaar/chassis';

/** The demo catalog: what a fresh `npm start` sells. Deterministic, so screenshots and tests agree. */
const demo: Record<string, { name: string; products: Array<[name: string, description: string, cents: number]> }> = {
  books: {
    name: 'Books',
    products: [
      ['Designing Data-Intensive Applications', 'The big ideas behind reliable, scalable and maintainable systems.', 4599],
      ['Building Microservices', 'Designing fine-grained systems, second edition.', 4299],
      ['Domain-Driven Design Distilled', 'A short, practical introduction to bounded contexts and aggregates.', 2999],
      ['Release It!', 'Design and deploy production-ready software: stability patterns and antipatterns.', 3799],
      ['Site Reliability Engineering', 'How Google runs production systems.', 3999],
      ['The Pragmatic Programmer', 'Your journey to mastery, 20th anniversary edition.', 3899],
      ['Database Internals', 'A deep dive into how distributed data systems work.', 4499],
    ],
  },
  electronics: {
    name: 'Electronics',
    products: [
      ['Mechanical Keyboard', 'Tenkeyless keyboard with hot-swappable tactile switches.', 12900],
      ['Wireless Mouse', 'Ergonomic mouse with a silent click and a 70-day battery.', 3900],
      ['USB-C Hub', 'Seven ports: HDMI 4K, two USB-A, SD card, Ethernet and 100 W pass-through.', 4900],
      ['Noise-Cancelling Headphones', 'Over-ear wireless headphones with 30 hours of battery.', 24900],
      ['27-inch Monitor', 'QHD IPS monitor with USB-C power delivery.', 32900],
      ['Portable SSD 1 TB', 'Pocket-sized solid-state drive, 1050 MB/s over USB-C.', 10900],
      ['Webcam HD', '1080p webcam with dual microphones and a privacy shutter.', 6900],
    ],
  },
  home: {
    name: 'Home',
    products: [
      ['Desk Lamp', 'Dimmable LED desk lamp with adjustable colour temperature.', 4500],
      ['Standing Desk Mat', 'Anti-fatigue mat for standing desks.', 5900],
      ['Wool Throw Blanket', 'Soft merino wool blanket, 130 by 170 cm.', 8900],
      ['Cork Notice Board', 'Framed cork board for notes and plans.', 2400],
      ['Wall Clock', 'Silent quartz wall clock, 30 cm, oak frame.', 3500],
      ['Linen Cushion Cover', 'Washed linen cushion cover, 50 by 50 cm.', 1900],
      ['Indoor Plant Pot', 'Ceramic plant pot with a drainage saucer.', 2200],
    ],
  },
  kitchen: {
    name: 'Kitchen',
    products: [
      ['Espresso Machine', 'Manual espresso machine with a steam wand.', 39900],
      ['Burr Coffee Grinder', 'Conical burr grinder with 40 grind settings.', 14900],
      ['Chef Knife', '20 cm chef knife, forged stainless steel.', 8900],
      ['Cast Iron Skillet', 'Pre-seasoned 26 cm cast iron skillet.', 4900],
      ['Pour-Over Kettle', 'Gooseneck kettle for precise pour-over coffee.', 5900],
      ['Cutting Board', 'End-grain walnut cutting board.', 6900],
      ['Glass Storage Jars', 'Set of six airtight glass jars.', 2900],
    ],
  },
  outdoors: {
    name: 'Outdoors',
    products: [
      ['Trail Running Shoes', 'Lightweight trail shoes with a grippy outsole.', 12900],
      ['Hiking Backpack 30 L', 'Day pack with a rain cover and hydration sleeve.', 8900],
      ['Insulated Water Bottle', 'Keeps drinks cold for 24 hours, 750 ml.', 2900],
      ['Camping Headlamp', 'Rechargeable 400-lumen headlamp with red light.', 3900],
      ['Two-Person Tent', 'Freestanding three-season tent, 2.1 kg.', 24900],
      ['Sleeping Bag', 'Down sleeping bag rated to minus 5 degrees.', 19900],
      ['Trekking Poles', 'Collapsible carbon trekking poles, pair.', 7900],
    ],
  },
  toys: {
    name: 'Toys & Games',
    products: [
      ['Wooden Building Blocks', 'Set of 100 beech wood blocks.', 3900],
      ['Strategy Board Game', 'A game of trade and settlement for 3 to 4 players.', 4400],
      ['Jigsaw Puzzle 1000', 'A 1000-piece puzzle of a night market.', 1900],
      ['Remote Control Car', 'Off-road RC car with a rechargeable battery.', 5900],
      ['Card Game', 'A fast cooperative card game for 2 to 5 players.', 1400],
      ['Kite', 'Easy-flying delta kite with 50 m line.', 2500],
      ['Chess Set', 'Walnut and maple chess set with weighted pieces.', 8900],
    ],
  },
  clothing: {
    name: 'Clothing',
    products: [
      ['Merino T-Shirt', 'Breathable merino wool t-shirt.', 6500],
      ['Rain Jacket', 'Packable waterproof jacket with taped seams.', 14900],
      ['Wool Socks', 'Cushioned hiking socks, three pairs.', 2900],
      ['Fleece Hoodie', 'Recycled fleece hoodie with a full zip.', 7900],
      ['Canvas Cap', 'Six-panel cap in waxed canvas.', 2900],
      ['Leather Belt', 'Full-grain leather belt with a brass buckle.', 4900],
      ['Linen Shirt', 'Relaxed-fit linen shirt.', 5900],
    ],
  },
  stationery: {
    name: 'Stationery',
    products: [
      ['Dot Grid Notebook', 'A5 notebook, 160 pages of 100 g paper.', 1900],
      ['Fountain Pen', 'Steel-nib fountain pen with a converter.', 3500],
      ['Mechanical Pencil', '0.5 mm drafting pencil with a metal body.', 1200],
      ['Desk Organiser', 'Bamboo organiser with five compartments.', 2700],
      ['Sticky Notes', 'Twelve pads of recycled sticky notes.', 900],
      ['Whiteboard Markers', 'Set of eight low-odour markers.', 1300],
      ['Paper Tray', 'Stackable steel paper tray.', 1800],
    ],
  },
};

const SEED_LOCK = 7_241_002;

/**
 * Inserts the demo catalog when the catalog is empty. Safe when replicas start
 * together (advisory lock) and when run again (does nothing once products exist).
 * Returns the number of products inserted.
 */
export async function seedDemoCatalog(db: Database): Promise<number> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [SEED_LOCK]);
    const { rows } = await tx.query<{ n: number }>('SELECT count(*)::int AS n FROM products');
    if ((rows[0]?.n ?? 0) > 0) return 0;
    let inserted = 0;
    for (const [slug, category] of Object.entries(demo)) {
      await tx.query('INSERT INTO categories (slug, name) VALUES ($1, $2) ON CONFLICT DO NOTHING', [slug, category.name]);
      for (const [index, [name, description, cents]] of category.products.entries()) {
        const sku = `${slug.slice(0, 3).toUpperCase()}-${String(index + 1).padStart(3, '0')}`;
        const onHand = [25, 100, 3, 50, 1, 12, 40][index] ?? 10;
        const id = randomUUID();
        await tx.query(
          `INSERT INTO products (id, sku, name, description, price_amount, price_currency, category, images, on_hand)
           VALUES ($1, $2, $3, $4, $5, 'EUR', $6, $7, $8)`,
          [id, sku, name, description, cents, slug, [`/images/products/${sku.toLowerCase()}.svg`], onHand],
        );
        await tx.query(`INSERT INTO stock_adjustments (product_id, delta, reason, actor, on_hand) VALUES ($1, $2, 'demo seed', 'system', $2)`, [id, onHand]);
        inserted++;
      }
    }
    return inserted;
  });
}
