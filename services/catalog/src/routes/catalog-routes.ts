import { AppError, Type, type ServiceApp, type ServiceContext } from '@bazaar/chassis';
import { Money, Problem } from '@bazaar/contracts';
import { CategorySlug, ImageUrl, ProductView, Sku, canAdjustStock } from '../domain/product.ts';
import { CategoryRepository } from '../persistence/category-repository.ts';
import { ProductRepository } from '../persistence/product-repository.ts';

const uuid = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';
const MAX_IDS = 50;

const ProductId = Type.Object({ id: Type.String({ format: 'uuid' }) }, { additionalProperties: false });
const problems = { 400: Problem, 401: Problem, 403: Problem, 404: Problem, 409: Problem, 412: Problem, 422: Problem };

const ProductInput = {
  name: Type.String({ minLength: 1, maxLength: 200 }),
  description: Type.String({ maxLength: 5000 }),
  price: Money,
  category: CategorySlug,
  images: Type.Array(ImageUrl, { maxItems: 20 }),
  active: Type.Boolean(),
};

function etagOf(product: ProductView): string {
  return `W/"${product.id}-${product.version}"`;
}

/** If-Match carries the version the client last saw: `W/"<id>-<version>"`. */
function versionFromIfMatch(header: string | undefined, id: string): number | undefined {
  if (!header || header === '*') return undefined;
  const match = /^(?:W\/)?"([0-9a-f-]{36})-(\d+)"$/.exec(header.trim());
  if (!match || match[1] !== id) throw new AppError('PRECONDITION_FAILED', 'If-Match does not name a version of this product');
  return Number(match[2]);
}

export async function catalogRoutes(app: ServiceApp, { db, outbox }: ServiceContext): Promise<void> {
  if (!db) throw new Error('catalog needs its database');
  const products = new ProductRepository(db, outbox);
  const categories = new CategoryRepository(db);
  const admin = app.requireRole('admin');

  app.get(
    '/api/catalog/products',
    {
      schema: {
        tags: ['products'],
        summary: 'Browse and search active products, or look up to 50 of them by id',
        querystring: Type.Object(
          {
            q: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'Full-text search (web search syntax: words, "phrases", -exclusions)' })),
            category: Type.Optional(CategorySlug),
            ids: Type.Optional(
              Type.String({
                maxLength: 4000,
                pattern: `^${uuid}(,${uuid})*$`,
                description: `Only these products: up to ${MAX_IDS} comma-separated ids (one page always holds them all). Inactive or unknown ids are left out.`,
              }),
            ),
            page: Type.Integer({ minimum: 1, maximum: 10_000, default: 1 }),
            pageSize: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ items: Type.Array(ProductView), total: Type.Integer(), page: Type.Integer(), pageSize: Type.Integer() }),
          400: Problem,
        },
      },
    },
    async (request) => {
      const { q, category, page } = request.query;
      const ids = request.query.ids === undefined ? undefined : [...new Set(request.query.ids.toLowerCase().split(','))];
      if (ids && ids.length > MAX_IDS) throw new AppError('VALIDATION_FAILED', `ids names ${ids.length} products; at most ${MAX_IDS} at a time`);
      // Asking for products by id (orders pricing a whole order) gets them all in one page.
      const pageSize = Math.max(request.query.pageSize, ids?.length ?? 0);
      const result = await products.search({ q: q?.trim() || undefined, category, ids, page, pageSize });
      return { ...result, page, pageSize };
    },
  );

  app.get(
    '/api/catalog/products/:id',
    {
      schema: {
        tags: ['products'],
        summary: 'One product, with an ETag (send If-None-Match to get 304 when unchanged)',
        params: ProductId,
        response: { 200: ProductView, 304: Type.Null(), 400: Problem, 404: Problem },
      },
    },
    async (request, reply) => {
      const product = await products.findById(request.params.id);
      if (!product) throw new AppError('PRODUCT_NOT_FOUND', `No product with id ${request.params.id}`);
      const etag = etagOf(product);
      reply.header('etag', etag).header('cache-control', 'no-cache');
      const ifNoneMatch = request.headers['if-none-match'];
      if (ifNoneMatch && ifNoneMatch.split(',').some((tag) => tag.trim() === etag || tag.trim() === '*')) {
        return reply.code(304).send(null);
      }
      return product;
    },
  );

  app.get(
    '/api/catalog/categories',
    {
      schema: {
        tags: ['categories'],
        summary: 'Every category with its number of active products',
        response: { 200: Type.Object({ items: Type.Array(Type.Object({ slug: Type.String(), name: Type.String(), productCount: Type.Integer() })) }) },
      },
    },
    async () => ({ items: await categories.list() }),
  );

  app.post(
    '/api/catalog/categories',
    {
      onRequest: admin,
      schema: {
        tags: ['categories', 'admin'],
        summary: 'Create a category (admin)',
        body: Type.Object({ slug: CategorySlug, name: Type.String({ minLength: 1, maxLength: 100 }) }, { additionalProperties: false }),
        response: { 201: Type.Object({ slug: Type.String(), name: Type.String(), productCount: Type.Integer() }), ...problems },
      },
    },
    async (request, reply) => {
      if (!(await categories.create(request.body.slug, request.body.name))) throw new AppError('CATEGORY_TAKEN', `Category "${request.body.slug}" exists`);
      return reply.code(201).send({ ...request.body, productCount: 0 });
    },
  );

  app.post(
    '/api/catalog/products',
    {
      onRequest: admin,
      schema: {
        tags: ['products', 'admin'],
        summary: 'Create a product (admin)',
        body: Type.Object(
          {
            sku: Sku,
            ...ProductInput,
            description: Type.Optional(ProductInput.description),
            images: Type.Optional(ProductInput.images),
            active: Type.Optional(ProductInput.active),
            onHand: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000_000, description: 'Initial stock' })),
          },
          { additionalProperties: false },
        ),
        response: { 201: ProductView, ...problems },
      },
    },
    async (request, reply) => {
      const body = request.body;
      if (!(await categories.exists(body.category))) throw new AppError('CATEGORY_NOT_FOUND', `No category "${body.category}"`);
      try {
        const product = await products.create(
          { ...body, description: body.description ?? '', images: body.images ?? [], active: body.active ?? true, onHand: body.onHand ?? 0 },
          request.principal!.userId,
        );
        return reply.code(201).header('location', `/api/catalog/products/${product.id}`).header('etag', etagOf(product)).send(product);
      } catch (error) {
        if ((error as { code?: string; constraint?: string }).code === '23505') throw new AppError('SKU_TAKEN', `SKU ${body.sku} is taken`);
        throw error;
      }
    },
  );

  app.patch(
    '/api/catalog/products/:id',
    {
      onRequest: admin,
      schema: {
        tags: ['products', 'admin'],
        summary: 'Change a product; `active: false` deactivates it (admin). Send If-Match to update only the version you saw.',
        params: ProductId,
        body: Type.Object(
          {
            name: Type.Optional(ProductInput.name),
            description: Type.Optional(ProductInput.description),
            price: Type.Optional(ProductInput.price),
            category: Type.Optional(ProductInput.category),
            images: Type.Optional(ProductInput.images),
            active: Type.Optional(ProductInput.active),
          },
          { additionalProperties: false, minProperties: 1 },
        ),
        response: { 200: ProductView, ...problems },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      const expected = versionFromIfMatch(request.headers['if-match'], id);
      if (request.body.category && !(await categories.exists(request.body.category))) {
        throw new AppError('CATEGORY_NOT_FOUND', `No category "${request.body.category}"`);
      }
      const result = await products.update(id, request.body, expected);
      if (result === 'not-found') throw new AppError('PRODUCT_NOT_FOUND', `No product with id ${id}`);
      if (result === 'version-mismatch') throw new AppError('PRECONDITION_FAILED', 'The product changed since the version in If-Match; read it again');
      return reply.header('etag', etagOf(result)).send(result);
    },
  );

  app.post(
    '/api/catalog/products/:id/stock-adjustments',
    {
      onRequest: admin,
      schema: {
        tags: ['stock', 'admin'],
        summary: 'Add (positive delta) or remove (negative delta) on-hand stock (admin). Never below zero or below reserved.',
        params: ProductId,
        body: Type.Object(
          {
            delta: Type.Integer({ minimum: -1_000_000_000, maximum: 1_000_000_000, not: { const: 0 } }),
            reason: Type.String({ minLength: 1, maxLength: 200 }),
          },
          { additionalProperties: false },
        ),
        response: { 200: ProductView, ...problems },
      },
    },
    async (request) => {
      const { id } = request.params;
      const { delta, reason } = request.body;
      const result = await products.adjustStock(id, delta, reason, request.principal!.userId);
      if (result === 'not-found') throw new AppError('PRODUCT_NOT_FOUND', `No product with id ${id}`);
      if (result === 'insufficient') {
        const current = await products.findById(id);
        const stock = current ?? { onHand: 0, reserved: 0 };
        const shown = canAdjustStock(stock, delta) ? 'concurrent changes' : `on hand ${stock.onHand}, reserved ${stock.reserved}`;
        throw new AppError('INSUFFICIENT_STOCK', `Cannot remove ${-delta} units (${shown})`);
      }
      return result;
    },
  );
}
