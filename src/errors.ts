/**
 * One error class for everything Paperboy reports to a person. The CLI catches
 * it once, at the edge, and prints `message` (which names the file, field and
 * what was expected) without a stack trace; anything else is a bug and keeps
 * its stack.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';

export type ErrorCode =
  | 'CONFIG' // bad environment / .env
  | 'LISTING' // a payload that is not a listing at all
  | 'SOURCE' // the listing could not be fetched
  | 'CATALOG' // subscribers/topics.yaml is unusable
  | 'SUBSCRIBER' // one subscriber file is unusable
  | 'NOT_FOUND'
  | 'USAGE'
  | 'LOCKED' // another run holds the lock
  | 'CONFLICT' // a write lost a race (file changed on disk)
  | 'LEDGER'; // the ledger could not be appended to (disk full, I/O error): the run must stop

export class PaperboyError extends Error {
  override readonly name = 'PaperboyError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const isPaperboyError = (e: unknown): e is PaperboyError => e instanceof PaperboyError;

/** Human text for any thrown value, for logs and summaries. */
export function describeError(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

/**
 * The edge of an `npm run` script (eval:topics, train:topics): when the module
 * is the one node was started with, run `main` and print a PaperboyError as one
 * line (exit 2) instead of a stack trace.
 */
export async function runScript(moduleUrl: string, name: string, main: (argv: string[]) => Promise<number>): Promise<void> {
  const started = process.argv[1];
  if (!started || moduleUrl !== pathToFileURL(path.resolve(started)).href) return;
  process.exitCode = await main(process.argv.slice(2)).catch((e: unknown) => {
    if (!isPaperboyError(e)) throw e;
    console.error(`paperboy ${name}: ${e.message}`);
    return 2;
  });
}

/** A script's flags, strictly: an unknown or misspelt flag is a usage error (exit 2), not silently ignored. */
export function scriptFlags<O extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    const known = Object.keys(options)
      .map((k) => `--${k}`)
      .join(', ');
    throw new PaperboyError('USAGE', `${(e as Error).message.split('\n')[0]} (known flags: ${known})`);
  }
}
