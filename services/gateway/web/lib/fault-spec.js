// @ts-check
/**
 * Faults as the gateway's /api/admin/faults takes them (docs/chaos.md), read from
 * the Operations page's form and put into words.
 * @typedef {{ latencyMs?: number, jitterMs?: number, errorRate?: number, errorStatus?: number, resetRate?: number, blackholeRate?: number, from?: string, pathPrefix?: string, forMs?: number }} FaultSpec
 */

/**
 * The fault the form describes: only what was set (a zero is left out), `forMs` always.
 * @param {Record<string, string>} values
 * @returns {FaultSpec & { forMs: number }}
 */
export function faultFrom(values) {
  const number = (/** @type {string} */ name) => Number(values[name] || 0);
  /** @type {FaultSpec & { forMs: number }} */
  const spec = { forMs: Math.round(number('forSeconds') * 1000) };
  if (number('latencyMs') > 0) spec.latencyMs = number('latencyMs');
  if (number('jitterMs') > 0) spec.jitterMs = number('jitterMs');
  if (number('errorPercent') > 0) {
    spec.errorRate = number('errorPercent') / 100;
    spec.errorStatus = number('errorStatus') || 503;
  }
  if (number('resetPercent') > 0) spec.resetRate = number('resetPercent') / 100;
  if (number('blackholePercent') > 0) spec.blackholeRate = number('blackholePercent') / 100;
  if (values['from']) spec.from = values['from'];
  if (values['pathPrefix']) spec.pathPrefix = values['pathPrefix'];
  return spec;
}

/**
 * A fault in words: "latency 500 ms ± 100 ms, 20 % errors (503), from gateway".
 * @param {FaultSpec} fault
 */
export function describeFault(fault) {
  const share = (/** @type {number} */ rate) => `${Math.round(rate * 1000) / 10} %`;
  const parts = [];
  if (fault.latencyMs || fault.jitterMs) parts.push(`latency ${fault.latencyMs ?? 0} ms${fault.jitterMs ? ` ± ${fault.jitterMs} ms` : ''}`);
  if (fault.errorRate) parts.push(`${share(fault.errorRate)} errors (${fault.errorStatus ?? 503})`);
  if (fault.resetRate) parts.push(`${share(fault.resetRate)} resets`);
  if (fault.blackholeRate) parts.push(`${share(fault.blackholeRate)} never answered`);
  if (fault.from) parts.push(`from ${fault.from}`);
  if (fault.pathPrefix) parts.push(`under ${fault.pathPrefix}`);
  return parts.join(', ') || 'nothing';
}
