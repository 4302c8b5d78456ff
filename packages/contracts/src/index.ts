export * from './errors.ts';
export * from './money.ts';
export * from './problem.ts';
