export * from './broker.ts';
export * from './connect.ts';
export * from './consumer.ts';
export * from './dead-letters.ts';
export * from './embedded-broker.ts';
export * from './nats-broker.ts';
export * from './outbox.ts';
