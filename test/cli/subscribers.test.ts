import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { runCli, scratchDir } from '../helpers/cli.js';

let s: Awaited<ReturnType<typeof scratchDir>>;
const cli = (...args: string[]) => runCli(args, { cwd: s.dir });
const data = async (id: string) => YAML.parse(await readFile(path.join(s.subscribers, `${id}.yaml`), 'utf8')) as Record<string, unknown>;

beforeAll(async () => {
  s = await scratchDir();
});
afterAll(async () => {
  await s?.cleanup();
});

describe('paperboy subscribers', () => {
  it('list prints a table, and --json the data with the last delivery', async () => {
    const table = await cli('subscribers', 'list');
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^ID\s+STATUS\s+EMAIL\s+TOPICS\s+LAST SENT$/m);
    expect(table.stdout).toMatch(/^ada\s+active\s+ada@example\.org\s+peft,model-merging,efficient-inference\s+never$/m);
    expect(existsSync(path.join(s.dir, 'data'))).toBe(false); // listing creates nothing
    await mkdir(path.join(s.dir, 'data'));
    await writeFile(
      path.join(s.dir, 'data', 'ledger.jsonl'),
      JSON.stringify({ v: 1, at: 'x', date: '2024-10-25', subscriber: 'grace', state: 'sent' }) + '\n',
    );
    const json = await cli('subscribers', 'list', '--json');
    expect(json.code).toBe(0);
    const rows = JSON.parse(json.stdout) as Array<{ id: string; last_sent: string | null; status: string; topics: string[] }>;
    expect(rows.map((r) => r.id)).toEqual(['ada', 'alan', 'grace']);
    expect(rows.find((r) => r.id === 'grace')!.last_sent).toBe('2024-10-25');
    expect(rows.find((r) => r.id === 'ada')!.last_sent).toBeNull();
  });

  it('add creates a valid file; refuses an existing id, unknown topics and a bad address', async () => {
    const ok = await cli(
      'subscribers',
      'add',
      'edsger',
      '--email',
      'edsger@example.org',
      '--name',
      'Edsger Dijkstra',
      '--topics',
      'code,reasoning',
    );
    expect(ok.code, ok.stderr).toBe(0);
    expect(await data('edsger')).toEqual({ email: 'edsger@example.org', name: 'Edsger Dijkstra', topics: ['code', 'reasoning'] });
    const again = await cli('subscribers', 'add', 'edsger', '--email', 'other@example.org', '--topics', 'code');
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already exists');
    // A taken id is the answer even when the rest of the flags would not make a valid file either.
    const bare = await cli('subscribers', 'add', 'edsger', '--email', 'other@example.org');
    expect(bare.code).toBe(1);
    expect(bare.stderr).toContain('subscriber "edsger" already exists');
    const unknown = await cli('subscribers', 'add', 'x', '--email', 'x@example.org', '--topics', 'nope');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown topic "nope"');
    // Whatever is wrong with what the flags describe is bad usage, like an unknown topic.
    const bad = await cli('subscribers', 'add', 'y', '--email', 'not-an-address', '--topics', 'code');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/email: must be exactly one plain address/);
    const nothing = await cli('subscribers', 'add', 'y', '--email', 'y@example.org');
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toMatch(/topics: follow at least one topic/);
    const path1 = await cli('subscribers', 'add', '../../etc/passwd', '--email', 'z@example.org', '--topics', 'code');
    expect(path1.code).toBe(2);
    expect(existsSync(path.join(s.subscribers, 'x.yaml')) || existsSync(path.join(s.subscribers, 'y.yaml'))).toBe(false);
  });

  it('pause and resume keep the file comment; resume refuses an unsubscribed person without --force', async () => {
    expect((await cli('subscribers', 'pause', 'ada')).code).toBe(0);
    expect((await data('ada')).status).toBe('paused');
    expect(await readFile(path.join(s.subscribers, 'ada.yaml'), 'utf8')).toContain('# Ada follows');
    expect((await cli('subscribers', 'resume', 'ada')).code).toBe(0);
    expect((await data('ada')).status).toBe('active');
    await writeFile(
      path.join(s.subscribers, 'alan.yaml'),
      (await readFile(path.join(s.subscribers, 'alan.yaml'), 'utf8')).replace('status: active', 'status: unsubscribed'),
    );
    const refused = await cli('subscribers', 'resume', 'alan');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('--force');
    expect((await data('alan')).status).toBe('unsubscribed');
    expect((await cli('subscribers', 'resume', 'alan', '--force')).code).toBe(0);
    expect((await data('alan')).status).toBe('active');
  });

  it('set-topics replaces the topics', async () => {
    const res = await cli('subscribers', 'set-topics', 'grace', 'peft,code');
    expect(res.code, res.stderr).toBe(0);
    expect((await data('grace')).topics).toEqual(['peft', 'code']);
    const bad = await cli('subscribers', 'set-topics', 'grace', 'peft,nope');
    expect(bad.code).toBe(2);
    expect((await data('grace')).topics).toEqual(['peft', 'code']);
    // Nothing to follow at all (no keywords of their own, no top_of_day) is bad usage too, as with add.
    expect((await cli('subscribers', 'add', 'barbara', '--email', 'barbara@example.org', '--topics', 'code')).code).toBe(0);
    const none = await cli('subscribers', 'set-topics', 'barbara', '');
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/topics: follow at least one topic/);
    expect((await data('barbara')).topics).toEqual(['code']);
    // grace keeps top_of_day, so no topics is a choice she may make.
    expect((await cli('subscribers', 'set-topics', 'grace', '')).code).toBe(0);
    expect((await data('grace')).topics).toEqual([]);
    expect((await cli('subscribers', 'set-topics', 'grace', 'peft,code')).code).toBe(0);
    await rm(path.join(s.subscribers, 'barbara.yaml'));
    expect(res.stderr).not.toMatch(/warning/);
  });

  it('set-topics on a file run still skips (an address another file uses) says so', async () => {
    const dup = path.join(s.subscribers, 'zdup.yaml');
    await writeFile(dup, 'email: ada@example.org\ntopics: [peft]\n');
    try {
      const res = await cli('subscribers', 'set-topics', 'zdup', 'code');
      expect(res.code, res.stderr).toBe(0);
      expect(res.stdout).toBe('zdup now follows code\n');
      expect(res.stderr).toMatch(/^warning: .*zdup\.yaml: email: ada@example\.org is already used by .*ada\.yaml: run skips zdup until that is fixed$/m);
      const resumed = await cli('subscribers', 'resume', 'zdup');
      expect(resumed.stdout).toBe('zdup is already active\n');
      expect(resumed.stderr).toMatch(/^warning: .*run skips zdup until that is fixed$/m);
    } finally {
      await rm(dup);
    }
  });

  it('remove deletes the file; unknown ids are reported', async () => {
    expect((await cli('subscribers', 'remove', 'edsger')).code).toBe(0);
    expect(existsSync(path.join(s.subscribers, 'edsger.yaml'))).toBe(false);
    const missing = await cli('subscribers', 'remove', 'edsger');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no subscriber "edsger"');
    expect((await cli('subscribers', 'pause', 'nobody')).stderr).toContain('no subscriber "nobody"');
  });

  it('validate still reports every problem', async () => {
    await writeFile(path.join(s.subscribers, 'broken.yaml'), 'email: nope\n');
    const res = await cli('subscribers', 'validate');
    expect(res.code).toBe(1);
    expect(res.stdout).toContain('3 valid, 1 invalid');
  });
});
