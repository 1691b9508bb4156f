/**
 * A real SMTP server on 127.0.0.1 for tests (smtp-server), with every
 * received message parsed back (mailparser). `hooks` let a test inject
 * faults: reject a recipient, answer 421 once, drop the connection after DATA,
 * answer slowly (`dataDelayMs`) so a test can kill a client mid-run.
 */
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession, type SMTPServerDataStream } from 'smtp-server';
import { simpleParser, type ParsedMail } from 'mailparser';
import type { AddressInfo } from 'node:net';

export interface Received {
  envelope: { from: string; to: string[] };
  raw: string;
  parsed: ParsedMail;
}

export interface TestSmtp {
  port: number;
  url: string;
  received: Received[];
  close(): Promise<void>;
  /** Resolves once `n` messages have arrived (or rejects after `timeoutMs`). */
  waitFor(n: number, timeoutMs?: number): Promise<void>;
}

export interface SmtpHooks {
  /** Return an Error with `responseCode` to reject RCPT TO for this address, or 'drop' to cut the socket before the data phase. */
  onRcpt?: (address: string, session: SMTPServerSession) => Error | 'drop' | undefined;
  /**
   * Called once the data is read; return an Error (with responseCode) to reject the message, or 'drop' to cut the socket.
   * May return a promise: the server holds its answer until it settles.
   */
  onData?: (raw: string, session: SMTPServerSession) => Error | 'drop' | undefined | Promise<Error | 'drop' | undefined>;
  /** Wait this long after reading the data before answering (the message counts as received only once accepted). */
  dataDelayMs?: number;
  options?: Partial<SMTPServerOptions>;
}

/**
 * An `onData` hook that holds a message at the server until `release()` (no timing involved):
 * `arrived` resolves once the first is in. With `onlyFirst`, later messages go through at once.
 */
export function holdAtServer(opts: { onlyFirst?: boolean } = {}) {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let arrive!: () => void;
  const arrived = new Promise<void>((r) => (arrive = r));
  let seen = 0;
  const onData = async (): Promise<undefined> => {
    if (opts.onlyFirst && seen++ > 0) return undefined;
    arrive();
    await gate;
    return undefined;
  };
  return { arrived, release, onData };
}

export function smtpError(code: number, message: string): Error {
  return Object.assign(new Error(message), { responseCode: code });
}

export async function startSmtp(hooks: SmtpHooks = {}): Promise<TestSmtp> {
  const received: Received[] = [];
  const waiters: Array<() => void> = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    ...hooks.options,
    onRcptTo(address, session, cb) {
      const err = hooks.onRcpt?.(address.address, session);
      if (err === 'drop') {
        socketOf(session)?.destroy();
        return;
      }
      cb(err ?? undefined);
    },
    onData(stream: SMTPServerDataStream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', async () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        if (hooks.dataDelayMs) await new Promise((r) => setTimeout(r, hooks.dataDelayMs));
        const verdict = await hooks.onData?.(raw, session);
        if (verdict === 'drop') {
          // Cut the connection after the data was handed over and before the reply: the client cannot know.
          socketOf(session)?.destroy();
          return;
        }
        if (verdict) return cb(verdict);
        const parsed = await simpleParser(raw);
        received.push({
          envelope: {
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
          },
          raw,
          parsed,
        });
        waiters.splice(0).forEach((w) => w());
        cb(null);
      });
    },
  });
  // smtp-server keeps its live connections in a Set; the session alone does not expose the socket.
  type Conn = { session?: SMTPServerSession; _socket?: { destroy(): void } };
  const connections = () => [...((server as unknown as { connections: Set<Conn> }).connections ?? [])];
  const socketOf = (session: SMTPServerSession) => connections().find((c) => c.session === session)?._socket;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return {
    port,
    url: `smtp://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Idle pooled clients would otherwise keep the server waiting up to 30 s for them to leave.
        for (const c of connections()) c._socket?.destroy();
      }),
    async waitFor(n, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (received.length < n) {
        if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${n} messages, got ${received.length}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 100);
        });
      }
    },
  };
}
