/**
 * Run the real built CLI (dist/, built by `npm test`'s pretest) in a child
 * process, in a scratch working directory with its own subscribers and data.
 */
import { spawn } from 'node:child_process';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(ROOT, 'bin/paperboy.js');
export const FIXTURES = path.join(ROOT, 'test/fixtures');
export const SAMPLE = path.join(ROOT, 'samples/hf-daily-papers-2024-10-25.json');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Environment without anything from the developer's shell that would change behaviour. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const keep = ['PATH', 'HOME', 'TMPDIR', 'LANG', 'SYSTEMROOT'];
  const env: Record<string, string> = {};
  for (const k of keep) if (process.env[k]) env[k] = process.env[k]!;
  // Tests send to a loopback SMTP server, so http links are fine there (ALLOW_HTTP_LINKS).
  return { ...env, TOKEN_SECRET: 'test-secret-0123456789abcdef0123456789abcdef', ALLOW_HTTP_LINKS: 'true', ...extra };
}

export function runCli(args: string[], opts: { cwd: string; env?: Record<string, string>; timeoutMs?: number }): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd, env: cleanEnv(opts.env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** A scratch folder holding a copy of the bundled subscribers/ (topics.yaml and the examples). */
export async function scratchDir(): Promise<{ dir: string; subscribers: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'paperboy-test-'));
  const subscribers = path.join(dir, 'subscribers');
  await cp(path.join(ROOT, 'subscribers'), subscribers, { recursive: true });
  return { dir, subscribers, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
