import { createTransport } from 'nodemailer';

/** What the email sender needs of a mail transport (nodemailer's, or a test double). */
export interface MailTransport {
  sendMail(mail: { from: string; to: string; subject: string; text: string; messageId: string }): Promise<unknown>;
  close(): void;
}

/**
 * A nodemailer SMTP transport for `url` (`smtp://…` or `smtps://…`), one connection
 * per email. Its timeouts are short compared with the sender's lease, so an email
 * stuck on a dead server is retried, not held.
 */
export function smtpTransport(url: string): MailTransport {
  return createTransport({ url, connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 });
}

/** `Bazaar <no-reply@bazaar.local>` → `bazaar.local`: the domain of our Message-IDs. */
export function senderDomain(from: string): string {
  return /@([^\s<>@]+)>?\s*$/.exec(from)?.[1] ?? 'bazaar.local';
}

/** The Message-ID of a notification's email: the same for every attempt, so a receiver can drop a resend. */
export function messageIdOf(notificationId: string, domain: string): string {
  return `<${notificationId}@${domain}>`;
}
