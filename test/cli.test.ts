/**
 * End to end: the built CLI against a real SMTP server on 127.0.0.1, with the
 * received messages parsed back.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli, SAMPLE, scratchDir } from './helpers/cli.js';
import { startSmtp, type TestSmtp } from './helpers/smtp.js';

let dir: Awaited<ReturnType<typeof scratchDir>>;
let smtp: TestSmtp;
let env: Record<string, string>;

beforeEach(async () => {
  dir = await scratchDir();
  smtp = await startSmtp();
  env = {
    SMTP_URL: smtp.url,
    MAIL_FROM: 'Paperboy <digest@paperboy.example.org>',
    PUBLIC_URL: 'https://digest.example.org',
    UNSUBSCRIBE_MAILTO: 'unsubscribe@paperboy.example.org',
  };
});
afterEach(async () => {
  await smtp.close();
  await dir.cleanup();
});

const run = (args: string[], extraEnv: Record<string, string> = {}) => runCli(args, { cwd: dir.dir, env: { ...env, ...extraEnv } });
const sample = ['run', '--listing', SAMPLE, '--date', '2024-10-25'];

describe('paperboy run against a real SMTP server', () => {
  it('sends each example subscriber one personalised digest with list headers and both parts', async () => {
    const r = await run(sample);
    expect(r.code, r.stderr).toBe(0);
    expect(smtp.received).toHaveLength(3);
    const byRcpt = new Map(smtp.received.map((m) => [m.envelope.to.join(','), m]));
    expect([...byRcpt.keys()].sort()).toEqual(['ada@example.org', 'alan@example.org', 'grace@example.org']);

    const ids = new Set<string>();
    for (const [rcpt, m] of byRcpt) {
      const id = rcpt.split('@')[0]!;
      const h = m.parsed.headers;
      const header = (name: string) =>
        m.parsed.headerLines
          .find((l) => l.key === name)
          ?.line.replace(/\r?\n[ \t]+/g, ' ')
          .replace(/^[^:]+:\s*/, '');
      expect(m.parsed.from?.value[0]).toMatchObject({ name: 'Paperboy', address: 'digest@paperboy.example.org' });
      expect(m.parsed.subject).toMatch(/^Fri, 25 Oct 2024: \d+ new papers? on /);
      const unsub = String(header('list-unsubscribe'));
      expect(unsub).toMatch(
        new RegExp(
          `^<https://digest\\.example\\.org/unsubscribe/u\\.${id}\\.[A-Za-z0-9_-]{32}>, <mailto:unsubscribe@paperboy\\.example\\.org\\?subject=unsubscribe%20u\\.${id}\\.`,
        ),
      );
      expect(header('list-unsubscribe-post')).toBe('List-Unsubscribe=One-Click');
      expect(header('list-id')).toBe('Paperboy daily digest <daily.paperboy.paperboy.example.org>');
      expect(h.get('auto-submitted')).toBe('auto-generated');
      expect(m.parsed.messageId).toMatch(new RegExp(`^<digest\\.2024-10-25\\.${id}\\.[0-9a-f]{12}@paperboy\\.example\\.org>$`));
      ids.add(m.parsed.messageId!);
      expect(m.parsed.html).toBeTruthy();
      expect(m.parsed.text).toContain('Unsubscribe:');
      expect(m.parsed.html).toContain(`https://digest.example.org/unsubscribe/u.${id}.`);
      expect(m.parsed.html).toMatch(/https:\/\/arxiv\.org\/abs\/24\d\d\.\d{5}/);
    }
    expect(ids.size).toBe(3);

    // Topic sections follow each subscriber's interests.
    const alan = byRcpt.get('alan@example.org')!;
    expect(alan.parsed.html).toContain('Vision &amp; multimodal');
    expect(alan.parsed.text).toMatch(/== Vision & multimodal \(\d+\) ==/);
    expect(alan.parsed.html).not.toContain('Agents &amp; tool use');
    const grace = byRcpt.get('grace@example.org')!;
    expect(grace.parsed.text).toMatch(/== Top of the day \(\d+\) ==/);

    expect(r.stdout).toMatch(/sent\s+3/);
    expect(r.stderr).toMatch(/listing\.fetched .*papers=8/);
  });

  it('sends nothing the second time for the same date', async () => {
    expect((await run(sample)).code).toBe(0);
    expect(smtp.received).toHaveLength(3);
    const again = await run(sample);
    expect(again.code).toBe(0);
    expect(smtp.received).toHaveLength(3);
    expect(again.stdout).toMatch(/sent\s+0/);
    expect(again.stdout).toMatch(/ada: already sent for 2024-10-25/);
    const ledger = (await readFile(path.join(dir.dir, 'data/ledger.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(ledger.filter((e) => e.state === 'sent')).toHaveLength(3);
  });

  it('compacts a ledger that years of runs have piled up, and still sends each digest once, old dates included', async () => {
    // 2000 old digest dates, two subscribers, three events each: far more than a compaction must save.
    const old: string[] = [];
    for (let i = 0; i < 2000; i++) {
      const date = new Date(Date.UTC(2019, 0, 1 + i)).toISOString().slice(0, 10);
      for (const subscriber of ['ada', 'zoe'])
        for (const state of ['planned', 'sending', 'sent'])
          old.push(JSON.stringify({ v: 1, at: 'x', date, subscriber, state, papers: ['2401.00001'] }));
    }
    await mkdir(path.join(dir.dir, 'data'), { recursive: true });
    await writeFile(path.join(dir.dir, 'data/ledger.jsonl'), old.join('\n') + '\n');
    const first = await run(sample);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/ledger\.compacted/);
    expect(smtp.received).toHaveLength(3);
    const lines = (await readFile(path.join(dir.dir, 'data/ledger.jsonl'), 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(2000 + 3 * 3); // one per old date, then this run's planned, sending, sent per subscriber
    const again = await run(sample);
    expect(again.stderr).not.toMatch(/ledger\.compacted/);
    expect(smtp.received).toHaveLength(3);
    // A compacted date still knows who got its digest: ada is not sent 2019-03-01 again.
    const old2019 = await run(['run', '--listing', SAMPLE, '--date', '2019-03-01']);
    expect(old2019.code, old2019.stderr).toBe(0);
    expect(old2019.stdout).toMatch(/ada: already sent for 2019-03-01/);
    expect(smtp.received.slice(3).flatMap((m) => m.envelope.to)).not.toContain('ada@example.org');
  });

  it('exits 2 for bad usage: a mistyped flag, an unknown command, a bad setting; 1 for an unknown subscriber, before fetching', async () => {
    const typo = await run(['run', '--dryrun']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(/unknown option '--dryrun'[\s\S]*Did you mean --dry-run\?/);
    expect((await run(['sned'])).code).toBe(2);
    const setting = await run(['topics'], { PORT: 'abc' });
    expect(setting.code).toBe(2);
    expect(setting.stderr).toMatch(/PORT: /);
    // The listing file does not exist: reading it first would fail with another message.
    const nobody = await run(['run', '--subscriber', 'bob', '--listing', path.join(dir.dir, 'missing.json'), '--date', '2024-10-25']);
    expect(nobody.code).toBe(1);
    expect(nobody.stderr).toContain(`no subscriber "bob" in ${path.join(dir.dir, 'subscribers')}`);
    const malformed = await run(['run', '--subscriber', 'Bad Id', '--listing', path.join(dir.dir, 'missing.json'), '--date', '2024-10-25']);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain('"Bad Id" is not a subscriber id');
    expect((await run(['--help'])).code).toBe(0);
    expect(smtp.received).toHaveLength(0);
  });

  it('does not let one broken subscriber file stop the others, and exits non-zero', async () => {
    await writeFile(path.join(dir.subscribers, 'broken.yaml'), 'email: broken@example.org\ntopics: [peft, nlp]\n');
    await writeFile(path.join(dir.subscribers, 'zoe.yaml'), 'email: zoe@example.org\ntopics: [vision-multimodal]\n');
    const r = await run(sample);
    expect(r.code).toBe(1);
    expect(smtp.received.map((m) => m.envelope.to[0]).sort()).toEqual([
      'ada@example.org',
      'alan@example.org',
      'grace@example.org',
      'zoe@example.org',
    ]);
    expect(r.stdout).toMatch(/broken\.yaml: topics\[1\]: unknown topic "nlp"/);
    expect(r.stdout).toMatch(/subscribers\s+4 valid, 1 invalid/);
  });

  it('warns when a listing file is far from the digest date (a missing --date), and still does what it was told', async () => {
    const far = await run(['run', '--listing', SAMPLE, '--date', '2025-03-01', '--dry-run']);
    expect(far.code, far.stderr).toBe(0);
    expect(far.stderr).toMatch(/listing\.date_far date=2025-03-01 listing=2024-10-25 .*127 days after the listing/);
    const near = await run(['run', '--listing', SAMPLE, '--date', '2024-10-25', '--dry-run']);
    expect(near.stderr).not.toMatch(/date_far/);
  });

  it('treats an empty day as normal: nothing sent, exit 0, and says so', async () => {
    const empty = path.join(dir.dir, 'empty.json');
    await writeFile(empty, '[]');
    const r = await run(['run', '--listing', empty, '--date', '2024-10-26']);
    expect(r.code).toBe(0);
    expect(smtp.received).toHaveLength(0);
    expect(r.stdout).toContain('The listing is empty: 2024-10-26 is a Saturday: the listing has no papers at weekends. Nothing to send.');
    expect(r.stderr).toMatch(/run\.empty_listing .*Saturday/);
    // An empty weekday is not passed off as a weekend: the listing may be late.
    const weekday = await run(['run', '--listing', empty, '--date', '2024-10-29']);
    expect(weekday.code).toBe(0);
    expect(weekday.stdout).toContain('no papers listed for Tuesday 2024-10-29: a holiday, or the listing is not out yet');
    // A byte-order mark (as Windows editors save JSON) is not an error.
    await writeFile(empty, '\uFEFF[]');
    expect((await run(['run', '--listing', empty, '--date', '2024-10-26'])).code).toBe(0);
  });

  it('fails before sending anything when the payload is not a listing', async () => {
    const bad = path.join(dir.dir, 'bad.json');
    await writeFile(bad, '{"error":"Invalid date"}');
    const r = await run(['run', '--listing', bad, '--date', '2024-10-25']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bad\.json: not a daily papers listing/);
    expect(smtp.received).toHaveLength(0);
    expect(existsSync(path.join(dir.dir, 'data/ledger.jsonl'))).toBe(false);
    // A dry run's JSON summary sends nothing and says what a real run would have sent.
    const json = JSON.parse((await run([...sample, '--dry-run', '--json'])).stdout) as {
      dryRun: boolean;
      sent: number;
      outcomes: Array<{ state: string }>;
    };
    expect(json).toMatchObject({ dryRun: true, sent: 0, wouldSend: 3 });
    expect(json.outcomes.map((o) => o.state)).toEqual(['would-send', 'would-send', 'would-send']);
  });

  it('says why it stopped as a JSON log line when logs are JSON, from the flag or LOG_FORMAT', async () => {
    const bad = path.join(dir.dir, 'bad.json');
    await writeFile(bad, '{"error":"Invalid date"}');
    const viaFlag = await run(['--log-format', 'json', 'run', '--listing', bad, '--date', '2024-10-25']);
    expect(viaFlag.code).toBe(1);
    const lines = viaFlag.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.at(-1)).toMatchObject({ level: 'error', event: 'fatal', code: 'LISTING' });
    expect(String(lines.at(-1)!.message)).toMatch(/bad\.json: not a daily papers listing/);

    const viaEnv = await run(['preview', '--topics', 'no-such-topic'], { LOG_FORMAT: 'json' });
    expect(viaEnv.code).toBe(2);
    expect(JSON.parse(viaEnv.stderr.trim().split('\n').at(-1)!)).toMatchObject({ event: 'fatal', code: 'USAGE' });
    // A command line Commander cannot parse: one JSON line too, not its text and help.
    const parse = await run(['--log-format', 'json', 'run', '--bogus']);
    expect(parse.code).toBe(2);
    expect(
      parse.stderr
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown),
    ).toEqual([expect.objectContaining({ event: 'fatal', code: 'USAGE', message: "unknown option '--bogus'" })]);
    // Readable text stays the default.
    expect((await run(['preview', '--topics', 'no-such-topic'])).stderr).toMatch(/^paperboy: --topics: unknown topic "no-such-topic"/m);
  });
  it('sends nothing and records nothing on --dry-run', async () => {
    const r = await run([...sample, '--dry-run']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/would send\s+3/);
    // The log says the same: nothing was sent.
    expect(r.stderr).toMatch(/run\.done.*wouldSend=3/);
    expect(r.stderr).not.toMatch(/run\.done.* sent=/);
    expect(smtp.received).toHaveLength(0);
    expect(existsSync(path.join(dir.dir, 'data/ledger.jsonl'))).toBe(false);
  });

  it('skips paused and unsubscribed subscribers with the reason', async () => {
    const f = path.join(dir.subscribers, 'alan.yaml');
    await writeFile(f, (await readFile(f, 'utf8')).replace('status: active', 'status: paused'));
    const r = await run(sample);
    expect(r.code).toBe(0);
    expect(smtp.received).toHaveLength(2);
    expect(r.stdout).toMatch(/alan: status is paused/);
  });

  it('refuses to send real mail whose unsubscribe links are not https', async () => {
    const r = await run(sample, { PUBLIC_URL: 'http://127.0.0.1:8787', ALLOW_HTTP_LINKS: 'false' });
    expect(r.code).toBe(2); // a bad setting
    expect(r.stderr).toMatch(/PUBLIC_URL: http:\/\/127\.0\.0\.1:8787 is not https/);
    expect(smtp.received).toHaveLength(0);
  });

  it('writes .eml files to the outbox when no SMTP server is configured', async () => {
    const r = await run(sample, { SMTP_URL: '' });
    expect(r.code, r.stderr).toBe(0);
    const files = await readdir(path.join(dir.dir, 'outbox/2024-10-25'));
    expect(files.sort()).toEqual(['ada.eml', 'alan.eml', 'grace.eml']);
    const eml = await readFile(path.join(dir.dir, 'outbox/2024-10-25/ada.eml'), 'utf8');
    expect(eml).toMatch(/^List-Unsubscribe-Post: List-Unsubscribe=One-Click\r$/m);
    expect(r.stdout).toContain(path.join(dir.dir, 'outbox'));
  });
});

describe('paperboy preview', () => {
  it('files by the bundled default catalog where the subscribers folder has no topics.yaml, says so, and refuses edits there', async () => {
    const elsewhere = path.join(dir.dir, 'elsewhere');
    await mkdir(path.join(elsewhere, 'subs'), { recursive: true });
    await writeFile(path.join(elsewhere, 'subs/solo.yaml'), 'email: solo@example.org\ntopics: [vision-multimodal]\n');
    const inHere = (args: string[]) => runCli(args, { cwd: elsewhere, env });
    const json = ['--listing', SAMPLE, '--date', '2024-10-25', '--format', 'json'];
    // No subscribers folder at all: `preview --topics` still works, as in the repository.
    const bare = await inHere(['preview', '--topics', 'vision-multimodal', ...json]);
    expect(bare.code, bare.stderr).toBe(0);
    const here = JSON.parse((await run(['preview', '--topics', 'vision-multimodal', ...json])).stdout);
    expect(JSON.parse(bare.stdout).sections).toEqual(here.sections);
    expect(bare.stderr).toMatch(/WARN catalog\.bundled folder=.*elsewhere\/subscribers/);
    // A folder of subscriber files only.
    const solo = await inHere(['preview', '--subscriber', 'solo', '--subscribers', 'subs', ...json]);
    expect(solo.code, solo.stderr).toBe(0);
    expect(JSON.parse(solo.stdout).sections.map((x: { topic: string }) => x.topic)).toEqual(['vision-multimodal']);
    const rename = await inHere(['topics', 'rename', 'peft', 'lora', '--subscribers', 'subs']);
    expect(rename.code).toBe(1);
    expect(rename.stderr).toMatch(
      /subs\/topics\.yaml: topic catalog not found; to edit topics here, copy the default one \(.*subscribers\/topics\.yaml\) to it first/,
    );
  });

  it('prints the JSON contract without sending or touching the ledger', async () => {
    const r = await run(['preview', '--subscriber', 'ada', '--listing', SAMPLE, '--date', '2024-10-25', '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.subscriber).toBe('ada');
    expect(j.date).toBe('2024-10-25');
    expect(j.subject).toMatch(/2024/);
    expect(j.sections.length).toBeGreaterThan(0);
    const ids = new Set((JSON.parse((await run(['topics', '--json'])).stdout) as Array<{ id: string }>).map((t) => t.id));
    for (const s of j.sections) {
      expect(typeof s.topic).toBe('string');
      // A catalog topic, or a built-in section whose kind names it.
      expect(s.kind === 'topic' ? ids.has(s.topic) : s.kind === s.topic && !ids.has(s.topic)).toBe(true);
      expect(typeof s.name).toBe('string');
      for (const p of s.papers) {
        expect(p.id).toMatch(/^\d{4}\.\d{4,5}$/);
        expect(typeof p.title).toBe('string');
        expect(typeof p.upvotes).toBe('number');
        expect(typeof p.score).toBe('number');
        expect(Array.isArray(p.matched)).toBe(true);
      }
    }
    // ada's own keywords make a section of their own.
    expect(j.sections.map((s: { kind: string }) => s.kind)).toContain('keywords');
    // The footer names every reason a paper is there, the top of the day included.
    const grace = await run(['preview', '--subscriber', 'grace', '--listing', SAMPLE, '--date', '2024-10-25', '--format', 'text']);
    expect(grace.stdout).toMatch(/You get this because you follow Agents & tool use, .* and the top 3 of the day on Paperboy/);
    expect(smtp.received).toHaveLength(0);
    expect(existsSync(path.join(dir.dir, 'data/ledger.jsonl'))).toBe(false);
  });

  it('renders for a set of topics, as html, text and eml', async () => {
    const base = ['preview', '--topics', 'vision-multimodal,efficient-inference', '--listing', SAMPLE, '--date', '2024-10-25'];
    const html = await run([...base, '--format', 'html']);
    expect(html.stdout).toMatch(/^<!doctype html>/);
    const text = await run([...base, '--format', 'text']);
    expect(text.stdout).toMatch(/^Paperboy · Friday, 25 October 2024/);
    const out = path.join(dir.dir, 'x.eml');
    const eml = await run([...base, '--format', 'eml', '--out', out]);
    expect(eml.code).toBe(0);
    expect(await readFile(out, 'utf8')).toMatch(/^List-Unsubscribe:\s+<https:\/\/digest\.example\.org\/unsubscribe\/u\.preview\./m);
    // A path that cannot be written is named in one line, without a stack trace.
    const missing = path.join(dir.dir, 'no-such-folder', 'x.html');
    const bad = await run([...base, '--format', 'html', '--out', missing]);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim()).toBe(`paperboy: cannot open ${missing}: no such file or folder (ENOENT)`);
  });

  it('refuses an unknown topic and a missing subscriber with a clear message', async () => {
    const t = await run(['preview', '--topics', 'nlp', '--listing', SAMPLE]);
    expect(t.code).toBe(2);
    expect(t.stderr).toMatch(/--topics: unknown topic "nlp"/);
    const s = await run(['preview', '--subscriber', 'nobody', '--listing', SAMPLE]);
    expect(s.code).toBe(1);
    expect(s.stderr).toMatch(/no subscriber "nobody"/);
  });

  it('previews a file that run would skip (an address another file uses), and warns that run skips it', async () => {
    await writeFile(path.join(dir.subscribers, 'zed.yaml'), 'email: ADA@example.org\ntopics: [peft]\n');
    const r = await run(['preview', '--subscriber', 'zed', '--listing', SAMPLE, '--date', '2024-10-25', '--format', 'json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/preview\.run_would_skip.*zed\.yaml: email: ADA@example\.org is already used by .*ada\.yaml/);
    const ada = await run(['preview', '--subscriber', 'ada', '--listing', SAMPLE, '--date', '2024-10-25', '--format', 'json']);
    expect(ada.stderr).not.toContain('run_would_skip');
  });
});

describe('paperboy topics and subscribers validate', () => {
  it('lists the default catalog with its ids', async () => {
    const r = await run(['topics', '--json']);
    const ids = JSON.parse(r.stdout).map((t: { id: string }) => t.id);
    expect(ids).toEqual([
      'peft',
      'instruction-tuning',
      'model-merging',
      'continual-learning',
      'safety-alignment',
      'reinforcement-learning',
      'reasoning',
      'code',
      'agents-tools',
      'translation-multilingual',
      'vision-multimodal',
      'interpretability',
      'data-curation',
      'benchmarks',
      'domain-adaptation',
      'efficient-inference',
      'retrieval-rag',
      'generation-diffusion',
      'speech-audio',
      'robotics-embodied',
      'pretraining-architecture',
    ]);
  });

  it('reports every problem at once', async () => {
    await writeFile(path.join(dir.subscribers, 'a1.yaml'), 'email: nope\ntopics: [peft]\n');
    await writeFile(path.join(dir.subscribers, 'a2.yaml'), 'email: a2@example.org\ntopics: [bogus]\n');
    const r = await run(['subscribers', 'validate']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/a1\.yaml: email:/);
    expect(r.stderr).toMatch(/a2\.yaml: topics\[0\]: unknown topic "bogus"/);
    expect(r.stdout).toMatch(/3 valid, 2 invalid/);
  });
});
