import { AppError, Type, type Principal, type ServiceApp, type ServiceContext } from '@bazaar/chassis';
import { Problem } from '@bazaar/contracts';
import { NotificationView } from '../domain/notification.ts';
import { NotificationRepository } from '../persistence/notification-repository.ts';

const NotificationId = Type.Object({ id: Type.String({ format: 'uuid' }) }, { additionalProperties: false });
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The caller's user id: identity issues tokens whose subject is the user's uuid. */
function recipientOf(principal: Principal | undefined): string {
  if (!principal || !uuid.test(principal.userId)) throw new AppError('UNAUTHENTICATED', 'The access token does not name a user');
  return principal.userId;
}

export async function notificationRoutes(app: ServiceApp, { db }: ServiceContext): Promise<void> {
  if (!db) throw new Error('notifications needs its database');
  const notifications = new NotificationRepository(db);

  app.get(
    '/api/notifications',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['notifications'],
        summary: "The caller's notifications, newest first",
        querystring: Type.Object(
          {
            unread: Type.Optional(Type.Boolean({ description: 'true: only the notifications not yet marked read' })),
            page: Type.Integer({ minimum: 1, maximum: 10_000, default: 1 }),
            pageSize: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ items: Type.Array(NotificationView), total: Type.Integer(), page: Type.Integer(), pageSize: Type.Integer() }),
          400: Problem,
          401: Problem,
        },
      },
    },
    async (request) => {
      const { unread, page, pageSize } = request.query;
      const result = await notifications.listFor(recipientOf(request.principal), { unreadOnly: unread === true, page, pageSize });
      return { ...result, page, pageSize };
    },
  );

  app.post(
    '/api/notifications/:id/read',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['notifications'],
        summary: 'Mark one of your notifications read (marking it again keeps the first time)',
        params: NotificationId,
        response: { 200: NotificationView, 400: Problem, 401: Problem, 404: Problem },
      },
    },
    async (request) => {
      const { id } = request.params;
      const notification = await notifications.markRead(id, recipientOf(request.principal));
      if (!notification) throw new AppError('NOTIFICATION_NOT_FOUND', `You have no notification with id ${id}`);
      return notification;
    },
  );
}
