/** `paperboy run`: one digest run now. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { systemClock } from '../clock.js';
import { deliveryPolicy, getRenderer, loadParts, makeLedger, makeSource, makeTransport, openLedgerForRun } from '../context.js';
import { assertDate, emptyListingNote, latestListingDate } from '../dates.js';
import { isPaperboyError, PaperboyError } from '../errors.js';
import { RunLock, type HeldLock } from '../lock.js';
import { run, type RunSummary } from '../pipeline.js';
import { trapShutdown } from '../shutdown.js';
import { assertSubscriberId } from '../subscribers.js';
import { setup } from './shared.js';

/** Exit status when another run holds the lock (the daemon, or a second `paperboy run`). */
export const EXIT_LOCKED = 4;

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run one digest now: fetch the listing, select per subscriber, render, send, record')
    .option(
      '--date <YYYY-MM-DD>',
      'digest date (default: the latest complete listing day, i.e. the last weekday before today in DIGEST_TZ)',
    )
    .option('--listing <file>', 'read the listing from a JSON file (the API shape) instead of the Hugging Face API')
    .option('--subscriber <id>', 'only this subscriber')
    .option('--dry-run', 'select and render, but send nothing and record nothing')
    .option('--json', 'print the summary as JSON on stdout')
    .option('--wait <seconds>', 'if another run holds the lock, wait up to this long for it (default: exit 4 at once)')
    .action(async (flags: RunFlags, cmd: Command) => {
      const { config, log } = setup(cmd);
      const date = flags.date ? assertDate(flags.date) : latestListingDate(new Date(), config.DIGEST_TZ);
      const waitSeconds = Number(flags.wait ?? 0);
      if (!Number.isFinite(waitSeconds) || waitSeconds < 0)
        throw new PaperboyError('USAGE', `--wait: "${flags.wait}" is not a number of seconds`);
      // A mistyped id is reported before the listing is fetched (a file that exists but is broken is reported by the run).
      if (flags.subscriber) {
        assertSubscriberId(flags.subscriber);
        if (!existsSync(path.join(config.subscribersDir, `${flags.subscriber}.yaml`)))
          throw new PaperboyError('NOT_FOUND', `no subscriber "${flags.subscriber}" in ${config.subscribersDir}`);
      }
      // A dry run records nothing, so it needs no lock.
      let lock: HeldLock | undefined;
      if (!flags.dryRun) {
        try {
          lock = await new RunLock(config.dataDir).acquire({
            command: `paperboy run --date ${date}`,
            staleMs: config.LOCK_STALE_SECONDS * 1000,
            waitMs: waitSeconds * 1000,
          });
        } catch (e) {
          if (!isPaperboyError(e) || e.code !== 'LOCKED') throw e;
          log.error('run.locked', { reason: e.message });
          // The JSON log line above is the whole story for a log shipper; a person gets the plain sentence too.
          if (config.LOG_FORMAT === 'text') process.stderr.write(`paperboy: ${e.message}\n`);
          process.exitCode = EXIT_LOCKED;
          return;
        }
      }
      const stop = new AbortController();
      lock?.signal.addEventListener('abort', () => stop.abort(lock.signal.reason), { once: true });
      const untrap = trapShutdown(log, (signal) => stop.abort(signal));
      const transport = makeTransport(config);
      const tty = process.stderr.isTTY && config.LOG_FORMAT === 'text';
      let summary: RunSummary;
      try {
        summary = await run(
          { date, dryRun: flags.dryRun, only: flags.subscriber, signal: stop.signal },
          {
            // Read once the lock is held: a topic rename (it holds the lock too) changes the catalog and the
            // subscriber files together, and a run must not see one without the other.
            ...(await loadParts(config, log)),
            source: makeSource(config, flags.listing, log),
            transport,
            // Read the ledger only once the lock is held: another run may just have written to it.
            ledger: lock ? await openLedgerForRun(config, log, new Date(), lock) : makeLedger(config),
            renderer: await getRenderer(),
            maxEmailBytes: config.MAX_EMAIL_BYTES,
            log,
            clock: systemClock,
            delivery: deliveryPolicy(config),
            progress: tty
              ? (done, total) => process.stderr.write(`\r  handled ${done}/${total} subscribers${done === total ? '\n' : ''}`)
              : undefined,
          },
        );
      } finally {
        await transport.close();
        untrap();
        await lock?.release();
      }
      // A dry run sends nothing: `sent` is 0 and `wouldSend` counts what a real run would have sent, so a
      // script reading `.sent` never takes a rehearsal for mail that went out.
      const json = flags.dryRun ? { ...summary, sent: 0, wouldSend: summary.sent } : summary;
      if (flags.json) process.stdout.write(JSON.stringify(json, null, 2) + '\n');
      else process.stdout.write(formatSummary(summary, flags.dryRun ? undefined : transport.name, !!flags.dryRun));
      if (summary.aborted) process.exitCode = 3;
      else if (summary.invalid.length > 0 || summary.failed > 0) process.exitCode = 1;
    });
}

interface RunFlags {
  date?: string;
  listing?: string;
  subscriber?: string;
  dryRun?: boolean;
  json?: boolean;
  wait?: string;
}

/** " (2 dropped, 1 duplicate merged)", or nothing when every item became a paper. */
function listingNote(dropped: number, merged: number): string {
  const parts = [dropped ? `${dropped} dropped` : '', merged ? `${merged} duplicate${merged > 1 ? 's' : ''} merged` : ''].filter(Boolean);
  return parts.length ? ` (${parts.join(', ')})` : '';
}

export function formatSummary(s: RunSummary, destination: string | undefined, dryRun: boolean): string {
  const lines = [`Paperboy digest for ${s.date}${dryRun ? ' (dry run: nothing sent, nothing recorded)' : ''}`];
  lines.push(
    `  listing      ${s.papers} papers from ${s.source}${listingNote(s.listingWarnings.length - s.listingMerged, s.listingMerged)}`,
  );
  lines.push(`  subscribers  ${s.subscribers} valid, ${s.invalid.length} invalid`);
  for (const p of s.invalid) lines.push(`    invalid: ${p.message.split('\n').join('\n             ')}`);
  lines.push(`  ${dryRun ? 'would send' : 'sent      '}   ${s.sent}${destination && s.sent ? ` → ${destination}` : ''}`);
  lines.push(`  skipped      ${s.skipped}`);
  for (const o of s.outcomes.filter((o) => o.state === 'skipped')) lines.push(`    ${o.subscriber}: ${o.reason}`);
  lines.push(`  failed       ${s.failed}`);
  for (const o of s.outcomes.filter((o) => o.state === 'failed')) lines.push(`    ${o.subscriber}: ${o.reason}`);
  if (s.ambiguous.length) {
    lines.push(`  ambiguous    ${s.ambiguous.length} (may have been delivered; not resent — see paperboy status)`);
    for (const a of s.ambiguous) lines.push(`    ${a.subscriber} (${a.date}): ${a.reason ?? ''}`);
  }
  if (s.papers === 0) lines.push(`  The listing is empty: ${emptyListingNote(s.date)}. Nothing to send.`);
  if (s.aborted) lines.push(`  ABORTED: ${s.aborted}`);
  return lines.join('\n') + '\n';
}
