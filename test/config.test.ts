import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { envSchema, loadConfig } from '../src/config.js';
import { ROOT } from './helpers/cli.js';

describe('configuration', () => {
  it('documents every setting in .env.example', () => {
    const example = readFileSync(path.join(ROOT, '.env.example'), 'utf8');
    const documented = new Set([...example.matchAll(/^([A-Z_][A-Z0-9_]*)=/gm)].map((m) => m[1]));
    const missing = Object.keys(envSchema.shape).filter((k) => !documented.has(k));
    expect(missing).toEqual([]);
  });

  it('runs with no settings at all (the demo)', () => {
    const c = loadConfig({}, '/tmp/x');
    expect(c.SMTP_URL).toBeUndefined();
    expect(c.outboxDir).toBe('/tmp/x/outbox');
    expect(c.subscribersDir).toBe('/tmp/x/subscribers');
  });

  it('names the setting and what it expects', () => {
    expect(() => loadConfig({ SMTP_URL: 'mail.example.org', DIGEST_TZ: 'Mars/Olympus' }, '/tmp')).toThrow(
      /SMTP_URL: must start with smtp:\/\/ or smtps:\/\/[\s\S]*DIGEST_TZ: must be an IANA time zone[\s\S]*See \.env\.example/,
    );
    expect(() => loadConfig({ TOKEN_SECRET: 'short' }, '/tmp')).toThrow(/TOKEN_SECRET: must be at least 32 characters/);
    // zod's own wording ("Too big: expected number to be <=10") is put in the reader's words.
    expect(() => loadConfig({ SEND_RETRIES: '99', PORT: 'http' }, '/tmp')).toThrow(
      /SEND_RETRIES: must be at most 10\n\s+PORT: must be a number\n/,
    );
  });

  it('refuses the placeholder secrets of .env.example, which anyone can read', () => {
    const example = readFileSync(path.join(ROOT, '.env.example'), 'utf8');
    const value = (k: string) => example.match(new RegExp(`^${k}=(.*)$`, 'm'))![1]!;
    expect(() => loadConfig({ TOKEN_SECRET: value('TOKEN_SECRET') }, '/tmp')).toThrow(
      /TOKEN_SECRET: is still the placeholder from \.env\.example/,
    );
    expect(() => loadConfig({ ADMIN_TOKEN: value('ADMIN_TOKEN') }, '/tmp')).toThrow(
      /ADMIN_TOKEN: is still the placeholder from \.env\.example/,
    );
    expect(loadConfig({ ADMIN_TOKEN: 'a'.repeat(48), TOKEN_SECRET: 'b'.repeat(64) }, '/tmp').ADMIN_TOKEN).toBe('a'.repeat(48));
  });

  it('treats an empty value as unset, numbers included (an empty number is not 0)', () => {
    const c = loadConfig({ SMTP_URL: '', ERROR_BUDGET: '', SEND_RETRIES: ' ', PORT: '', PUBLIC_URL: '', MAX_LATENESS_MINUTES: '' }, '/tmp');
    expect(c.SMTP_URL).toBeUndefined();
    expect(c).toMatchObject({
      ERROR_BUDGET: 20,
      SEND_RETRIES: 3,
      PORT: 8787,
      MAX_LATENESS_MINUTES: 360,
      PUBLIC_URL: 'http://127.0.0.1:8787',
    });
    expect(c.publicUrlSet).toBe(false);
  });

  it('takes MAIL_FROM as one address, with or without a display name', () => {
    for (const ok of ['Paperboy <digest@example.org>', 'digest@example.org', '"Paper, boy" <d@example.org>'])
      expect(loadConfig({ MAIL_FROM: ok }, '/tmp').MAIL_FROM).toBe(ok);
    for (const bad of ['garbage', 'a@example.org, b@example.org', 'Paperboy <>', 'Paperboy'])
      expect(() => loadConfig({ MAIL_FROM: bad }, '/tmp'), bad).toThrow(/MAIL_FROM: must be one email address/);
  });
});
