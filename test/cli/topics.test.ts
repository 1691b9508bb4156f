import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadCatalog, renameTopic, saveTopic } from '../../src/catalog.js';
import { RunLock } from '../../src/lock.js';
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

  it('finishes a rename cut short after some followers changed, and refuses another rename meanwhile', async () => {
    const store = new SubscriberStore(s.subscribers, await loadCatalog(s.subscribers));
    await writeFile(path.join(s.subscribers, 'grace.yaml'), (await text('grace.yaml')).replace('topics: [', 'topics: [peft, '));
    // Cut short after Ada's file is done and before Grace's.
    await expect(
      renameTopic(s.subscribers, 'peft', 'adapters', {
        renameInSubscribers: async () => {
          await store.renameTopic('peft', 'adapters').then(() => {}, () => {});
          await writeFile(path.join(s.subscribers, 'grace.yaml'), (await text('grace.yaml')).replace('adapters', 'peft'));
          throw new Error('killed');
        },
        followers: () => store.followers('peft'),
      }),
    ).rejects.toThrow('killed');
    // Halfway: both ids exist, every file is valid, and the record of the rename says which one is unfinished.
    const half = await loadCatalog(s.subscribers);
    expect(half.topics.map((t) => t.id).slice(0, 2)).toEqual(['peft', 'adapters']);
    expect((await new SubscriberStore(s.subscribers, half).list()).problems).toEqual([]);
    expect(await text('ada.yaml')).toMatch(/^topics: \[adapters, /m);
    expect(await text('grace.yaml')).toMatch(/^topics: \[peft, /m);
    const listed = await cli('topics');
    expect(listed.code).toBe(0);
    expect(listed.stderr).toContain('renaming "peft" to "adapters" stopped halfway');
    expect(listed.stderr).toContain('finish it with: paperboy topics rename peft adapters');
    const other = await cli('topics', 'rename', 'code', 'coding');
    expect(other.code).toBe(1);
    expect(other.stderr).toContain('the rename of "peft" to "adapters"');
    expect(other.stderr).toContain('finish it first: paperboy topics rename peft adapters');

    const again = await cli('topics', 'rename', 'peft', 'adapters');
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/^finished renaming topic "peft" to "adapters"; 1 subscriber file\(s\) updated: grace/);
    const done = await loadCatalog(s.subscribers);
    expect(done.topics.map((t) => t.id)).not.toContain('peft');
    expect(Object.keys(done.learned!.topics)).toContain('adapters');
    expect(Object.keys(done.learned!.topics)).not.toContain('peft');
    expect(await text('grace.yaml')).toMatch(/^topics: \[adapters, agents-tools, /m);
    expect(existsSync(path.join(s.subscribers, 'topics.rename.json'))).toBe(false);
    expect((await cli('topics')).stderr).toBe('');
    expect((await cli('topics', 'rename', 'code', 'coding')).code).toBe(0);
  });

  it('stops before removing the old id while a follower file cannot be rewritten, and finishes once it is fixed', async () => {
    // A YAML error: the file cannot be rewritten, but it names the topic, so the topic must not disappear.
    const broken = path.join(s.subscribers, 'zed.yaml');
    await writeFile(broken, 'email: zed@example.org\ntopics: [peft, code\n');
    // A file naming the topic twice ends up naming the new id once.
    await writeFile(path.join(s.subscribers, 'alan.yaml'), (await text('alan.yaml')).replace('topics: [', 'topics: [peft, peft, '));
    const r = await cli('topics', 'rename', 'peft', 'adapters');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`cannot change topic "peft" in ${broken}: not a readable subscriber file`);
    expect(r.stderr).toContain('run the rename again to finish it');
    expect((await loadCatalog(s.subscribers)).topics.map((t) => t.id)).toContain('peft');
    expect(await text('alan.yaml')).toMatch(/^topics: \[adapters, vision-multimodal, /m);

    await writeFile(broken, 'email: zed@example.org\ntopics: [peft, code]\n');
    const again = await cli('topics', 'rename', 'peft', 'adapters');
    expect(again.code, again.stderr).toBe(0);
    expect(await text('zed.yaml')).toBe('email: zed@example.org\ntopics: [adapters, code]\n');
  });

  it('keeps an edit made to either copy while the rename was cut short: it refuses to drop the old one until they agree', async () => {
    const store = new SubscriberStore(s.subscribers, await loadCatalog(s.subscribers));
    await expect(
      renameTopic(s.subscribers, 'peft', 'adapters', {
        renameInSubscribers: () => Promise.reject(new Error('killed')),
        followers: () => store.followers('peft'),
      }),
    ).rejects.toThrow('killed');
    const catalog = await loadCatalog(s.subscribers);
    const edited = { ...catalog.topics.find((t) => t.id === 'adapters')!, name: 'Adapters and LoRA' };
    await saveTopic(s.subscribers, edited);
    const r = await cli('topics', 'rename', 'peft', 'adapters');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/topic "peft" and its copy "adapters" differ \(one was edited during the rename\)/);
    expect((await loadCatalog(s.subscribers)).topics.find((t) => t.id === 'adapters')!.name).toBe('Adapters and LoRA');
    await saveTopic(s.subscribers, { ...edited, id: 'peft' });
    expect((await cli('topics', 'rename', 'peft', 'adapters')).code).toBe(0);
    expect((await loadCatalog(s.subscribers)).topics.find((t) => t.id === 'adapters')!.name).toBe('Adapters and LoRA');
  });

  it('finishes a rename cut short inside its last step: the old entry gone from the catalog but not from the learned file', async () => {
    const learned = JSON.parse(await text('topics.learned.json')) as { topics: Record<string, unknown> };
    learned.topics.adapters = learned.topics.peft;
    await writeFile(path.join(s.subscribers, 'topics.learned.json'), JSON.stringify(learned));
    await writeFile(path.join(s.subscribers, 'topics.yaml'), (await text('topics.yaml')).replace('  - id: peft\n', '  - id: adapters\n'));
    await writeFile(path.join(s.subscribers, 'ada.yaml'), (await text('ada.yaml')).replace('[peft,', '[adapters,'));
    const record = { version: 1, from: 'peft', to: 'adapters', since: '2026-12-07T10:00:00.000Z' };
    await writeFile(path.join(s.subscribers, 'topics.rename.json'), JSON.stringify(record));

    const r = await cli('topics', 'rename', 'peft', 'adapters');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('finished renaming topic "peft" to "adapters"\n');
    const after = (await loadCatalog(s.subscribers)).learned!.topics;
    expect(Object.keys(after)).not.toContain('peft');
    expect(after.adapters).toEqual(learned.topics.peft);
    expect(existsSync(path.join(s.subscribers, 'topics.rename.json'))).toBe(false);
    // Done: the same rename again finds nothing to rename.
    const again = await cli('topics', 'rename', 'peft', 'adapters');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/no topic "peft"/);
  });

  it('renames nothing while a digest run holds the run lock, and names that run', async () => {
    const lock = await new RunLock(path.join(s.dir, 'data')).acquire({ command: 'paperboy run --date 2024-10-25' });
    try {
      const before = await text('topics.yaml');
      const r = await cli('topics', 'rename', 'peft', 'adapters');
      expect(r.code).toBe(1);
      expect(r.stderr).toContain('paperboy run --date 2024-10-25');
      expect(await text('topics.yaml')).toBe(before);
      expect(existsSync(path.join(s.subscribers, 'topics.rename.json'))).toBe(false);
    } finally {
      await lock.release();
    }
  });
});
