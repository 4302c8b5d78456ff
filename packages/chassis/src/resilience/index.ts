export * from './breaker-trial.ts';
export * from './command-guard.ts';
export * from './load-balancer.ts';
export * from './retry-budget.ts';
export * from './upstream-client.ts';
export * from './upstream-metrics.ts';
export * from './upstreams.ts';
