export * from './define.ts';
export * from './envelope.ts';
export * from './registry.ts';
export * from './validate.ts';
export * from './dead-letters.ts';
export { MAX_UNITS_PER_PRODUCT, OrderLine, ShippingAddress } from './checkout.ts';
