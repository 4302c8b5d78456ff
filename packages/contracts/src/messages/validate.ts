import { Compile } from 'typebox/compile';
import { Envelope, messageName } from './envelope.ts';
import { messageContracts, isMessageName, type MessageName } from './registry.ts';

type Validator = ReturnType<typeof Compile>;

const envelopeValidator = Compile(Envelope);
const dataValidators = new Map<string, Validator>();

function dataValidator(name: MessageName): Validator {
  let validator = dataValidators.get(name);
  if (!validator) {
    validator = Compile(messageContracts[name].schema);
    dataValidators.set(name, validator);
  }
  return validator;
}

function describe(validator: Validator, value: unknown, at: string): string[] {
  return [...validator.Errors(value)].slice(0, 10).map((e) => `${at}${e.instancePath || ''} ${e.message}`.trim());
}

/** Problems with the payload of message `name`; empty when it matches its contract. */
export function checkMessageData(name: string, data: unknown): string[] {
  if (!isMessageName(name)) return [`unknown message "${name}": no such contract`];
  const validator = dataValidator(name);
  return validator.Check(data) ? [] : describe(validator, data, 'data');
}

export type CheckedMessage = { ok: true; envelope: Envelope; name: MessageName } | { ok: false; errors: string[]; name?: string };

/** Validates a message off the wire: the envelope first, then `data` against its contract. */
export function checkMessage(message: unknown): CheckedMessage {
  if (!envelopeValidator.Check(message)) return { ok: false, errors: describe(envelopeValidator, message, 'envelope') };
  const envelope = message as Envelope;
  const name = messageName(envelope);
  const errors = checkMessageData(name, envelope.data);
  if (errors.length > 0) return { ok: false, errors, name };
  return { ok: true, envelope, name: name as MessageName };
}
