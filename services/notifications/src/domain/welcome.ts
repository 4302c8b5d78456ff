import type { Message } from './notification.ts';

export interface NewCustomer {
  name: string;
  email: string;
}

/** The message a customer finds in their inbox right after registering. */
export function welcomeMessage(customer: NewCustomer): Message {
  return {
    kind: 'welcome',
    subject: `Welcome to Bazaar, ${customer.name}!`,
    body: [
      `Hi ${customer.name},`,
      '',
      `Thanks for joining Bazaar. Your account is set up for ${customer.email}: that is where we will send your order confirmations and shipping news.`,
      '',
      'Happy shopping!',
      'The Bazaar team',
    ].join('\n'),
  };
}
