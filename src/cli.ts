#!/usr/bin/env node
/**
 * paperboy — the command line. Each command lives in src/commands/ and is a
 * thin shell over the core: parse flags, build the parts (src/context.ts),
 * call one function, print. PaperboyError is caught once, here, and printed
 * without a stack; exit 2 for bad usage (flags, arguments, settings), 1 for
 * the rest. Commander's own parse errors exit 2 as well.
 *
 *   paperboy run [--date D] [--listing FILE] [--subscribers DIR] [--dry-run]
 *   paperboy preview (--subscriber ID | --topics a,b) [--format html|text|json|eml] [--out FILE]
 *   paperboy topics
 *   paperboy subscribers validate|list|add|remove|pause|resume|set-topics
 *   paperboy serve [--port N]
 *   paperboy schedule [--listing FILE] [--once]
 *   paperboy status [--date D] [--json]
 */
import { Command, CommanderError, Option } from 'commander';
import { isPaperboyError } from './errors.js';
import { createLogger } from './log.js';
import { registerPreview } from './commands/preview.js';
import { registerRun } from './commands/run.js';
import { registerSchedule } from './commands/schedule.js';
import { registerStatus } from './commands/status.js';
import { registerServe } from './commands/serve.js';
import { registerSubscribers } from './commands/subscribers.js';
import { registerTopics } from './commands/topics.js';

export function buildProgram(): Command {
  const program = new Command('paperboy')
    .description('Self-hosted daily research-paper digest: trending papers filed by topic, one email per subscriber.')
    .version('0.1.0')
    .option('--subscribers <dir>', 'subscribers folder with topics.yaml (env SUBSCRIBERS_DIR, default ./subscribers)')
    .option('--data-dir <dir>', 'ledger and state folder (env DATA_DIR, default ./data)')
    .addOption(new Option('--log-format <format>', 'log lines as readable text or JSON (env LOG_FORMAT)').choices(['text', 'json']))
    .showHelpAfterError()
    // Under JSON logs a parse error is one `fatal` JSON line (main), not Commander's text and help.
    .configureOutput({ writeErr: (text) => void (jsonLogs() ? undefined : process.stderr.write(text)) })
    // Throw instead of exiting, so a parse error gets the same exit status as any other bad usage (main).
    .exitOverride();
  registerRun(program);
  registerPreview(program);
  registerTopics(program);
  registerSubscribers(program);
  registerSchedule(program);
  registerStatus(program);
  registerServe(program);
  return program;
}

export async function main(argv = process.argv): Promise<void> {
  // `paperboy preview | head` closes the pipe early: that is not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // Commander has printed the message (or the help / version asked for), unless logs are JSON.
      process.exitCode = e.exitCode === 0 ? 0 : 2;
      if (e.exitCode !== 0 && jsonLogs()) fatal(program, e.message.replace(/^error: /, ''), 'USAGE');
      return;
    }
    if (isPaperboyError(e)) {
      fatal(program, e.message, e.code);
      process.exitCode = e.code === 'USAGE' || e.code === 'CONFIG' ? 2 : 1;
      return;
    }
    const fsError = fileSystemMessage(e);
    if (fsError) {
      // A path the user gave that cannot be used (--out in a missing folder, --data-dir that is a file): say which.
      fatal(program, fsError, (e as NodeJS.ErrnoException).code ?? 'FILE');
      process.exitCode = 1;
      return;
    }
    throw e;
  }
}

/**
 * The one line that says why the command stopped. Under --log-format json (or
 * LOG_FORMAT=json, from the environment or .env) it is a JSON log line like
 * every other, so a log shipper does not drop the one line that matters.
 */
function fatal(program: Command, message: string, code: string): void {
  if (jsonLogs(program)) createLogger({ format: 'json' }).error('fatal', { code, message });
  else process.stderr.write(`paperboy: ${message}\n`);
}

/**
 * Whether logs are JSON: the parsed flag, else (when parsing failed) the flag as written on the command
 * line, else LOG_FORMAT (from the environment, or .env once a command has read it).
 */
function jsonLogs(program?: Command): boolean {
  const argv = process.argv;
  const at = argv.indexOf('--log-format');
  const written = argv.find((a) => a.startsWith('--log-format='))?.slice('--log-format='.length) ?? (at >= 0 ? argv[at + 1] : undefined);
  return (program?.opts<{ logFormat?: string }>().logFormat ?? written ?? process.env.LOG_FORMAT) === 'json';
}

const FS_CODES: Record<string, string> = {
  ENOENT: 'no such file or folder',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EISDIR: 'is a folder, not a file',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EEXIST: 'already exists',
};

/** "cannot open /x/y: no such file or folder (ENOENT)" for a file-system error on a path, else undefined. */
function fileSystemMessage(e: unknown): string | undefined {
  const err = e as NodeJS.ErrnoException;
  if (!(e instanceof Error) || typeof err.code !== 'string' || !FS_CODES[err.code] || typeof err.path !== 'string') return undefined;
  return `cannot ${err.syscall ?? 'use'} ${err.path}: ${FS_CODES[err.code]} (${err.code})`;
}

await main();
