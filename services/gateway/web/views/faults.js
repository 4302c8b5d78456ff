// @ts-check
import { call } from '../lib/api.js';
import { h } from '../lib/dom.js';
import { dateTime } from '../lib/format.js';
import { form } from '../lib/form.js';
import { describeFault, faultFrom } from '../lib/fault-spec.js';
import { describe, notify } from '../lib/notice.js';

/**
 * @typedef {import('../lib/fault-spec.js').FaultSpec} FaultSpec
 * @typedef {{ seen: number, matched: number, delayed: number, errored: number, reset: number, blackholed: number }} Counters
 * @typedef {{ service: string, id: string, url: string, pid: number, replica?: string, fault?: FaultSpec | null, expiresAt?: string | null, counters?: Counters, held?: number, error?: string }} InstanceFault
 * @typedef {{ targets: string[], instances: InstanceFault[] }} Faults
 */

const ERROR_STATUSES = [503, 500, 502, 504, 429];
/** What the form offers for how long, in seconds; the API refuses a fault without an end. */
const DEFAULT_SECONDS = 30;

/**
 * The faults of a running system (`npm start` turns fault injection on): what
 * each instance has now, with its counters, a form to break a service on
 * purpose for a while, and buttons to end it. `faults` is undefined where the
 * gateway runs without fault injection.
 * @param {Faults | undefined} faults
 * @param {() => void} redraw
 */
export function faultsSection(faults, redraw) {
  if (!faults) {
    return h('section', { 'data-testid': 'faults' }, h('h2', {}, 'Faults'), h('p', { class: 'muted' }, 'Fault injection is off on this system (FAULT_INJECTION=true turns it on; npm start does).'));
  }
  const active = faults.instances.filter((instance) => instance.fault);
  return h(
    'section',
    { 'data-testid': 'faults' },
    h('h2', {}, 'Faults'),
    h('p', { class: 'muted' }, 'Break a service on purpose and watch the rest cope: the breakers above, a checkout, the shop. Every fault ends by itself; the same as npm run chaos.'),
    faultTable(faults.instances, redraw),
    active.length > 0 &&
      h('p', { class: 'actions' }, h('button', { type: 'button', class: 'secondary', 'data-testid': 'end-all-faults', onclick: () => end('/api/admin/faults', 'Every fault ended.', redraw) }, 'End every fault')),
    breakForm(faults, redraw),
  );
}

/** @param {InstanceFault[]} instances @param {() => void} redraw */
function faultTable(instances, redraw) {
  return h(
    'table',
    { class: 'faults', 'data-testid': 'fault-table' },
    h('thead', {}, h('tr', {}, ['Service', 'Instance', 'Fault', 'Ends', 'Matched', 'Delayed', 'Errors', 'Resets', 'Held', ''].map((t) => h('th', {}, t)))),
    h(
      'tbody',
      {},
      instances.map((instance, i) => {
        const first = i === 0 || instances[i - 1]?.service !== instance.service;
        const counters = instance.fault ? instance.counters : undefined;
        const broken = instances.some((other) => other.service === instance.service && other.fault);
        return h(
          'tr',
          { 'data-service': instance.service, class: instance.fault ? 'faulted' : '' },
          h('td', {}, first ? instance.service : ''),
          h('td', { class: 'small' }, instance.replica ? `#${instance.replica} ` : '', instance.url),
          h('td', {}, instance.error ? h('span', { class: 'error' }, instance.error) : instance.fault ? h('strong', {}, describeFault(instance.fault)) : h('span', { class: 'muted' }, 'none')),
          h('td', {}, instance.fault && instance.expiresAt ? dateTime(instance.expiresAt) : ''),
          ...[counters?.matched, counters?.delayed, counters?.errored, counters?.reset, instance.fault ? instance.held : undefined].map((n) => h('td', { class: 'num' }, n ?? '')),
          h(
            'td',
            {},
            first && broken && instance.service !== 'gateway'
              ? h('button', { type: 'button', class: 'secondary', onclick: () => end(`/api/admin/faults/${instance.service}`, `${instance.service}: fault ended.`, redraw) }, 'End')
              : '',
          ),
        );
      }),
    ),
  );
}

/** @param {string} path @param {string} said @param {() => void} redraw */
async function end(path, said, redraw) {
  try {
    await call(path, { method: 'DELETE' });
    notify(said);
    redraw();
  } catch (error) {
    notify(describe(error), 'error');
  }
}

/** @param {Faults} faults @param {() => void} redraw */
function breakForm(faults, redraw) {
  const options = faults.targets.flatMap((service) => {
    const instances = faults.instances.filter((instance) => instance.service === service);
    return [
      h('option', { value: service }, instances.length > 1 ? `${service} (all ${instances.length} instances)` : service),
      ...(instances.length > 1 ? instances.map((instance) => h('option', { value: `${service} ${instance.id}` }, `${service} #${instance.replica ?? '?'} only (${instance.url})`)) : []),
    ];
  });
  const percent = (/** @type {string} */ name, /** @type {string} */ label) => h('label', {}, h('span', {}, label), h('input', { type: 'number', name, min: 0, max: 100, step: 'any', value: 0 }));
  return form(
    { class: 'checkout', 'data-testid': 'break-form' },
    async (values) => {
      const [service, instance] = (values['target'] ?? '').split(' ');
      const spec = faultFrom(values);
      const answer = await call(`/api/admin/faults/${service}${instance ? `?instance=${encodeURIComponent(instance)}` : ''}`, { method: 'PUT', body: spec });
      /** @type {InstanceFault[]} */
      const told = answer.instances;
      const missed = told.filter((one) => one.error);
      notify(`${service}: ${describeFault(spec)} on ${told.length - missed.length} instance${told.length - missed.length === 1 ? '' : 's'} for ${spec.forMs / 1000} s.${missed.length ? ` Not reached: ${missed.map((one) => one.url).join(', ')}.` : ''}`, missed.length ? 'error' : 'info');
      redraw();
    },
    h(
      'fieldset',
      {},
      h('legend', {}, 'Break a service'),
      h('div', { class: 'row' }, h('label', {}, h('span', {}, 'Service'), h('select', { name: 'target', required: true }, options)), h('label', {}, h('span', {}, 'For (seconds)'), h('input', { type: 'number', name: 'forSeconds', min: 1, max: 86_400, value: DEFAULT_SECONDS, required: true }))),
      h('div', { class: 'row' }, h('label', {}, h('span', {}, 'Latency (ms)'), h('input', { type: 'number', name: 'latencyMs', min: 0, max: 120_000, value: 0 })), h('label', {}, h('span', {}, 'Jitter (ms)'), h('input', { type: 'number', name: 'jitterMs', min: 0, max: 120_000, value: 0 }))),
      h(
        'div',
        { class: 'row' },
        percent('errorPercent', 'Errors (%)'),
        h('label', {}, h('span', {}, 'Error status'), h('select', { name: 'errorStatus' }, ERROR_STATUSES.map((status) => h('option', { value: status }, String(status))))),
        percent('resetPercent', 'Connection resets (%)'),
      ),
      h('div', { class: 'row' }, percent('blackholePercent', 'Never answered (%)')),
      h(
        'div',
        { class: 'row' },
        h('label', {}, h('span', {}, 'Only calls from'), h('select', { name: 'from' }, h('option', { value: '' }, 'anyone'), ['gateway', ...faults.targets].map((caller) => h('option', { value: caller }, caller)))),
        h('label', {}, h('span', {}, 'Only paths under'), h('input', { type: 'text', name: 'pathPrefix', placeholder: '/api/payments', pattern: '/[^?#\\s]*', maxlength: 512 })),
      ),
      h('p', {}, h('button', { type: 'submit' }, 'Break it')),
    ),
  );
}
