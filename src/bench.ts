/**
 * `npm run bench` — how fast the hot paths are, as figures and ratios
 * measured in the same run (the machines are shared and noisy: compare the
 * ratios, not the absolute times).
 *
 *   1. rendering: MJML compiled once + Handlebars per subscriber, against
 *      MJML compiled per subscriber (the naive way);
 *   2. filing and selection: per paper and per subscriber;
 *   3. a whole compose pass (select + render within budget) for many subscribers;
 *   4. email size against Gmail's 102 KB clipping limit on a big day;
 *   5. delivery: messages to a real SMTP server on loopback with the durable
 *      ledger (two fsynced records per message) against without it;
 *   6. the ledger after a year of daily runs for 1,000 subscribers: what every
 *      run pays to read it, before and after compaction.
 */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Handlebars from 'handlebars';
import mjml2html from 'mjml';
import { loadCatalog } from './catalog.js';
import { PACKAGE_ROOT, TEMPLATES_DIR } from './config.js';
import { composeDigest } from './digest.js';
import { parseListing } from './listing.js';
import { analyse, Matcher } from './matcher.js';
import type { Paper } from './paper.js';
import { buildView, GMAIL_CLIP_BYTES, Renderer } from './render.js';
import { DETAIL_DAYS, Ledger } from './ledger.js';
import { buildMessage } from './message.js';
import { fileListing, select } from './selection.js';
import { smtpTransport } from './transport.js';
import { linkBuilder } from './tokens.js';

const now = () => performance.now();
function time(runs: number, fn: () => unknown): number {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = now();
    fn();
    samples.push(now() - t);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)]!;
}
async function timeAsync(runs: number, fn: () => Promise<unknown>): Promise<number> {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = now();
    await fn();
    samples.push(now() - t);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)]!;
}

// Deterministic PRNG so every run benchmarks the same workload.
let seed = 42;
const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;

/** A big day: the real sample papers, plus the eval set when present, cycled to `n` distinct ids. */
function bigListing(n: number): Paper[] {
  const sample = parseListing(
    JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'samples/hf-daily-papers-2024-10-25.json'), 'utf8')),
    'sample',
  ).papers;
  let pool: Paper[] = sample;
  try {
    const lines = readFileSync(path.join(PACKAGE_ROOT, 'eval/papers.dev.jsonl'), 'utf8').trim().split('\n');
    const items = lines.map((l) => JSON.parse(l) as { id: string; title: string; abstract: string; ai_keywords?: string[] });
    pool = pool.concat(
      parseListing(
        items.map((i) => ({
          paper: { id: i.id, title: i.title, summary: i.abstract, ai_keywords: i.ai_keywords, upvotes: Math.floor(rand() * 80) },
        })),
        'eval',
      ).papers,
    );
  } catch {
    // no eval set: the sample alone
  }
  return Array.from({ length: n }, (_, i) => {
    const p = pool[i % pool.length]!;
    const id = `2410.${String(20000 + i)}`;
    return {
      ...p,
      id,
      upvotes: Math.floor(rand() * 100),
      links: { hf: `https://huggingface.co/papers/${id}`, arxiv: `https://arxiv.org/abs/${id}`, pdf: `https://arxiv.org/pdf/${id}` },
    };
  });
}

const fmt = (ms: number) => (ms >= 1 ? `${ms.toFixed(2)} ms` : `${(ms * 1000).toFixed(1)} µs`);
const row = (label: string, value: string) => console.log(`  ${label.padEnd(52)} ${value}`);

async function main() {
  // Loading validates every learned term (compiling it), so loading + building is what a run pays.
  const loadStart = now();
  const catalog = await loadCatalog(path.join(PACKAGE_ROOT, 'subscribers'));
  const loadFirst = now() - loadStart;
  const renderer = await Renderer.create(TEMPLATES_DIR);
  const links = linkBuilder('https://digest.example.org', 'b'.repeat(64));
  const topicIds = catalog.topics.map((t) => t.id);
  const profiles = Array.from({ length: 500 }, (_, i) => ({
    id: `s${i}`,
    email: `s${i}@example.org`,
    topics: topicIds.filter(() => rand() < 0.2).slice(0, 6),
    keywords: i % 5 === 0 ? ['contrastive loss'] : [],
    authors: [],
    max_papers: 20,
    min_upvotes: 0,
    top_of_day: i % 7 === 0 ? 3 : 0,
  }));
  for (const p of profiles) if (p.topics.length === 0) p.topics.push(topicIds[0]!);
  const papers = bigListing(60);
  const buildStart = now();
  const matcher = Matcher.fromCatalog(catalog);
  const buildFirst = now() - buildStart;
  const filed = fileListing(papers, matcher);
  const deps = { catalog, renderer, links, maxEmailBytes: 85_000 };

  console.log(`Paperboy benchmark — ${papers.length} papers, ${profiles.length} subscribers, ${catalog.topics.length} topics (medians)\n`);

  // 1. Rendering strategy.
  const mjmlSource = readFileSync(path.join(TEMPLATES_DIR, 'digest.mjml'), 'utf8');
  const mjmlOnce = await timeAsync(5, () =>
    mjml2html(mjmlSource, { validationLevel: 'strict', minify: true, minifyOptions: { minifyCss: false } } as never),
  );
  const sel = select(profiles[1]!, filed, catalog);
  const ctx = {
    date: '2024-10-25',
    following: ['x'],
    manageUrl: 'https://x.example/m',
    unsubscribeUrl: 'https://x.example/u',
    topicName: (s: string) => s,
  };
  const view = buildView(sel, ctx);
  const fill = time(200, () => renderer.render(view));
  // Naive: fill the MJML source with the data first, then compile MJML for every subscriber.
  const hbEnv = Handlebars.create();
  for (const f of ['section', 'paper', 'compact', 'footer'])
    hbEnv.registerPartial(f, readFileSync(path.join(TEMPLATES_DIR, 'partials', `${f}.hbs`), 'utf8'));
  const mjmlTemplate = hbEnv.compile(mjmlSource.replace(/<!--[\s\S]*?-->/g, ''));
  const naive = await timeAsync(5, () =>
    mjml2html(mjmlTemplate({ ...view, subject: 's' }), {
      validationLevel: 'skip',
      minify: true,
      minifyOptions: { minifyCss: false },
    } as never),
  );
  console.log('Rendering');
  row('MJML compile of the layout (once per run)', fmt(mjmlOnce));
  row('Handlebars fill per subscriber (compiled once)', fmt(fill));
  row('naive: MJML compile per subscriber', fmt(naive));
  row('ratio naive / compile-once (per subscriber)', `${(naive / fill).toFixed(0)}×`);
  row(
    `→ ${profiles.length} subscribers: compile-once vs naive`,
    `${fmt(mjmlOnce + fill * profiles.length)} vs ${fmt(naive * profiles.length)}`,
  );

  // 2. Filing and selection.
  const analyseOne = time(20, () => papers.forEach((p) => analyse(p))) / papers.length;
  const docs = papers.map((p) => analyse(p));
  const matchOne = time(20, () => docs.forEach((d) => matcher.match(d))) / papers.length;
  const selectOne = time(20, () => profiles.forEach((p) => select(p, filed, catalog))) / profiles.length;
  console.log('\nFiling and selection');
  row('tokenise + stem one paper (once per run)', fmt(analyseOne));
  row(`score one paper against ${catalog.topics.length} topics (once per run)`, fmt(matchOne));
  const learnedTerms = Object.values(catalog.learned?.topics ?? {}).reduce((n, t) => n + Object.keys(t.terms).length, 0);
  const hand = Matcher.fromCatalog({ ...catalog, learned: undefined });
  const handOne = time(20, () => docs.forEach((d) => hand.match(d))) / papers.length;
  row('  the same, hand-written keywords only', fmt(handOne));
  row(`  ratio with ${learnedTerms} learned terms / hand only`, `${(matchOne / handOne).toFixed(1)}×`);
  row('load catalog + learned file, build matcher (per run)', `${fmt(loadFirst)} + ${fmt(buildFirst)}`);
  row('select for one subscriber', fmt(selectOne));
  row('ratio select / render fill', `${(selectOne / fill).toFixed(2)}×`);

  // 3. Whole compose pass.
  const whole = time(3, () => profiles.forEach((p) => composeDigest(p, filed, '2024-10-25', deps)));
  console.log('\nCompose (select + render within budget), no sending');
  row(`${profiles.length} subscribers`, `${fmt(whole)} (${fmt(whole / profiles.length)} each)`);
  row('ratio whole compose / one MJML compile', `${(whole / profiles.length / mjmlOnce).toFixed(3)}× per subscriber`);

  // 4. Size on a big day.
  const bigDay = fileListing(bigListing(200), matcher);
  const everything = { ...profiles[0]!, topics: topicIds, max_papers: 200 };
  const heavy = composeDigest(everything, bigDay, '2024-10-25', deps);
  const sizes = profiles
    .slice(0, 200)
    .map((p) => composeDigest(p, filed, '2024-10-25', deps).email?.htmlBytes ?? 0)
    .filter((b) => b > 0)
    .sort((a, b) => a - b);
  console.log(`\nEmail size (Gmail clips above ${GMAIL_CLIP_BYTES.toLocaleString('en')} bytes; budget MAX_EMAIL_BYTES = 85,000)`);
  row('typical subscriber, 60-paper day: median / max', `${sizes[Math.floor(sizes.length / 2)]} / ${sizes[sizes.length - 1]} bytes`);
  row(
    'every topic, 200-paper day, max_papers 200',
    `${heavy.email!.htmlBytes} bytes, ${heavy.email!.fullShown} in full + ${heavy.selection.total - heavy.email!.fullShown} compact, 0 dropped`,
  );
  row('ratio to Gmail limit (heaviest)', `${(heavy.email!.htmlBytes / GMAIL_CLIP_BYTES).toFixed(2)}`);

  // 5. Delivery to a real SMTP server on loopback (smtp-server is a dev dependency).
  const { SMTPServer } = await import('smtp-server');
  let received = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, _session, cb) {
      stream.on('data', () => {});
      stream.on('end', () => {
        received++;
        cb(null);
      });
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.server.address() as { port: number }).port;
  const transport = smtpTransport({ url: `smtp://127.0.0.1:${port}` });
  const settings = { from: 'Paperboy <bench@example.org>', links };
  const messages = profiles.slice(0, 100).flatMap((p) => {
    const d = composeDigest(p, filed, '2024-10-25', deps);
    return d.email ? [buildMessage(d.email, p, '2024-10-25', d.paperIds, settings)] : [];
  });
  const dir = mkdtempSync(path.join(tmpdir(), 'paperboy-bench-'));
  const ledger = new Ledger(dir);
  await transport.send(messages[0]!); // warm the pool
  const t0 = now();
  for (const m of messages) await transport.send(m);
  const bare = (now() - t0) / messages.length;
  const t1 = now();
  for (const m of messages) {
    ledger.record({
      date: '2024-10-25',
      subscriber: m.meta.subscriber,
      state: 'sending',
      messageId: m.meta.messageId,
      papers: m.meta.paperIds,
    });
    await transport.send(m);
    ledger.record({ date: '2024-10-25', subscriber: m.meta.subscriber, state: 'sent', messageId: m.meta.messageId });
  }
  const durable = (now() - t1) / messages.length;
  const fsyncOne = time(200, () => ledger.record({ date: '2024-10-26', subscriber: 'x', state: 'planned' }));
  await transport.close();
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
  console.log(`\nDelivery to a loopback SMTP server (${messages.length} messages, ${received} received)`);
  row('send one message (pooled SMTP)', fmt(bare));
  row('send one message + 2 fsynced ledger records', fmt(durable));
  row('one fsynced ledger record', fmt(fsyncOne));
  row('ratio durable / bare send', `${(durable / bare).toFixed(2)}×`);
  row('→ messages per second, durable', `${(1000 / durable).toFixed(0)}`);

  // 6. A year of 1,000 subscribers (planned, sending, sent per digest, as a run writes them).
  const year = mkdtempSync(path.join(tmpdir(), 'paperboy-bench-'));
  const file = path.join(year, 'ledger.jsonl');
  const chunks: string[] = [];
  for (let day = 0; day < 365; day++) {
    const date = new Date(Date.UTC(2025, 0, 1 + day)).toISOString().slice(0, 10);
    const at = `${date}T07:00:00.000Z`;
    for (let i = 0; i < 1000; i++) {
      const base = { v: 1, at, date, subscriber: `s${i}` };
      const papers = Array.from({ length: 8 }, (_, k) => `2501.${String(day * 20 + k).padStart(5, '0')}`);
      const messageId = `<digest.${date}.s${i}.0123456789ab@digest.example.org>`;
      chunks.push(
        JSON.stringify({ ...base, state: 'planned' }) + '\n',
        JSON.stringify({ ...base, state: 'sending', messageId, papers, email: `s${i}@example.org` }) + '\n',
        JSON.stringify({ ...base, state: 'sent', messageId, papers, reason: '250 OK' }) + '\n',
      );
    }
  }
  writeFileSync(file, chunks.join(''));
  const bytesBefore = statSync(file).size;
  const loadBefore = time(3, () => new Ledger(year));
  const compactStart = now();
  const done = await new Ledger(year).compact({ today: '2026-01-01' });
  const compactMs = now() - compactStart;
  const bytesAfter = statSync(file).size;
  const loadAfter = time(3, () => new Ledger(year));
  rmSync(year, { recursive: true, force: true });
  console.log(`\nLedger after a year of daily digests for 1,000 subscribers (detail kept for ${DETAIL_DAYS} days)`);
  row('lines / size before compaction', `${done!.before} / ${(bytesBefore / 1e6).toFixed(1)} MB`);
  row('lines / size after', `${done!.after} / ${(bytesAfter / 1e6).toFixed(1)} MB`);
  row('read the ledger (every run), before / after', `${fmt(loadBefore)} / ${fmt(loadAfter)}`);
  row('ratio before / after', `${(loadBefore / loadAfter).toFixed(1)}×`);
  row('one compaction (read, rewrite, fsync, rename)', fmt(compactMs));
}

await main();
