import { AppError, Type, type Principal, type ServiceApp, type ServiceContext } from '@bazaar/chassis';
import { Problem } from '@bazaar/contracts';
import { ShipmentView, toView } from '../domain/shipment.ts';
import { ShipmentRepository } from '../persistence/shipment-repository.ts';

const ShipmentId = Type.Object({ id: Type.String({ format: 'uuid' }) }, { additionalProperties: false });
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Whose shipments the caller may see: an admin everyone's (undefined), a customer
 * their own (identity issues tokens whose subject is the user's uuid).
 */
function customerScope(principal: Principal | undefined): string | undefined {
  if (principal?.roles.includes('admin')) return undefined;
  if (!principal || !uuid.test(principal.userId)) throw new AppError('UNAUTHENTICATED', 'The access token does not name a user');
  return principal.userId;
}

export async function shipmentRoutes(app: ServiceApp, { db }: ServiceContext): Promise<void> {
  if (!db) throw new Error('shipping needs its database');
  const shipments = new ShipmentRepository(db);

  app.get(
    '/api/shipments',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['shipments'],
        summary: "The caller's shipments, newest first (an admin's: everyone's)",
        querystring: Type.Object(
          {
            orderId: Type.Optional(Type.String({ format: 'uuid', description: 'Only the shipment of this order' })),
            page: Type.Integer({ minimum: 1, maximum: 10_000, default: 1 }),
            pageSize: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ items: Type.Array(ShipmentView), total: Type.Integer(), page: Type.Integer(), pageSize: Type.Integer() }),
          400: Problem,
          401: Problem,
        },
      },
    },
    async (request) => {
      const { orderId, page, pageSize } = request.query;
      const { items, total } = await shipments.list({ customerId: customerScope(request.principal), orderId, page, pageSize });
      return { items: items.map(toView), total, page, pageSize };
    },
  );

  app.get(
    '/api/shipments/:id',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['shipments'],
        summary: 'One of your shipments (an admin: anyone\'s)',
        params: ShipmentId,
        response: { 200: ShipmentView, 400: Problem, 401: Problem, 404: Problem },
      },
    },
    async (request) => {
      const { id } = request.params;
      const shipment = await shipments.find(id, customerScope(request.principal));
      if (!shipment) throw new AppError('SHIPMENT_NOT_FOUND', `You have no shipment with id ${id}`);
      return toView(shipment);
    },
  );
}
