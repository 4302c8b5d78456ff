import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';

export interface OpenApiOptions {
  title: string;
  description: string;
  version: string;
  /** Rewrites the served document (the gateway merges in its services' documents). */
  transformSpecification?: (document: Readonly<Record<string, unknown>>) => Record<string, unknown>;
}

/** OpenAPI 3.1 generated from the route schemas, served as JSON at `/docs/json` and as a UI at `/docs`. */
export async function installOpenApi(app: FastifyInstance, options: OpenApiOptions): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: options.title, description: options.description, version: options.version },
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      },
    },
    transformObject: (document) => withDefaultsOptional('openapiObject' in document ? document.openapiObject : document.swaggerObject),
  });
  const transform = options.transformSpecification;
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    uiConfig: { deepLinking: true },
    ...(transform ? { transformSpecification: (document: Readonly<Record<string, unknown>>) => transform(document), transformSpecificationClone: false } : {}),
  });
}

interface OpenApiDocument {
  paths?: Record<string, Record<string, { parameters?: Array<{ in: string; required?: boolean; schema?: { default?: unknown } }> }>>;
}

/**
 * A query or header parameter with a default is one the client may leave out. A route
 * schema states it as a required property (so that the validator fills it in and the
 * handler's type has no `undefined`), which the generated document would otherwise repeat
 * as `required: true`.
 */
export function withDefaultsOptional<D extends object>(document: D): D {
  for (const item of Object.values((document as OpenApiDocument).paths ?? {})) {
    for (const operation of Object.values(item)) {
      for (const parameter of operation.parameters ?? []) {
        if (parameter.in !== 'path' && parameter.schema?.default !== undefined) parameter.required = false;
      }
    }
  }
  return document;
}
