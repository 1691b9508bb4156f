#!/usr/bin/env node
/**
 * paperboy — the command line. Each command is a thin shell over the core:
 * parse flags, build the parts (src/context.ts), call one function, print.
 * PaperboyError is caught once, here, and printed without a stack.
 *
 *   paperboy run [--date D] [--listing FILE] [--subscribers DIR] [--dry-run]
 *   paperboy preview (--subscriber ID | --topics a,b) [--format html|text|json|eml] [--out FILE]
 *   paperboy topics
 *   paperboy subscribers validate
 */
import { writeFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import nodemailer from 'nodemailer';
import { loadConfig, type Config, type Env } from './config.js';
import { getRenderer, loadParts, makeLedger, makeSource, makeTransport } from './context.js';
import { assertDate, latestListingDate } from './dates.js';
import { composeDigest, digestJson, type DigestRecipient } from './digest.js';
import { isPaperboyError, PaperboyError } from './errors.js';
import { createLogger, type Logger } from './log.js';
import { Matcher } from './matcher.js';
import { buildMessage } from './message.js';
import { run, type RunSummary } from './pipeline.js';
import { fileListing } from './selection.js';
import { systemClock } from './clock.js';

interface GlobalFlags {
  subscribers?: string;
  dataDir?: string;
  logFormat?: 'text' | 'json';
}

function setup(cmd: Command): { config: Config; log: Logger } {
  const g = cmd.optsWithGlobals<GlobalFlags>();
  const overrides: Partial<Env> = { SUBSCRIBERS_DIR: g.subscribers, DATA_DIR: g.dataDir, LOG_FORMAT: g.logFormat };
  const config = loadConfig(process.env, process.cwd(), overrides);
  return { config, log: createLogger({ format: config.LOG_FORMAT, level: config.LOG_LEVEL }) };
}

const program = new Command('paperboy')
  .description('Self-hosted daily research-paper digest: trending papers filed by topic, one email per subscriber.')
  .version('0.1.0')
  .option('--subscribers <dir>', 'subscribers folder with topics.yaml (env SUBSCRIBERS_DIR, default ./subscribers)')
  .option('--data-dir <dir>', 'ledger and state folder (env DATA_DIR, default ./data)')
  .addOption(new Option('--log-format <format>', 'log lines as readable text or JSON (env LOG_FORMAT)').choices(['text', 'json']))
  .showHelpAfterError();

program
  .command('run')
  .description('run one digest now: fetch the listing, select per subscriber, render, send, record')
  .option('--date <YYYY-MM-DD>', 'digest date (default: the latest complete listing day, i.e. the last weekday before today in DIGEST_TZ)')
  .option('--listing <file>', 'read the listing from a JSON file (the API shape) instead of the Hugging Face API')
  .option('--subscriber <id>', 'only this subscriber')
  .option('--dry-run', 'select and render, but send nothing and record nothing')
  .option('--json', 'print the summary as JSON on stdout')
  .action(async (flags: { date?: string; listing?: string; subscriber?: string; dryRun?: boolean; json?: boolean }, cmd: Command) => {
    const { config, log } = setup(cmd);
    const date = flags.date ? assertDate(flags.date) : latestListingDate(new Date(), config.DIGEST_TZ);
    const parts = await loadParts(config);
    const transport = makeTransport(config);
    const tty = process.stderr.isTTY && config.LOG_FORMAT === 'text';
    let summary: RunSummary;
    try {
      summary = await run(
        { date, dryRun: flags.dryRun, only: flags.subscriber },
        {
          ...parts,
          source: makeSource(config, flags.listing, log),
          transport,
          ledger: makeLedger(config),
          renderer: await getRenderer(),
          maxEmailBytes: config.MAX_EMAIL_BYTES,
          log,
          clock: systemClock,
          progress: tty ? (done, total) => process.stderr.write(`\r  handled ${done}/${total} subscribers${done === total ? '\n' : ''}`) : undefined,
        },
      );
    } finally {
      await transport.close();
    }
    if (flags.json) process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
    else process.stdout.write(formatSummary(summary, flags.dryRun ? undefined : transport.name, !!flags.dryRun));
    if (summary.aborted) process.exitCode = 3;
    else if (summary.invalid.length > 0 || summary.failed > 0) process.exitCode = 1;
  });

program
  .command('preview')
  .description('render one digest without sending it or touching the ledger')
  .option('--subscriber <id>', 'preview for this subscriber')
  .option('--topics <ids>', 'or for these topic ids, comma-separated (e.g. peft,reasoning)')
  .option('--date <YYYY-MM-DD>', 'digest date (default: the latest complete listing day)')
  .option('--listing <file>', 'read the listing from a JSON file instead of the Hugging Face API')
  .addOption(new Option('--format <format>', 'what to print').choices(['html', 'text', 'json', 'eml']).default('html'))
  .option('--out <file>', 'write to this file instead of stdout')
  .action(async (flags: { subscriber?: string; topics?: string; date?: string; listing?: string; format: string; out?: string }, cmd: Command) => {
    const { config, log } = setup(cmd);
    if (!!flags.subscriber === !!flags.topics) throw new PaperboyError('USAGE', 'preview needs exactly one of --subscriber ID or --topics id,id');
    const date = flags.date ? assertDate(flags.date) : latestListingDate(new Date(), config.DIGEST_TZ);
    const parts = await loadParts(config);
    let recipient: DigestRecipient;
    if (flags.subscriber) {
      recipient = await parts.store.get(flags.subscriber).catch((e: unknown) => {
        if (isPaperboyError(e) && e.code === 'NOT_FOUND') throw new PaperboyError('NOT_FOUND', `no subscriber "${flags.subscriber}" in ${config.subscribersDir}`);
        throw e;
      });
    } else {
      const topics = flags.topics!.split(',').map((t) => t.trim()).filter(Boolean);
      const known = new Set(parts.catalog.topics.map((t) => t.id));
      const unknown = topics.filter((t) => !known.has(t));
      if (unknown.length) throw new PaperboyError('USAGE', `--topics: unknown topic ${unknown.map((t) => `"${t}"`).join(', ')}; run "paperboy topics" for the list`);
      recipient = { id: 'preview', email: 'preview@example.org', topics, keywords: [], authors: [], max_papers: 30, min_upvotes: 0, top_of_day: 0 };
    }
    const listing = await makeSource(config, flags.listing, log).fetch(date);
    for (const w of listing.warnings) log.warn('listing.item_dropped', { detail: w });
    const filed = fileListing(listing.papers, Matcher.fromCatalog(parts.catalog));
    const digest = composeDigest(recipient, filed, date, { ...parts, renderer: await getRenderer(), maxEmailBytes: config.MAX_EMAIL_BYTES });
    let output: string;
    if (flags.format === 'json') output = JSON.stringify(digestJson(recipient.id, date, digest), null, 2) + '\n';
    else if (!digest.email) {
      log.info('preview.empty', { subscriber: recipient.id, reason: digest.selection.emptyReason });
      throw new PaperboyError('NOT_FOUND', `nothing to preview for ${recipient.id} on ${date}: ${digest.selection.emptyReason}`);
    } else if (flags.format === 'html') output = digest.email.html;
    else if (flags.format === 'text') output = digest.email.text;
    else {
      const message = buildMessage(digest.email, recipient, date, digest.paperIds, parts.message);
      const { meta: _meta, ...mail } = message;
      const info = await nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' }).sendMail(mail);
      output = (info.message as Buffer).toString('utf8');
    }
    if (flags.out) {
      await writeFile(flags.out, output);
      log.info('preview.written', { file: flags.out, format: flags.format, bytes: Buffer.byteLength(output) });
    } else process.stdout.write(output);
  });

program
  .command('topics')
  .description('list the topic catalog')
  .option('--json', 'print as JSON')
  .action(async (flags: { json?: boolean }, cmd: Command) => {
    const { config } = setup(cmd);
    const { catalog } = await loadParts(config);
    if (flags.json) {
      process.stdout.write(JSON.stringify(catalog.topics, null, 2) + '\n');
      return;
    }
    const width = Math.max(...catalog.topics.map((t) => t.id.length));
    for (const t of catalog.topics) process.stdout.write(`${t.id.padEnd(width)}  ${t.name}${t.description ? ` — ${t.description}` : ''}\n`);
  });

const subscribers = program.command('subscribers').description('manage subscriber files');
subscribers
  .command('validate')
  .description('check every subscriber file and report all problems at once')
  .action(async (_flags: unknown, cmd: Command) => {
    const { config } = setup(cmd);
    const { store } = await loadParts(config);
    const { subscribers: valid, problems } = await store.list();
    for (const p of problems) process.stderr.write(`${p.message}\n`);
    process.stdout.write(`${valid.length} valid, ${problems.length} invalid subscriber file(s) in ${config.subscribersDir}\n`);
    if (problems.length) process.exitCode = 1;
  });

export function formatSummary(s: RunSummary, destination: string | undefined, dryRun: boolean): string {
  const lines = [`Paperboy digest for ${s.date}${dryRun ? ' (dry run: nothing sent, nothing recorded)' : ''}`];
  lines.push(`  listing      ${s.papers} papers from ${s.source}${s.listingWarnings.length ? ` (${s.listingWarnings.length} dropped)` : ''}`);
  lines.push(`  subscribers  ${s.subscribers} valid, ${s.invalid.length} invalid`);
  for (const p of s.invalid) lines.push(`    invalid: ${p.message.split('\n').join('\n             ')}`);
  lines.push(`  ${dryRun ? 'would send' : 'sent      '}   ${s.sent}${destination && s.sent ? ` → ${destination}` : ''}`);
  lines.push(`  skipped      ${s.skipped}`);
  for (const o of s.outcomes.filter((o) => o.state === 'skipped')) lines.push(`    ${o.subscriber}: ${o.reason}`);
  lines.push(`  failed       ${s.failed}`);
  for (const o of s.outcomes.filter((o) => o.state === 'failed')) lines.push(`    ${o.subscriber}: ${o.reason}`);
  if (s.papers === 0) lines.push('  The listing is empty for this date (weekends have none): nothing to send.');
  if (s.aborted) lines.push(`  ABORTED: ${s.aborted}`);
  return lines.join('\n') + '\n';
}

export async function main(argv = process.argv): Promise<void> {
  // `paperboy preview | head` closes the pipe early: that is not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (isPaperboyError(e)) {
      process.stderr.write(`paperboy: ${e.message}\n`);
      process.exitCode = e.code === 'USAGE' ? 2 : 1;
      return;
    }
    throw e;
  }
}

await main();
