/**
 * A rendered digest → the message handed to the transport: recipient,
 * headers for list hygiene (RFC 2369, RFC 8058 one-click, RFC 3834) and a
 * Message-ID derived from (digest date, subscriber) so a resend is recognisable.
 */
import { createHash } from 'node:crypto';
import nodemailer from 'nodemailer';
import type Mail from 'nodemailer/lib/mailer/index.js';
import type { RenderedEmail } from './render.js';
import type { LinkBuilder } from './tokens.js';

export interface OutgoingMessage extends Mail.Options {
  /** For the ledger and logs. */
  meta: { subscriber: string; date: string; messageId: string; paperIds: string[] };
}

export interface MessageSettings {
  from: string;
  unsubscribeMailto?: string;
  links: LinkBuilder;
}

export function senderDomain(from: string): string {
  const m = /@([A-Za-z0-9.-]+)>?\s*$/.exec(from);
  return (m?.[1] ?? 'localhost').toLowerCase();
}

export function digestMessageId(date: string, subscriber: string, from: string): string {
  const domain = senderDomain(from);
  const h = createHash('sha256').update(`${date}\n${subscriber}`).digest('hex').slice(0, 12);
  return `<digest.${date}.${subscriber}.${h}@${domain}>`;
}

export function buildMessage(
  email: RenderedEmail,
  to: { id: string; email: string; name?: string },
  date: string,
  paperIds: string[],
  settings: MessageSettings,
): OutgoingMessage {
  const domain = senderDomain(settings.from);
  const messageId = digestMessageId(date, to.id, settings.from);
  const unsubscribe = [`<${settings.links.unsubscribeUrl(to.id, to.email)}>`];
  if (settings.unsubscribeMailto) {
    const token = settings.links.unsubscribeToken(to.id, to.email);
    unsubscribe.push(`<mailto:${settings.unsubscribeMailto}?subject=${encodeURIComponent(`unsubscribe ${token}`)}>`);
  }
  return {
    from: settings.from,
    to: to.name ? { name: to.name, address: to.email } : to.email,
    subject: email.subject,
    text: email.text,
    html: email.html,
    messageId,
    date: new Date(),
    headers: {
      'List-Unsubscribe': unsubscribe.join(', '),
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
      'List-Id': `Paperboy daily digest <daily.paperboy.${domain}>`,
      'Auto-Submitted': 'auto-generated',
      'X-Auto-Response-Suppress': 'OOF, AutoReply',
      'X-Paperboy-Digest': `${date}; ${to.id}`,
    },
    meta: { subscriber: to.id, date, messageId, paperIds },
  };
}

const mimeWriter = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });

/** The message as it would travel: RFC 5322 text with CRLF line ends (for .eml files and previews). */
export async function toMime(message: OutgoingMessage): Promise<string> {
  const { meta: _meta, ...mail } = message;
  const info = await mimeWriter.sendMail(mail);
  return (info.message as Buffer).toString('utf8');
}
