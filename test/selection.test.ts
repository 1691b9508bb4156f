import { describe, expect, it } from 'vitest';
import { Matcher } from '../src/matcher.js';
import { fileListing, limitFull, select } from '../src/selection.js';
import { catalog, paper, profile } from './helpers/papers.js';

const file = (papers: ReturnType<typeof paper>[]) => fileListing(papers, Matcher.fromCatalog(catalog));

describe('select', () => {
  const lora = paper({ title: 'LoRA adapters revisited', abstract: 'We revisit LoRA.', upvotes: 5 });
  const both = paper({ title: 'LoRA for math reasoning', abstract: 'Reasoning with LoRA adapters.', upvotes: 1 });
  const math = paper({ title: 'Chain-of-thought math reasoning', abstract: 'Math.', upvotes: 50 });
  const other = paper({ title: 'Protein folding at scale', abstract: 'Biology.', upvotes: 99 });
  const filed = file([lora, both, math, other]);

  it('groups papers into one section per followed topic, in the order the subscriber lists them', () => {
    const s = select(profile({ topics: ['reasoning', 'peft'] }), filed, catalog);
    expect(s.sections.map((x) => x.topic)).toEqual(['reasoning', 'peft']);
    expect(s.total).toBe(3);
  });

  it('puts a paper once, under its best followed topic, tagging the other', () => {
    const s = select(profile(), filed, catalog);
    const ids = s.sections.flatMap((x) => x.entries.map((e) => e.paper.id));
    expect(ids.filter((id) => id === both.id)).toHaveLength(1);
    const entry = s.sections.flatMap((x) => x.entries).find((e) => e.paper.id === both.id)!;
    const home = s.sections.find((x) => x.entries.includes(entry))!.topic;
    expect(entry.alsoIn).toEqual([home === 'peft' ? 'reasoning' : 'peft']);
  });

  it('only includes followed topics', () => {
    const s = select(profile({ topics: ['peft'] }), filed, catalog);
    expect(s.sections.map((x) => x.topic)).toEqual(['peft']);
    expect(s.sections[0]!.entries.map((e) => e.paper.id)).not.toContain(math.id);
  });

  it('leaves out papers sent on an earlier day and says why when nothing is left', () => {
    const s = select(profile({ topics: ['reasoning'] }), filed, catalog, new Set([math.id, both.id]));
    expect(s.total).toBe(0);
    expect(s.emptyReason).toBe('no new paper matches the followed topics');
  });

  it('says the listing was empty', () => {
    expect(select(profile(), [], catalog).emptyReason).toBe('the listing is empty');
  });

  it('applies min_upvotes', () => {
    const s = select(profile({ min_upvotes: 10 }), filed, catalog);
    expect(s.sections.flatMap((x) => x.entries.map((e) => e.paper.id))).toEqual([math.id]);
  });

  it('records the matched terms', () => {
    const s = select(profile({ topics: ['peft'] }), filed, catalog);
    const e = s.sections[0]!.entries.find((x) => x.paper.id === lora.id)!;
    expect(e.matched).toEqual(['LoRA', 'adapter']);
  });
});

describe('limitFull', () => {
  it('hands full slots round-robin so every section keeps its best papers', () => {
    const papers = [
      ...Array.from({ length: 6 }, (_, i) => paper({ title: `LoRA adapter ${i}`, upvotes: 10 - i })),
      paper({ title: 'Math reasoning', upvotes: 1 }),
    ];
    const s = select(profile({ max_papers: 3 }), file(papers), catalog);
    limitFull(s, 3);
    const peft = s.sections.find((x) => x.topic === 'peft')!;
    const reasoning = s.sections.find((x) => x.topic === 'reasoning')!;
    expect(reasoning.entries[0]!.full).toBe(true);
    expect(peft.entries.filter((e) => e.full)).toHaveLength(2);
    expect(peft.entries.slice(0, 2).every((e) => e.full)).toBe(true);
    expect(s.total).toBe(7); // the rest are compact, not dropped
  });
});
