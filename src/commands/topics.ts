/** `paperboy topics`: list the catalog; `paperboy topics rename OLD NEW`: change a topic's id everywhere. */
import type { Command } from 'commander';
import { pendingRename, renameTopic } from '../catalog.js';
import { loadParts } from '../context.js';
import { withRunLock } from '../lock.js';
import { setup } from './shared.js';

export function registerTopics(program: Command): void {
  const topics = program
    .command('topics')
    .description('list the topic catalog')
    .option('--json', 'print as JSON')
    .action(async (flags: { json?: boolean }, cmd: Command) => {
      const { config, log } = setup(cmd);
      const { catalog } = await loadParts(config, log);
      if (flags.json) {
        process.stdout.write(JSON.stringify(catalog.topics, null, 2) + '\n');
        return;
      }
      const width = Math.max(...catalog.topics.map((t) => t.id.length));
      for (const t of catalog.topics)
        process.stdout.write(`${t.id.padEnd(width)}  ${t.name}${t.description ? ` — ${t.description}` : ''}\n`);
      // Between its steps a rename has both ids in the catalog: say why a topic is listed twice.
      // A damaged record is for the rename command to report; the listing itself is fine.
      const pending = await pendingRename(config.subscribersDir).catch(() => undefined);
      if (pending)
        process.stderr.write(
          `paperboy: renaming "${pending.from}" to "${pending.to}" stopped halfway (since ${pending.since}), so both are listed; finish it with: paperboy topics rename ${pending.from} ${pending.to}\n`,
        );
    });

  topics
    .command('rename <old> <new>')
    .description('change a topic id in topics.yaml, topics.learned.json and every subscriber file that follows it')
    .action(async (from: string, to: string, _flags: unknown, cmd: Command) => {
      const { config, log } = setup(cmd);
      const { store } = await loadParts(config);
      const done = await withRunLock(config.dataDir, `paperboy topics rename ${from} ${to}`, config.LOCK_STALE_SECONDS * 1000, () =>
        renameTopic(config.subscribersDir, from, to, {
          renameInSubscribers: () => store.renameTopic(from, to),
          followers: () => store.followers(from),
        }),
      );
      log.info('topics.renamed', { from, to, subscribers: done.subscribers.length, resumed: done.resumed });
      const who = done.subscribers.length ? `; ${done.subscribers.length} subscriber file(s) updated: ${done.subscribers.join(', ')}` : '';
      process.stdout.write(`${done.resumed ? 'finished renaming' : 'renamed'} topic "${from}" to "${to}"${who}\n`);
    });
}
