/**
 * Signed links for subscribers (unsubscribe, manage topics): no login, no
 * database of tokens. A token is `<purpose>.<subscriber id>.<mac>`, the MAC
 * being HMAC-SHA256 over the purpose, the id and the subscriber's email, so a
 * token dies when the address changes and cannot be forged or re-targeted.
 * Comparison is constant-time.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { link, mkdir, open, unlink } from 'node:fs/promises';
import { PaperboyError } from './errors.js';
import { readTextIfExists } from './yamlfile.js';
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
  const existing = await readSecret(file);
  if (existing !== undefined) return existing;
  await mkdir(dataDir, { recursive: true });
  // Written whole to a temp file, fsynced, then linked into place: link() fails if
  // another process got there first, so nobody ever sees (or keeps) a half-written key.
  const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  const fh = await open(tmp, 'wx', 0o600);
  try {
    await fh.writeFile(randomBytes(32).toString('hex') + '\n');
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await link(tmp, file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  } finally {
    await unlink(tmp).catch(() => {});
  }
  const secret = await readSecret(file);
  if (secret === undefined) throw new PaperboyError('CONFIG', `${file}: could not create the token secret`);
  return secret;
}

/** The secret in `file`, undefined if there is no file; a file too short to be a key is an error, never a weak key. */
async function readSecret(file: string): Promise<string | undefined> {
  const text = await readTextIfExists(file);
  if (text === undefined) return undefined;
  const secret = text.trim();
  if (secret.length < 32) {
    throw new PaperboyError(
      'CONFIG',
      `${file}: token secret is ${secret.length} characters, expected at least 32; delete the file to generate a new one (old links stop working) or set TOKEN_SECRET`,
    );
  }
  return secret;
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
