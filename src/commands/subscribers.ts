/** `paperboy subscribers …`: check and manage subscriber files. */
import type { Command } from 'commander';
import { loadParts } from '../context.js';
import { setup } from './shared.js';

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
}
