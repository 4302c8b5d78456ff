import { SMTPServer } from 'smtp-server';
import type { AddressInfo } from 'node:net';

export interface ReceivedMail {
  /** The envelope's recipients (RCPT TO). */
  to: string[];
  messageId: string | undefined;
  subject: string | undefined;
  raw: string;
}

/** The value of header `name` in a raw message (unfolded), if present. */
function header(raw: string, name: string): string | undefined {
  const head = raw.split(/\r?\n\r?\n/, 1)[0]!.replace(/\r?\n[ \t]+/g, ' ');
  const line = head.split(/\r?\n/).find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line?.slice(name.length + 1).trim();
}

/**
 * A real SMTP server in the test process (smtp-server), without TLS or auth, that
 * keeps every mail it accepts and refuses recipients whose address starts with
 * `bounce` (550, as a mailbox that does not exist). It can be stopped and started
 * again on the same port, as a mail server that goes down and comes back.
 */
export class TestMailServer {
  readonly mails: ReceivedMail[] = [];
  port = 0;
  private server: SMTPServer | undefined;

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const mails = this.mails;
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      onRcptTo(address, _session, callback) {
        if (!address.address.startsWith('bounce')) return callback();
        callback(Object.assign(new Error('No such mailbox'), { responseCode: 550 }));
      },
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          mails.push({ to: session.envelope.rcptTo.map((r) => r.address), messageId: header(raw, 'Message-ID'), subject: header(raw, 'Subject'), raw });
          callback();
        });
      },
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.server.address() as AddressInfo).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The mails that carry Message-ID `messageId`. */
  withMessageId(messageId: string): ReceivedMail[] {
    return this.mails.filter((mail) => mail.messageId === messageId);
  }
}
