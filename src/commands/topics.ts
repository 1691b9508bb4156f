/** `paperboy topics`: list the catalog. */
import type { Command } from 'commander';
import { loadParts } from '../context.js';
import { setup } from './shared.js';

export function registerTopics(program: Command): void {
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
      for (const t of catalog.topics)
        process.stdout.write(`${t.id.padEnd(width)}  ${t.name}${t.description ? ` — ${t.description}` : ''}\n`);
    });
}
