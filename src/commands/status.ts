/** `paperboy status`: what happened on a digest day, from the ledger. */
import type { Command } from 'commander';
import { makeLedger } from '../context.js';
import { assertDate, latestListingDate } from '../dates.js';
import { dayReport, formatDayReport } from '../report.js';
import { setup } from './shared.js';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description(
      'show, from the ledger, what happened to each digest of a day: counts per state, failures and ambiguous sends with reasons',
    )
    .option('--date <YYYY-MM-DD>', 'digest date (default: the latest complete listing day in DIGEST_TZ)')
    .option('--json', 'print as JSON')
    .action((flags: { date?: string; json?: boolean }, cmd: Command) => {
      const { config } = setup(cmd);
      const date = flags.date ? assertDate(flags.date) : latestListingDate(new Date(), config.DIGEST_TZ);
      // Reading only: no lock needed (each ledger line is written whole and fsynced; a torn last one is skipped).
      const report = dayReport(makeLedger(config), date);
      process.stdout.write(flags.json ? JSON.stringify(report, null, 2) + '\n' : formatDayReport(report));
    });
}
