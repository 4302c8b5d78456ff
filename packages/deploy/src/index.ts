export * from './kubernetes.ts';
export * from './istio.ts';
