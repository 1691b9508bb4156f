/**
 * Signed links for subscribers (unsubscribe, manage topics): no login, no
 * database of tokens. A token is `<purpose>.<subscriber id>.<mac>`, the MAC
 * being HMAC-SHA256 over the purpose, the id and the subscriber's email, so a
 * token dies when the address changes and cannot be forged or re-targeted.
 * Comparison is constant-time.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { SUBSCRIBER_ID } from './subscribers.js';

export type TokenPurpose = 'unsubscribe' | 'manage';
const PREFIX: Record<TokenPurpose, string> = { unsubscribe: 'u', manage: 'm' };
const MAC_CHARS = 32; // 192 bits of base64url: far beyond guessing

function mac(secret: string, purpose: TokenPurpose, id: string, email: string): string {
  return createHmac('sha256', secret)
    .update(`paperboy/v1\n${purpose}\n${id}\n${email.toLowerCase()}`)
    .digest('base64url')
    .slice(0, MAC_CHARS);
}

export function signToken(secret: string, purpose: TokenPurpose, id: string, email: string): string {
  return `${PREFIX[purpose]}.${id}.${mac(secret, purpose, id, email)}`;
}

/** The subscriber id a well-formed token names (not yet verified), or undefined. */
export function tokenSubject(token: string, purpose: TokenPurpose): string | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || parts[0] !== PREFIX[purpose]) return undefined;
  const [, id, sig] = parts as [string, string, string];
  if (!SUBSCRIBER_ID.test(id) || sig.length !== MAC_CHARS) return undefined;
  return id;
}

/** True when `token` was signed for this purpose, id and email. */
export function verifyToken(secret: string, purpose: TokenPurpose, token: string, email: string): boolean {
  const id = tokenSubject(token, purpose);
  if (!id) return false;
  const expected = Buffer.from(signToken(secret, purpose, id, email));
  const given = Buffer.from(token);
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/**
 * TOKEN_SECRET if set; otherwise a secret generated once into DATA_DIR so
 * that links in yesterday's email still work today. Never committed: data/ is git-ignored.
 */
export async function loadSecret(configured: string | undefined, dataDir: string): Promise<string> {
  if (configured) return configured;
  const file = path.join(dataDir, 'token-secret');
  try {
    const s = (await readFile(file, 'utf8')).trim();
    if (s.length >= 32) return s;
  } catch {
    // first run: create it below
  }
  await mkdir(dataDir, { recursive: true });
  const secret = randomBytes(32).toString('hex');
  try {
    await writeFile(file, secret + '\n', { mode: 0o600, flag: 'wx' });
    return secret;
  } catch {
    // Another process created it first: use theirs.
    return (await readFile(file, 'utf8')).trim();
  }
}

export interface LinkBuilder {
  unsubscribeUrl(id: string, email: string): string;
  manageUrl(id: string, email: string): string;
  unsubscribeToken(id: string, email: string): string;
}

export function linkBuilder(publicUrl: string, secret: string): LinkBuilder {
  const base = publicUrl.replace(/\/+$/, '');
  return {
    unsubscribeToken: (id, email) => signToken(secret, 'unsubscribe', id, email),
    unsubscribeUrl: (id, email) => `${base}/unsubscribe/${signToken(secret, 'unsubscribe', id, email)}`,
    manageUrl: (id, email) => `${base}/u/${signToken(secret, 'manage', id, email)}`,
  };
}
