/** One address, one digest a day, whichever subscriber file it is written in. */
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { run } from '../../src/pipeline.js';
import { smtpTransport } from '../../src/transport.js';
import { startSmtp } from '../helpers/smtp.js';
import { DATE, emailOf, makeWorld, pipelineDeps, recipients, stopAll, type Started } from './world.js';

const s: Started = {};
afterEach(() => stopAll(s));

async function runOnce() {
  s.transport = smtpTransport({ url: s.smtp!.url });
  const summary = await run({ date: DATE }, (await pipelineDeps(s.world!, s.transport)).deps);
  await s.transport.close();
  return summary;
}

describe('an address in two subscriber files', () => {
  it('gets the day once when a second file with its address sorts first, and the run says why', async () => {
    const world = (s.world = await makeWorld(2));
    const smtp = (s.smtp = await startSmtp());
    expect((await runOnce()).sent).toBe(2);
    // Later the same day someone adds a file with s02's address (in another case) that sorts before s02.yaml.
    await writeFile(path.join(world.subscribers, 's00.yaml'), `email: ${emailOf(2).toUpperCase()}\ntop_of_day: 1\n`);
    const second = await runOnce();
    expect(second.invalid.map((p) => path.basename(p.file))).toEqual(['s02.yaml']);
    expect(second.outcomes.find((o) => o.subscriber === 's00')).toMatchObject({
      state: 'skipped',
      reason: `the ${DATE} digest already went to ${emailOf(2).toUpperCase()} as subscriber "s02"`,
    });
    expect(recipients(smtp.received).sort()).toEqual([emailOf(1), emailOf(2)]);
  });

  it('gets the day once when the address moves to a new file after it was sent', async () => {
    const world = (s.world = await makeWorld(2));
    const smtp = (s.smtp = await startSmtp());
    await runOnce();
    await rm(path.join(world.subscribers, 's02.yaml'));
    await writeFile(path.join(world.subscribers, 's03.yaml'), `email: ${emailOf(2)}\ntop_of_day: 2\n`);
    const second = await runOnce();
    expect(second.sent).toBe(0);
    expect(recipients(smtp.received)).toHaveLength(2);
  });
});
