import { describe, expect, it } from 'vitest';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { linkBuilder, loadSecret, signToken, tokenSubject, verifyToken } from '../src/tokens.js';

const secret = 'k'.repeat(64);

describe('signed subscriber tokens', () => {
  const token = signToken(secret, 'unsubscribe', 'ada', 'ada@example.org');

  it('verifies for the same purpose, id and email (email case-insensitive)', () => {
    expect(verifyToken(secret, 'unsubscribe', token, 'ADA@example.org')).toBe(true);
    expect(tokenSubject(token, 'unsubscribe')).toBe('ada');
  });

  it('fails for another purpose, another email, another secret, or a changed id', () => {
    expect(verifyToken(secret, 'manage', token, 'ada@example.org')).toBe(false);
    expect(verifyToken(secret, 'unsubscribe', token, 'eve@example.org')).toBe(false);
    expect(verifyToken('x'.repeat(64), 'unsubscribe', token, 'ada@example.org')).toBe(false);
    expect(verifyToken(secret, 'unsubscribe', token.replace('.ada.', '.bob.'), 'ada@example.org')).toBe(false);
  });

  it('rejects truncated and malformed tokens without throwing', () => {
    expect(verifyToken(secret, 'unsubscribe', token.slice(0, -1), 'ada@example.org')).toBe(false);
    expect(verifyToken(secret, 'unsubscribe', '', 'ada@example.org')).toBe(false);
    expect(tokenSubject('u.../../etc.x', 'unsubscribe')).toBeUndefined();
  });

  it('builds links under PUBLIC_URL', () => {
    const links = linkBuilder('https://digest.example.org/', secret);
    expect(links.unsubscribeUrl('ada', 'ada@example.org')).toBe(`https://digest.example.org/unsubscribe/${token}`);
    expect(links.manageUrl('ada', 'ada@example.org')).toMatch(/^https:\/\/digest\.example\.org\/u\/m\.ada\./);
  });
});

describe('the generated token secret', () => {
  it('is created once, 64 hex characters, and reused', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'paperboy-secret-'));
    const a = await loadSecret(undefined, dir);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(await loadSecret(undefined, dir)).toBe(a);
    const both = await Promise.all([loadSecret(undefined, `${dir}/x`), loadSecret(undefined, `${dir}/x`)]);
    expect(both[0]).toBe(both[1]);
  });

  it('refuses a truncated secret file instead of signing with a weak key', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'paperboy-secret-'));
    await writeFile(path.join(dir, 'token-secret'), '');
    await expect(loadSecret(undefined, dir)).rejects.toThrow(/token-secret: token secret is 0 characters, expected at least 32/);
  });
});
