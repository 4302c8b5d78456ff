import { randomUUID } from 'node:crypto';
import { AppError, Type, type ServiceApp } from '@bazaar/chassis';
import { MAX_ADDRESSES_PER_USER, normalizeAddress } from '../domain/address.ts';
import { addAddress, deleteAddress, listAddresses, type Address } from '../persistence/addresses.ts';
import { findUserById } from '../persistence/users.ts';
import type { IdentityDeps } from './context.ts';
import { AddressBody, AddressId, AddressView, MeView, Problem } from './schemas.ts';

function addressView(address: Address) {
  return { ...address, createdAt: address.createdAt.toISOString() };
}

/** The signed-in user's own account: profile and addresses. Every query is scoped to the token's subject. */
export function accountRoutes(app: ServiceApp, { db }: IdentityDeps): void {
  app.get(
    '/me',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['account'],
        summary: 'The signed-in user with their addresses',
        response: { 200: MeView, 401: Problem },
      },
    },
    async (request) => {
      const userId = request.principal!.userId;
      const user = await findUserById(db, userId);
      if (!user) throw new AppError('UNAUTHENTICATED', 'The account of this access token no longer exists');
      const addresses = await listAddresses(db, userId);
      return { id: user.id, email: user.email, name: user.name, roles: user.roles, createdAt: user.createdAt.toISOString(), addresses: addresses.map(addressView) };
    },
  );

  app.post(
    '/me/addresses',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['account'],
        summary: `Add an address (at most ${MAX_ADDRESSES_PER_USER} per account)`,
        body: AddressBody,
        response: { 201: AddressView, 400: Problem, 401: Problem, 409: Problem, 415: Problem },
      },
    },
    async (request, reply) => {
      const checked = normalizeAddress(request.body);
      if (!checked.ok) throw new AppError('VALIDATION_FAILED', `${checked.path} ${checked.reason}`, { errors: [{ path: checked.path, message: checked.reason }] });
      const id = randomUUID();
      const added = await addAddress(db, request.principal!.userId, id, checked.address, MAX_ADDRESSES_PER_USER);
      if (added === undefined) throw new AppError('UNAUTHENTICATED', 'The account of this access token no longer exists');
      if (added === 'limit') throw new AppError('ADDRESS_LIMIT_REACHED', `An account can keep at most ${MAX_ADDRESSES_PER_USER} addresses; delete one first`);
      return reply.code(201).header('location', `/api/identity/me/addresses/${id}`).send(addressView(added));
    },
  );

  app.delete(
    '/me/addresses/:id',
    {
      onRequest: app.authenticate,
      schema: {
        tags: ['account'],
        summary: 'Delete one of your addresses',
        params: AddressId,
        response: { 204: Type.Null({ description: 'Deleted' }), 400: Problem, 401: Problem, 404: Problem },
      },
    },
    async (request, reply) => {
      // Someone else's address answers exactly like a missing one: ids of other accounts are not disclosed.
      if (!(await deleteAddress(db, request.principal!.userId, request.params.id))) {
        throw new AppError('ADDRESS_NOT_FOUND', `You have no address with id ${request.params.id}`);
      }
      return reply.code(204).send(null);
    },
  );
}
