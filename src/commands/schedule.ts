/** `paperboy schedule`: the long-running scheduler daemon (src/daemon.ts). */
import type { Command } from 'commander';
import { makeSource, makeTransport } from '../context.js';
import { Daemon, type TickReport } from '../daemon.js';
import { trapShutdown } from '../shutdown.js';
import { setup } from './shared.js';

export function registerSchedule(program: Command): void {
  program
    .command('schedule')
    .description('run the scheduler: send each subscriber their digest at their time (DIGEST_CRON in DIGEST_TZ or their own zone/hour)')
    .option('--listing <file>', 'read every listing from this JSON file instead of the Hugging Face API (for trials and tests)')
    .option('--once', 'do one tick (catch-up included) and exit, instead of running until SIGTERM')
    .action(async (flags: { listing?: string; once?: boolean }, cmd: Command) => {
      const { config, log } = setup(cmd);
      const daemon = new Daemon({
        config,
        log,
        makeSource: () => makeSource(config, flags.listing, log),
        makeTransport: () => makeTransport(config),
      });
      if (flags.once) {
        const report = await daemon.tick();
        log.info('tick.done', {
          due: report.due.length,
          missed: report.missed.length,
          deferred: report.deferred.length,
          skipped: report.skipped.length,
          errors: report.errors.length,
          busy: report.busy,
          next: report.nextDueAt?.toISOString(),
        });
        process.exitCode = onceExitCode(report);
        return;
      }
      let stopped!: () => void;
      const done = new Promise<void>((resolve) => (stopped = resolve));
      const untrap = trapShutdown(log, (signal) => {
        void daemon.stop(signal).then(stopped);
      });
      await daemon.start();
      await done;
      untrap();
      process.exitCode = 0;
      // Everything is closed; if a stray handle kept the process alive, do not hang the service manager.
      setTimeout(() => process.exit(0), 5000).unref();
    });
}

/** `schedule --once` exits as `run` does: 4 lock held, 3 stopped early, 1 a failure (listing, delivery, subscriber file), else 0. */
export function onceExitCode(report: TickReport): number {
  if (report.busy) return 4;
  if (report.runs.some((r) => r.aborted)) return 3;
  if (report.errors.length > 0 || report.runs.some((r) => r.failed > 0 || r.invalid.length > 0)) return 1;
  return 0;
}
