/**
 * The Transport seam: where a message goes. SMTP (a pooled nodemailer
 * transport) when SMTP_URL is set, otherwise an outbox folder of .eml files.
 * Errors are classified once here so the pipeline can decide: retry later,
 * give up on this recipient, never resend, or stop the run.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import nodemailer from 'nodemailer';
import type SMTPPool from 'nodemailer/lib/smtp-pool/index.js';
import { writeFileAtomic } from './yamlfile.js';
import { toMime, type OutgoingMessage } from './message.js';

export interface SendResult {
  /** Where it went: the SMTP server's reply or the .eml path. */
  detail: string;
}

export type FailureKind =
  /** Try again later: 4xx replies, connection trouble before the data phase. */
  | 'transient'
  /** This recipient will not work: 5xx replies. */
  | 'permanent'
  /** The connection broke after the message data was handed over: it may have been delivered. */
  | 'ambiguous'
  /** The transport cannot work at all (auth, TLS, refused connection): stop the run. */
  | 'fatal';

export class SendError extends Error {
  override readonly name = 'SendError';
  constructor(
    readonly kind: FailureKind,
    message: string,
    readonly responseCode?: number,
  ) {
    super(message);
  }
}

export interface Transport {
  readonly name: string;
  /** Check the transport can be used at all before the first message (connect, auth). */
  verify(): Promise<void>;
  send(message: OutgoingMessage): Promise<SendResult>;
  close(): Promise<void>;
}

export interface SmtpOptions {
  url: string;
  /** Messages per second at most (0 = unlimited). */
  rateLimit?: number;
  maxConnections?: number;
  connectionTimeoutMs?: number;
  greetingTimeoutMs?: number;
  socketTimeoutMs?: number;
}

export function smtpTransport(opts: SmtpOptions): Transport {
  const pool: SMTPPool.Options & { maxRequeues: number } = {
    url: opts.url,
    pool: true,
    maxConnections: opts.maxConnections ?? 2,
    // A message whose connection dropped must not be silently resent by the pool: we decide.
    maxRequeues: 0,
    connectionTimeout: opts.connectionTimeoutMs ?? 15_000,
    greetingTimeout: opts.greetingTimeoutMs ?? 15_000,
    socketTimeout: opts.socketTimeoutMs ?? 60_000,
  } as SMTPPool.Options & { maxRequeues: number };
  // Paced here rather than by the pool's rateLimit, which counts per fixed window and per
  // connection: with two connections it let through about twice the rate asked for.
  const pace = opts.rateLimit ? pacer(1000 / opts.rateLimit) : async () => {};
  const t = nodemailer.createTransport(pool);
  // nodemailer reports a connection lost before and after the data phase the same way
  // ("Connection closed unexpectedly"). The connection pipes the message stream only once the
  // server said 354 (go ahead), so a lazy stream that notes its first read tells the two apart.
  const dataStarted = new Map<string, boolean>();
  t.use('stream', (mail, done) => {
    const id = String(mail.data.messageId ?? '');
    if (dataStarted.has(id)) mail.message.processFunc((input: Readable) => readProbe(input, () => dataStarted.set(id, true)));
    done();
  });
  const safeName = redactUrl(opts.url);
  return {
    name: safeName,
    async verify() {
      try {
        await t.verify();
      } catch (e) {
        throw classify(e);
      }
    },
    async send(message) {
      const { meta: _meta, ...mail } = message;
      const id = String(mail.messageId ?? '');
      dataStarted.set(id, false);
      await pace();
      try {
        const info = await t.sendMail(mail);
        return { detail: String(info.response ?? 'accepted') };
      } catch (e) {
        throw classify(e, { dataStarted: dataStarted.get(id) === true });
      } finally {
        dataStarted.delete(id);
      }
    },
    async close() {
      t.close();
    },
  };
}

/**
 * Spaces the calls at least `intervalMs` apart (each waits for its turn), so no second sees more than
 * the rate. A monotonic clock: a wall clock stepped back an hour (NTP, a resumed VM) would stall it an hour.
 */
export function pacer(intervalMs: number, now: () => number = () => performance.now()): () => Promise<void> {
  let next = 0;
  return async () => {
    const at = Math.max(now(), next);
    next = at + intervalMs;
    const wait = at - now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  };
}

/** Passes `input` through, calling `onFirstRead` when the consumer first asks for data (and not before). */
function readProbe(input: Readable, onFirstRead: () => void): Readable {
  const chunks = input[Symbol.asyncIterator]();
  return new Readable({
    async read() {
      onFirstRead();
      try {
        const next = await chunks.next();
        this.push(next.done ? null : (next.value as Buffer));
      } catch (e) {
        this.destroy(e as Error);
      }
    },
    destroy(err, cb) {
      input.destroy();
      cb(err);
    },
  });
}

export function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//***@');
}

/**
 * nodemailer error → what it means for this message and this run. A reply
 * code is the server's definite answer (4xx: try again, 5xx: this recipient
 * will not work). Without one it is the connection: refused, auth or TLS
 * trouble stops the run; a loss after the message data started flowing
 * (`dataStarted`) may have delivered it; anything else is worth a retry.
 */
export function classify(e: unknown, at: { dataStarted?: boolean } = {}): SendError {
  const err = e as { code?: string; responseCode?: number; command?: string; message?: string };
  const msg = err.message ?? String(e);
  if (typeof err.responseCode === 'number') {
    if (err.code === 'EAUTH' || err.command === 'AUTH PLAIN' || err.command === 'AUTH LOGIN')
      return new SendError('fatal', `authentication failed: ${msg}`, err.responseCode);
    if (err.responseCode >= 500) return new SendError('permanent', msg, err.responseCode);
    if (err.responseCode >= 400) return new SendError('transient', msg, err.responseCode);
  }
  switch (err.code) {
    case 'EAUTH':
    case 'ETLS':
    case 'ENOAUTH':
      return new SendError('fatal', `${err.code}: ${msg}`);
    case 'ECONNREFUSED':
    case 'EDNS':
      return new SendError('fatal', `cannot reach the SMTP server: ${msg}`);
  }
  if (/ECONNREFUSED|ENOTFOUND|EAI_AGAIN/.test(msg)) return new SendError('fatal', `cannot reach the SMTP server: ${msg}`);
  if (/certificate|SSL routines|wrong version number|TLS/i.test(msg)) return new SendError('fatal', `TLS failed: ${msg}`);
  // Lost connection: if the message body was already being streamed, it may have arrived.
  if (at.dataStarted || err.command === 'MESSAGE' || /after DATA|message data/i.test(msg)) return new SendError('ambiguous', msg);
  return new SendError('transient', msg);
}

/** Writes each message to <dir>/<date>/<subscriber>.eml: the default when no SMTP server is configured. */
export function outboxTransport(dir: string): Transport {
  return {
    name: `outbox ${dir}`,
    async verify() {
      await mkdir(dir, { recursive: true });
    },
    async send(message) {
      const { meta } = message;
      const folder = path.join(dir, meta.date);
      await mkdir(folder, { recursive: true });
      const file = path.join(folder, `${meta.subscriber}.eml`);
      await writeFileAtomic(file, await toMime(message));
      return { detail: file };
    },
    async close() {},
  };
}
