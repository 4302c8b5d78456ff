import { Counter, Gauge, type Registry } from 'prom-client';
import type { Database, ServiceContext } from '@bazaar/chassis';
import { EmailQueue, type ClaimedEmail } from '../persistence/email-queue.ts';
import { afterFailure } from './retry-policy.ts';
import { messageIdOf, senderDomain, type MailTransport } from './smtp-transport.ts';

export interface EmailSenderOptions {
  db: Database;
  transport: MailTransport;
  /** The From of every email, e.g. `Bazaar <no-reply@bazaar.local>`. */
  from: string;
  log: ServiceContext['log'];
  metrics?: Registry;
  /** Pause between two looks for emails due. */
  pollMs: number;
  maxAttempts: number;
  backoffBaseMs: number;
  /** Emails taken (and sent in parallel) at a time. Default 10. */
  batchSize?: number;
  /** How long a taken email is left to this sender before another may take it. Default 5 minutes. */
  leaseMs?: number;
}

type Outcome = 'sent' | 'retried' | 'failed';

/**
 * Sends the pending notification emails, outside any message handler's transaction:
 * takes a batch (see `EmailQueue.claimDue`), sends each through the transport and
 * marks it sent; a failed attempt is retried with backoff, and given up (marked
 * failed, logged as an error) after `maxAttempts`. Each email carries its
 * notification id as Message-ID, so the copy a crash between sending and marking
 * makes us send again can be recognised by the receiver. Every replica runs one;
 * they share the work.
 */
export class EmailSender {
  private readonly options: Required<Omit<EmailSenderOptions, 'metrics'>>;
  private readonly queue: EmailQueue;
  private readonly domain: string;
  private readonly emails: Counter<'outcome'> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private failedRounds = 0;

  constructor(options: EmailSenderOptions) {
    this.options = { batchSize: 10, leaseMs: 5 * 60_000, ...options };
    this.queue = new EmailQueue(options.db);
    this.domain = senderDomain(options.from);
    if (options.metrics) this.emails = this.installMetrics(options.metrics);
  }

  start(): void {
    this.stopped = false;
    this.tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    this.options.transport.close();
  }

  private tick(): void {
    this.running = this.sendDue()
      .then(() => (this.failedRounds = 0))
      .catch((error: unknown) => {
        // Database gone: say so, but not on every poll while it lasts.
        this.failedRounds += 1;
        if (this.failedRounds === 1 || this.failedRounds % 60 === 0) this.options.log.error({ err: error, failedRounds: this.failedRounds }, 'email sender: round failed; will try again');
      })
      .finally(() => {
        if (!this.stopped) this.timer = setTimeout(() => this.tick(), this.options.pollMs);
      });
  }

  /** Sends every email due now, a batch at a time; returns how many it attempted (what each tick does). */
  async sendDue(): Promise<number> {
    let attempted = 0;
    for (;;) {
      const batch = await this.queue.claimDue(this.options.batchSize, this.options.leaseMs);
      // Every send settles (marked or failed) before the next batch or stop() returns.
      const results = await Promise.allSettled(batch.map((email) => this.send(email)));
      const broken = results.find((result) => result.status === 'rejected');
      if (broken) throw broken.reason;
      attempted += batch.length;
      if (batch.length < this.options.batchSize || this.stopped) return attempted;
    }
  }

  private async send(email: ClaimedEmail): Promise<void> {
    const { transport, from, log } = this.options;
    try {
      await transport.sendMail({ from, to: email.to, subject: email.subject, text: email.body, messageId: messageIdOf(email.id, this.domain) });
    } catch (error) {
      await this.failed(email, error);
      return;
    }
    await this.queue.markSent(email.id);
    this.count('sent');
    log.info({ notificationId: email.id, attempts: email.attempts }, 'notification email sent');
  }

  private async failed(email: ClaimedEmail, error: unknown): Promise<void> {
    const reason = describe(error);
    const next = afterFailure(email.attempts, { maxAttempts: this.options.maxAttempts, baseMs: this.options.backoffBaseMs });
    if (next.giveUp) {
      await this.queue.markFailed(email.id, reason);
      this.count('failed');
      this.options.log.error({ notificationId: email.id, attempts: email.attempts, error: reason }, 'notification email given up after its last attempt; it stays in the inbox');
      return;
    }
    await this.queue.markRetry(email.id, reason, next.retryInMs);
    this.count('retried');
    this.options.log.warn({ notificationId: email.id, attempts: email.attempts, retryInMs: next.retryInMs, error: reason }, 'notification email failed; will retry');
  }

  private count(outcome: Outcome): void {
    this.emails?.inc({ outcome });
  }

  private installMetrics(registry: Registry): Counter<'outcome'> {
    const existing = registry.getSingleMetric('notification_emails_total');
    if (existing) return existing as Counter<'outcome'>;
    const queue = this.queue;
    const backlog = () => queue.backlog().catch(() => ({ pending: Number.NaN, oldestSeconds: Number.NaN }));
    new Gauge({
      name: 'notification_emails_pending',
      help: 'Notification emails not yet sent (nor given up)',
      registers: [registry],
      async collect() {
        this.set((await backlog()).pending);
      },
    });
    new Gauge({
      name: 'notification_email_oldest_pending_age_seconds',
      help: 'How long the oldest pending notification email has waited (0 when none); growing means sending keeps failing',
      registers: [registry],
      async collect() {
        this.set((await backlog()).oldestSeconds);
      },
    });
    return new Counter({
      name: 'notification_emails_total',
      help: 'Attempts to send notification emails, by outcome: sent, retried (failed, will retry), failed (given up)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    });
  }
}

/** The error as stored in last_error: its message, with the SMTP response code when there is one. */
function describe(error: unknown): string {
  const { message, responseCode, code } = error as { message?: string; responseCode?: number; code?: string };
  const text = [code, responseCode, message ?? String(error)].filter((part) => part !== undefined).join(' ');
  return text.slice(0, 1_000);
}
