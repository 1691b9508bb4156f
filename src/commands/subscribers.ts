/** `paperboy subscribers …`: check and manage subscriber files (all writes through SubscriberStore). */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { Catalog } from '../catalog.js';
import { loadParts } from '../context.js';
import { isPaperboyError, PaperboyError } from '../errors.js';
import { Ledger } from '../ledger.js';
import { assertSubscriberId, validateSubscriber, type Subscriber, type SubscriberStore } from '../subscribers.js';
import { setup } from './shared.js';

const csv = (s: string | undefined) =>
  (s ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);

/** The subscriber, or a NOT_FOUND error that names the id rather than a file path. */
async function getSubscriber(store: SubscriberStore, id: string): Promise<Subscriber> {
  assertSubscriberId(id);
  try {
    return await store.get(id);
  } catch (e) {
    if (isPaperboyError(e) && e.code === 'NOT_FOUND') throw new PaperboyError('NOT_FOUND', `no subscriber "${id}" in ${store.dir}`);
    throw e;
  }
}

/**
 * After an edit that should make a subscriber receive digests: if their file is still one `run` skips
 * (an address another file already uses), say so on stderr, or the edit's success line would mislead.
 */
async function warnIfStillSkipped(store: SubscriberStore, id: string): Promise<void> {
  const { problems } = await store.list();
  for (const p of problems.filter((p) => p.id === id))
    process.stderr.write(`warning: ${p.message.replace(/; skipped$/, '')}: run skips ${id} until that is fixed\n`);
}

function checkTopics(topics: string[], catalog: Catalog, flag: string): void {
  const known = new Set(catalog.topics.map((t) => t.id));
  const unknown = topics.filter((t) => !known.has(t));
  if (unknown.length) {
    throw new PaperboyError(
      'USAGE',
      `${flag}: unknown topic ${unknown.map((t) => `"${t}"`).join(', ')}; run "paperboy topics" for the list`,
    );
  }
}

/** A subscriber made or changed from command-line arguments: what is wrong with it is bad usage (exit 2), as with an unknown topic. */
function validFromFlags<T>(validate: () => T): T {
  try {
    return validate();
  } catch (e) {
    if (isPaperboyError(e) && e.code === 'SUBSCRIBER') throw new PaperboyError('USAGE', e.message);
    throw e;
  }
}

export function registerSubscribers(program: Command): void {
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

  subscribers
    .command('list')
    .description('list subscribers with status, topics and last delivery (invalid files are reported on stderr)')
    .option('--json', 'print as JSON')
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const { config } = setup(cmd);
      const { store } = await loadParts(config);
      const { subscribers: valid, problems } = await store.list();
      // Listing must not create the data folder: read the ledger only if there is one.
      const last = existsSync(path.join(config.dataDir, 'ledger.jsonl'))
        ? new Ledger(config.dataDir).lastSent()
        : new Map<string, string>();
      for (const p of problems) process.stderr.write(`${p.message}\n`);
      if (flags.json) {
        const rows = valid.map(({ file: _file, version: _version, ...s }) => ({ ...s, last_sent: last.get(s.id) ?? null }));
        process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
        return;
      }
      if (valid.length === 0) {
        process.stdout.write(`no valid subscribers in ${config.subscribersDir}\n`);
        return;
      }
      const rows = valid.map((s) => [s.id, s.status, s.email, s.topics.join(',') || '-', last.get(s.id) ?? 'never']);
      const head = ['ID', 'STATUS', 'EMAIL', 'TOPICS', 'LAST SENT'];
      const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
      for (const r of [head, ...rows])
        process.stdout.write(r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ') + '\n');
    });

  subscribers
    .command('add <id>')
    .description('create subscribers/<id>.yaml (following --topics, or --keywords of their own, or both)')
    .requiredOption('--email <address>', 'their address')
    .option('--name <name>', 'their name')
    .option('--topics <ids>', 'catalog topic ids, comma-separated (e.g. peft,reasoning)')
    .option('--keywords <terms>', 'own keywords or phrases, comma-separated')
    .option('--paused', 'create them paused')
    .action(
      async (id: string, flags: { email: string; name?: string; topics?: string; keywords?: string; paused?: boolean }, cmd: Command) => {
        const { config } = setup(cmd);
        const { store, catalog } = await loadParts(config);
        assertSubscriberId(id);
        // Say so first: what else is wrong with the flags does not matter for an id that is taken.
        // (store.write checks again under the file lock, for a file made meanwhile.)
        if (existsSync(store.fileFor(id))) throw new PaperboyError('CONFLICT', `${store.fileFor(id)}: subscriber "${id}" already exists`);
        const topics = csv(flags.topics);
        checkTopics(topics, catalog, '--topics');
        const raw = {
          email: flags.email,
          name: flags.name,
          topics,
          keywords: csv(flags.keywords),
          status: flags.paused ? 'paused' : 'active',
        };
        const data = validFromFlags(() => validateSubscriber(raw, store.fileFor(id), catalog));
        const sub = await store.write(id, data, { create: true });
        process.stdout.write(`added ${id} <${sub.email}> following ${sub.topics.join(', ') || '(keywords only)'} → ${sub.file}\n`);
      },
    );

  subscribers
    .command('remove <id>')
    .description('delete subscribers/<id>.yaml (to stop mail but keep the file, use pause)')
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      const { config } = setup(cmd);
      const { store } = await loadParts(config);
      assertSubscriberId(id);
      try {
        await store.remove(id);
      } catch (e) {
        if (isPaperboyError(e) && e.code === 'NOT_FOUND') throw new PaperboyError('NOT_FOUND', `no subscriber "${id}" in ${store.dir}`);
        throw e;
      }
      process.stdout.write(`removed ${id}\n`);
    });

  subscribers
    .command('pause <id>')
    .description('stop sending to them, keeping their settings')
    .action(async (id: string, _flags: unknown, cmd: Command) => {
      const { config } = setup(cmd);
      const { store } = await loadParts(config);
      const sub = await getSubscriber(store, id);
      if (sub.status === 'paused') {
        process.stdout.write(`${id} is already paused\n`);
        return;
      }
      if (sub.status !== 'active') throw new PaperboyError('USAGE', `${id} is ${sub.status}, not active; nothing to pause`);
      await store.update(id, { status: 'paused' }, sub.version);
      process.stdout.write(`paused ${id}\n`);
    });

  subscribers
    .command('resume <id>')
    .description('send to a paused subscriber again (--force also for unsubscribed or bouncing)')
    .option('--force', 'also resume someone who unsubscribed or whose mail bounced')
    .action(async (id: string, flags: { force?: boolean }, cmd: Command) => {
      const { config } = setup(cmd);
      const { store } = await loadParts(config);
      const sub = await getSubscriber(store, id);
      if (sub.status === 'active') {
        process.stdout.write(`${id} is already active\n`);
        await warnIfStillSkipped(store, id);
        return;
      }
      if (sub.status !== 'paused' && !flags.force) {
        throw new PaperboyError(
          'USAGE',
          `${id} is ${sub.status}: they asked to stop (or their mail bounced). Resume only with their consent, using --force`,
        );
      }
      await store.update(id, { status: 'active' }, sub.version);
      process.stdout.write(`resumed ${id}\n`);
      await warnIfStillSkipped(store, id);
    });

  subscribers
    .command('set-topics <id> <topics>')
    .description('replace their topics with these catalog ids, comma-separated (e.g. peft,reasoning)')
    .action(async (id: string, topicList: string, _flags: unknown, cmd: Command) => {
      const { config } = setup(cmd);
      const { store, catalog } = await loadParts(config);
      const sub = await getSubscriber(store, id);
      const topics = [...new Set(csv(topicList))];
      checkTopics(topics, catalog, 'topics');
      const { id: _id, file, version: _version, ...data } = sub;
      validFromFlags(() => validateSubscriber({ ...data, topics }, file, catalog));
      const saved = await store.update(id, { topics }, sub.version);
      process.stdout.write(`${id} now follows ${saved.topics.join(', ') || '(keywords only)'}\n`);
      await warnIfStillSkipped(store, id);
    });
}
