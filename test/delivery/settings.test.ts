/** The schedule and delivery settings: validated at start-up, documented in .env.example. */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { envSchema, loadConfig } from '../../src/config.js';
import { ROOT } from '../helpers/cli.js';

const OURS = [
  'DIGEST_CRON',
  'MAX_LATENESS_MINUTES',
  'LISTING_DEADLINE_MINUTES',
  'RETRY_INTERVAL_MINUTES',
  'SMTP_RATE_LIMIT',
  'SMTP_CONNECT_TIMEOUT_SECONDS',
  'SMTP_SOCKET_TIMEOUT_SECONDS',
  'SEND_RETRIES',
  'SEND_RETRY_BASE_MS',
  'SEND_RETRY_MAX_SECONDS',
  'ERROR_BUDGET',
  'BOUNCE_DAYS',
  'LOCK_STALE_SECONDS',
];

describe('schedule and delivery settings', () => {
  it('are all in the schema and in .env.example, under their heading', async () => {
    const example = await readFile(path.join(ROOT, '.env.example'), 'utf8');
    const block = example.slice(example.indexOf('# --- Schedule and delivery'));
    for (const key of OURS) {
      expect(Object.keys(envSchema.shape)).toContain(key);
      expect(block).toMatch(new RegExp(`^${key}=`, 'm'));
    }
    // And .env.example's values are themselves valid.
    const values = Object.fromEntries(
      [...block.matchAll(/^([A-Z_]+)=(.*)$/gm)].filter(([, k]) => OURS.includes(k!)).map(([, k, v]) => [k!, v!.replace(/^"|"$/g, '')]),
    );
    const config = loadConfig(values, ROOT);
    expect(config.DIGEST_CRON).toBe('0 7 * * 1-5');
    expect(config.MAX_LATENESS_MINUTES).toBe(360);
  });

  it('reject a bad cron expression or a negative budget, naming the setting', () => {
    expect(() => loadConfig({ DIGEST_CRON: '0 25 * * *' }, ROOT)).toThrow(/DIGEST_CRON: must be a cron expression/);
    expect(() => loadConfig({ ERROR_BUDGET: '-1' }, ROOT)).toThrow(/ERROR_BUDGET/);
  });
});
