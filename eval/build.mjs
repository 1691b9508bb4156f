// Builds papers.dev.jsonl / papers.heldout.jsonl from eval/raw/*.txt (transcribed records)
// and the recorded payloads in shared/fixtures. Usage: node eval/build.mjs [fixturesDir]
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
const here = path.dirname(new URL(import.meta.url).pathname);
const fixtures = process.argv[2] || path.join(here, '../../shared/fixtures');
const TOPICS = ['peft','instruction-tuning','model-merging','continual-learning','safety-alignment','reinforcement-learning','reasoning','code','agents-tools','translation-multilingual','vision-multimodal','interpretability','data-curation','benchmarks','domain-adaptation','efficient-inference','retrieval-rag','generation-diffusion','speech-audio','robotics-embodied','pretraining-architecture'];
const clean = s => s.replace(/\s+/g, ' ').trim();
const recs = new Map();
function add(r) {
  if (!/^\d{4}\.\d{4,5}$/.test(r.id)) throw new Error('bad id ' + r.id);
  for (const l of r.labels ?? []) if (!TOPICS.includes(l)) throw new Error(`bad label ${l} in ${r.id}`);
  if (recs.has(r.id)) { console.error('dup skipped', r.id); return; }
  const o = { id: r.id, title: clean(r.title), abstract: clean(r.abstract) };
  if (r.ai_keywords && r.ai_keywords.length) o.ai_keywords = r.ai_keywords;
  if (r.ai_summary) o.ai_summary = clean(r.ai_summary);
  o.labels = r.labels; o.source = r.source;
  recs.set(r.id, o);
}
// raw transcriptions: blocks "@@ id | label,label | source\nT: title\nA: abstract\n[K: kw; kw]\n[S: ai_summary]"
for (const f of fs.readdirSync(path.join(here, 'raw')).sort()) {
  const txt = fs.readFileSync(path.join(here, 'raw', f), 'utf8');
  for (const blk of txt.split(/^@@ /m).slice(1)) {
    const [head, ...rest] = blk.split('\n');
    const [id, labels, source] = head.split('|').map(s => s.trim());
    const body = rest.join('\n');
    const t = body.match(/^T: (.*)$/m)[1];
    const a = body.match(/^A: ([\s\S]*?)(?=^[KS]: |$(?![\s\S]))/m)[1];
    const k = body.match(/^K: (.*)$/m);
    const sum = body.match(/^S: (.*)$/m);
    add({ id, title: t, abstract: a, labels: labels === '-' ? undefined : labels ? labels.split(',').map(s => s.trim()).filter(Boolean) : [], source,
          ai_keywords: k ? k[1].split(';').map(s => s.trim()).filter(Boolean) : undefined, ai_summary: sum ? sum[1] : undefined });
  }
}
// fixtures + their labels
const fxLabels = JSON.parse(fs.readFileSync(path.join(here, 'fixture-labels.json'), 'utf8'));
const hf = JSON.parse(fs.readFileSync(path.join(fixtures, 'hf-daily-papers-2024-10-25.json'), 'utf8'));
for (const it of hf) add({ id: it.paper.id, title: it.paper.title, abstract: it.paper.summary, labels: fxLabels[it.paper.id], source: 'shared/fixtures/hf-daily-papers-2024-10-25.json' });
const one = JSON.parse(fs.readFileSync(path.join(fixtures, 'hf-daily-papers-item-2026.json'), 'utf8'));
const items = Array.isArray(one) ? one : [one];
for (const it of items) { const p = it.paper || it; add({ id: p.id, title: p.title, abstract: p.summary, ai_keywords: p.ai_keywords, labels: fxLabels[p.id], source: 'shared/fixtures/hf-daily-papers-item-2026.json' }); }
const xml = fs.readFileSync(path.join(fixtures, 'arxiv-rss-cs.AI-2025-08-20.xml'), 'utf8');
for (const e of xml.split('<entry>').slice(1)) {
  const id = e.match(/arXiv:(\d{4}\.\d{4,5})v\d+/)[1];
  const title = e.match(/<title>([\s\S]*?)<\/title>/)[1];
  const abs = e.match(/Abstract:([\s\S]*?)<\/summary>/)[1];
  const dec = s => s.replace(/&lt;/g,'<').replace(/&gt;/g,'>').replace(/&quot;/g,'"').replace(/&#39;/g,"'").replace(/&amp;/g,'&');
  if (clean(abs).length < 200) { console.error('skipped stub-abstract RSS entry', id); continue; }
  add({ id, title: dec(title), abstract: dec(abs), labels: fxLabels[id], source: 'shared/fixtures/arxiv-rss-cs.AI-2025-08-20.xml' });
}
// Independent annotation passes (eval/annotations/pass-*.jsonl, made blind to each other, to the
// first-pass labels and to the classifier). Every paper needs three votes in all; a topic is a
// label when at least two of them give it. The first-pass labels (raw/, fixture-labels.json) are
// one vote where they exist ("-" in raw/ means the paper had no first pass).
const passes = {};
for (const f of fs.readdirSync(path.join(here, 'annotations')).filter((f) => /^pass-.*\.jsonl$/.test(f)).sort()) {
  const name = f.slice(5, -6);
  for (const l of fs.readFileSync(path.join(here, 'annotations', f), 'utf8').split('\n')) {
    if (!l.trim()) continue;
    const { id, labels } = JSON.parse(l);
    for (const t of labels) if (!TOPICS.includes(t)) throw new Error(`bad label ${t} for ${id} in annotations/${f}`);
    (passes[id] ??= {})[name] = labels;
  }
}
for (const r of recs.values()) {
  const votes = { ...(Array.isArray(r.labels) ? { first: r.labels } : {}), ...(passes[r.id] ?? {}) };
  const n = Object.keys(votes).length;
  if (n !== 3) throw new Error(`${r.id} has ${n} annotation votes, expected 3`);
  const count = new Map();
  // Order: by votes, then by how early the annotators listed it (first label = best fit).
  const rank = new Map();
  for (const labels of Object.values(votes)) labels.forEach((t, i) => { count.set(t, (count.get(t) ?? 0) + 1); rank.set(t, (rank.get(t) ?? 0) + i); });
  r.labels = [...count].filter(([, c]) => c >= 2).map(([t]) => t).sort((a, b) => count.get(b) - count.get(a) || rank.get(a) - rank.get(b) || a.localeCompare(b));
  r.votes = votes;
  const { source } = r; delete r.source; r.source = source;
}
const dev = [], held = [];
for (const r of [...recs.values()].sort((a, b) => a.id.localeCompare(b.id))) {
  const h = parseInt(crypto.createHash('sha256').update(r.id).digest('hex').slice(0, 8), 16) % 100;
  (h < 65 ? dev : held).push(JSON.stringify(r));
}
fs.writeFileSync(path.join(here, 'papers.dev.jsonl'), dev.join('\n') + '\n');
fs.writeFileSync(path.join(here, 'papers.heldout.jsonl'), held.join('\n') + '\n');
console.log(`total ${recs.size} dev ${dev.length} heldout ${held.length}`);
