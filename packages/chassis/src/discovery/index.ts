export * from './registry.ts';
export * from './connect.ts';
export * from './discovery.ts';
export * from './nats-registry.ts';
export * from './postgres-registry.ts';
export * from './registration.ts';
