import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadCatalog, renameTopic } from '../../src/catalog.js';
import { SubscriberStore } from '../../src/subscribers.js';
import { runCli, SAMPLE, scratchDir } from '../helpers/cli.js';

let s: Awaited<ReturnType<typeof scratchDir>>;
const cli = (...args: string[]) => runCli(args, { cwd: s.dir });
const text = (name: string) => readFile(path.join(s.subscribers, name), 'utf8');

beforeEach(async () => {
  s = await scratchDir();
});
afterEach(async () => {
  await s?.cleanup();
});

describe('paperboy topics rename', () => {
  it('changes the id in the catalog, the learned file and every follower, even one whose file has another problem', async () => {
    const before = { catalog: await text('topics.yaml'), learned: JSON.parse(await text('topics.learned.json')) as { topics: object } };
    // Alan's file is broken in another field: he must not lose the topic because of it.
    await writeFile(
      path.join(s.subscribers, 'alan.yaml'),
      (await text('alan.yaml')).replace('topics: [vision-multimodal,', 'topics: [peft, vision-multimodal,').replace('max_papers: 15', 'max_papers: lots'),
    );
    const r = await cli('topics', 'rename', 'peft', 'lora-and-adapters');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('renamed topic "peft" to "lora-and-adapters"; 2 subscriber file(s) updated: ada, alan\n');

    // Only the id changed: same place, same comments, same terms; the learned fit moved with it.
    expect(await text('topics.yaml')).toBe(before.catalog.replace('  - id: peft\n', '  - id: lora-and-adapters\n'));
    const learned = JSON.parse(await text('topics.learned.json')) as { topics: Record<string, unknown> };
    expect(Object.keys(learned.topics)).toEqual(Object.keys(before.learned.topics).map((k) => (k === 'peft' ? 'lora-and-adapters' : k)));
    expect(learned.topics['lora-and-adapters']).toEqual((before.learned.topics as Record<string, unknown>).peft);
    expect(await text('ada.yaml')).toMatch(/^topics: \[lora-and-adapters, model-merging, efficient-inference\]$/m);
    expect(await text('ada.yaml')).toMatch(/^# /); // the file's own comment is kept
    expect(await text('alan.yaml')).toMatch(/^topics: \[lora-and-adapters, vision-multimodal,/m);

    const list = await cli('topics', '--json');
    const ids = (JSON.parse(list.stdout) as Array<{ id: string }>).map((t) => t.id);
    expect(ids[0]).toBe('lora-and-adapters');
    expect(ids).not.toContain('peft');
    // Every file still validates against the renamed catalog (Alan only for his own mistake), and the new id files papers.
    const check = await cli('subscribers', 'validate');
    expect(check.stderr.trim().split('\n')).toEqual([expect.stringMatching(/alan\.yaml: max_papers: /)]);
    const preview = await cli('preview', '--topics', 'lora-and-adapters', '--listing', SAMPLE, '--date', '2024-10-25', '--format', 'json');
    expect(preview.code, preview.stderr).toBe(0);
  });

  it('refuses a taken id, an invalid id and an unknown topic, changing nothing', async () => {
    const before = await Promise.all(['topics.yaml', 'topics.learned.json', 'ada.yaml'].map(text));
    const taken = await cli('topics', 'rename', 'peft', 'code');
    expect(taken.code).toBe(1);
    expect(taken.stderr).toMatch(/a topic "code" already exists; choose another id/);
    const invalid = await cli('topics', 'rename', 'peft', 'Low Rank');
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toMatch(/new id "Low Rank": must be lower-case words joined by "-"/);
    const reserved = await cli('topics', 'rename', 'peft', 'authors');
    expect(reserved.stderr).toMatch(/reserved for a built-in section/);
    const unknown = await cli('topics', 'rename', 'nope', 'other');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/no topic "nope"/);
    expect(await Promise.all(['topics.yaml', 'topics.learned.json', 'ada.yaml'].map(text))).toEqual(before);
  });

  it('finishes a rename that stopped halfway when run again, and loses no follower meanwhile', async () => {
    const store = new SubscriberStore(s.subscribers, await loadCatalog(s.subscribers));
    await expect(
      renameTopic(s.subscribers, 'peft', 'adapters', {
        renameInSubscribers: () => Promise.reject(new Error('disk full')),
        followers: () => store.followers('peft'),
      }),
    ).rejects.toThrow('disk full');
    // Halfway: both ids exist, Ada still follows the old one, and every file is valid.
    const half = await loadCatalog(s.subscribers);
    expect(half.topics.map((t) => t.id).slice(0, 2)).toEqual(['peft', 'adapters']);
    expect((await new SubscriberStore(s.subscribers, half).list()).problems).toEqual([]);

    const again = await cli('topics', 'rename', 'peft', 'adapters');
    expect(again.code, again.stderr).toBe(0);
    const done = await loadCatalog(s.subscribers);
    expect(done.topics.map((t) => t.id)).not.toContain('peft');
    expect(Object.keys(done.learned!.topics)).toContain('adapters');
    expect(await text('ada.yaml')).toMatch(/^topics: \[adapters, /m);
  });
});
