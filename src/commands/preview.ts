/** `paperboy preview`: render a digest without sending it or touching the ledger. */
import { writeFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { getRenderer, loadParts, makeSource } from '../context.js';
import { assertDate, latestListingDate } from '../dates.js';
import { composeDigest, digestJson, topicsRecipient, type DigestRecipient } from '../digest.js';
import { isPaperboyError, PaperboyError } from '../errors.js';
import { Ledger } from '../ledger.js';
import { logListingWarnings } from '../listing.js';
import { Matcher } from '../matcher.js';
import { buildMessage, toMime } from '../message.js';
import { fileListing } from '../selection.js';
import { setup } from './shared.js';

export function registerPreview(program: Command): void {
  program
    .command('preview')
    .description('render one digest without sending it or touching the ledger')
    .option('--subscriber <id>', 'preview for this subscriber')
    .option('--topics <ids>', 'or for these topic ids, comma-separated (e.g. peft,reasoning)')
    .option('--date <YYYY-MM-DD>', 'digest date (default: the latest complete listing day)')
    .option('--listing <file>', 'read the listing from a JSON file instead of the Hugging Face API')
    .addOption(new Option('--format <format>', 'what to print').choices(['html', 'text', 'json', 'eml']).default('html'))
    .option('--out <file>', 'write to this file instead of stdout')
    .action(
      async (
        flags: { subscriber?: string; topics?: string; date?: string; listing?: string; format: string; out?: string },
        cmd: Command,
      ) => {
        const { config, log } = setup(cmd);
        if (!!flags.subscriber === !!flags.topics)
          throw new PaperboyError('USAGE', 'preview needs exactly one of --subscriber ID or --topics id,id');
        const date = flags.date ? assertDate(flags.date) : latestListingDate(new Date(), config.DIGEST_TZ);
        const parts = await loadParts(config, log);
        let recipient: DigestRecipient;
        if (flags.subscriber) {
          recipient = await parts.store.get(flags.subscriber).catch((e: unknown) => {
            if (isPaperboyError(e) && e.code === 'NOT_FOUND')
              throw new PaperboyError('NOT_FOUND', `no subscriber "${flags.subscriber}" in ${config.subscribersDir}`);
            throw e;
          });
          // A file that reads well alone can still be one that `run` skips (an address another file uses): say so.
          const problem = (await parts.store.list()).problems.find((p) => p.id === flags.subscriber);
          if (problem) log.warn('preview.run_would_skip', { subscriber: flags.subscriber, problem: problem.message });
        } else {
          const topics = flags
            .topics!.split(',')
            .map((t) => t.trim())
            .filter(Boolean);
          const known = new Set(parts.catalog.topics.map((t) => t.id));
          const unknown = topics.filter((t) => !known.has(t));
          if (unknown.length)
            throw new PaperboyError(
              'USAGE',
              `--topics: unknown topic ${unknown.map((t) => `"${t}"`).join(', ')}; run "paperboy topics" for the list`,
            );
          recipient = topicsRecipient(topics);
        }
        const listing = await makeSource(config, flags.listing, log).fetch(date);
        logListingWarnings(listing, log);
        const filed = fileListing(listing.papers, Matcher.fromCatalog(parts.catalog));
        // As it would be sent: without the papers this subscriber already got on earlier days (read only).
        const alreadySent = flags.subscriber ? new Ledger(config.dataDir).papersSentBefore(recipient.id, date) : new Set<string>();
        const digest = composeDigest(
          recipient,
          filed,
          date,
          { ...parts, renderer: await getRenderer(), maxEmailBytes: config.MAX_EMAIL_BYTES },
          alreadySent,
        );
        let output: string;
        if (flags.format === 'json') output = JSON.stringify(digestJson(recipient.id, date, digest), null, 2) + '\n';
        else if (!digest.email) {
          log.info('preview.empty', { subscriber: recipient.id, reason: digest.selection.emptyReason });
          throw new PaperboyError('NOT_FOUND', `nothing to preview for ${recipient.id} on ${date}: ${digest.selection.emptyReason}`);
        } else if (flags.format === 'html') output = digest.email.html;
        else if (flags.format === 'text') output = digest.email.text;
        else {
          output = await toMime(buildMessage(digest.email, recipient, date, digest.paperIds, parts.message));
        }
        if (flags.out) {
          await writeFile(flags.out, output);
          log.info('preview.written', { file: flags.out, format: flags.format, bytes: Buffer.byteLength(output) });
        } else process.stdout.write(output);
      },
    );
}
