/**
 * A scratch Paperboy installation for delivery tests: the bundled catalog,
 * N generated subscribers (s01…), the 2024-10-25 fixture listing, and the
 * parts the pipeline needs, wired as `paperboy run` wires them, except for
 * an in-memory logger and a sleep that records its delays instead of waiting.
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadConfig, type Config, type Env } from '../../src/config.js';
import { getRenderer, loadParts } from '../../src/context.js';
import type { Sleep } from '../../src/delivery.js';
import { Ledger } from '../../src/ledger.js';
import { memoryLogger } from '../../src/log.js';
import type { RunDeps } from '../../src/pipeline.js';
import { fileSource } from '../../src/sources/file.js';
import type { Transport } from '../../src/transport.js';
import type { TestSmtp } from '../helpers/smtp.js';
import { cleanEnv, FIXTURES, scratchDir } from '../helpers/cli.js';

export const LISTING = path.join(FIXTURES, 'hf-daily-papers-2024-10-25.json');
export const DATE = '2024-10-25';
export const id = (i: number) => `s${String(i).padStart(2, '0')}`;
export const emailOf = (i: number) => `${id(i)}@example.org`;

export interface World {
  dir: string;
  subscribers: string;
  dataDir: string;
  ids: string[];
  env(extra?: Record<string, string>): Record<string, string>;
  config(extra?: Partial<Record<keyof Env, string>>): Config;
  ledger(): Ledger;
  subscriberText(subscriber: string): Promise<string>;
  cleanup(): Promise<void>;
}

/** `n` subscribers who each get the day's top papers, whatever the topics. */
export async function makeWorld(n: number, extraYaml: (i: number) => string = () => ''): Promise<World> {
  const scratch = await scratchDir();
  for (const example of ['ada', 'alan', 'grace']) await rm(path.join(scratch.subscribers, `${example}.yaml`));
  const ids: string[] = [];
  for (let i = 1; i <= n; i++) {
    ids.push(id(i));
    await writeFile(
      path.join(scratch.subscribers, `${id(i)}.yaml`),
      `# generated for a delivery test\nemail: ${emailOf(i)}\nstatus: active\ntop_of_day: 3\n${extraYaml(i)}`,
    );
  }
  const dataDir = path.join(scratch.dir, 'data');
  const env = (extra: Record<string, string> = {}) => cleanEnv({ LOG_LEVEL: 'debug', ...extra });
  return {
    dir: scratch.dir,
    subscribers: scratch.subscribers,
    dataDir,
    ids,
    env,
    config: (extra = {}) => loadConfig(env(extra as Record<string, string>), scratch.dir),
    ledger: () => new Ledger(dataDir),
    subscriberText: (s) => readFile(path.join(scratch.subscribers, `${s}.yaml`), 'utf8'),
    cleanup: scratch.cleanup,
  };
}

/** Records every wait; never waits. */
export function fakeSleep(): Sleep & { waits: number[] } {
  const waits: number[] = [];
  const sleep = (async (ms: number) => {
    waits.push(ms);
  }) as Sleep & { waits: number[] };
  sleep.waits = waits;
  return sleep;
}

export async function pipelineDeps(world: World, transport: Transport, overrides: Partial<RunDeps> = {}) {
  const config = world.config();
  const parts = await loadParts(config);
  const log = memoryLogger();
  const sleep = fakeSleep();
  const deps: RunDeps = {
    ...parts,
    source: fileSource(LISTING),
    transport,
    ledger: world.ledger(),
    renderer: await getRenderer(),
    maxEmailBytes: config.MAX_EMAIL_BYTES,
    log,
    clock: { now: () => new Date() },
    delivery: { retries: 3, retryBaseMs: 100, retryMaxTotalMs: 10_000, errorBudget: 0, bounceDays: 3 },
    sleep,
    random: () => 1,
    ...overrides,
  };
  return { deps, log, sleep };
}

/** Recipients of received messages, in arrival order. */
export const recipients = (received: Array<{ envelope: { to: string[] } }>) => received.flatMap((r) => r.envelope.to);

/** What a delivery test started; `stopAll` closes it after each test, whatever happened. */
export interface Started {
  world?: World;
  smtp?: TestSmtp;
  transport?: Transport;
}

export async function stopAll(s: Started): Promise<void> {
  await s.transport?.close();
  await s.smtp?.close();
  await s.world?.cleanup();
  s.world = s.smtp = s.transport = undefined;
}
