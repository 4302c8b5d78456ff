export * from './kubernetes.ts';
