import { describe, expect, it } from 'vitest';
import { Matcher } from '../src/matcher.js';
import { fileListing, limitFull, nameKeys, select } from '../src/selection.js';
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

describe('ranking inside a section', () => {
  it('puts relevance first: a viral but marginal paper does not bury a strongly relevant one', () => {
    const strong = paper({
      title: 'LoRA adapters: parameter-efficient tuning',
      abstract: 'LoRA adapters, parameter-efficient.',
      upvotes: 2,
    });
    const viral = paper({ title: 'A big model', abstract: 'We use LoRA adapters.', upvotes: 5000 });
    const s = select(profile({ topics: ['peft'] }), file([viral, strong]), { ...catalog, threshold: 1 });
    expect(s.sections[0]!.entries.map((e) => e.paper.id)).toEqual([strong.id, viral.id]);
  });

  it('breaks equal relevance by upvotes, then by id, so runs repeat', () => {
    const a = paper({ id: '2501.00002', title: 'LoRA study', upvotes: 3 });
    const b = paper({ id: '2501.00001', title: 'LoRA study', upvotes: 3 });
    const c = paper({ id: '2501.00003', title: 'LoRA study', upvotes: 40 });
    const s = select(profile({ topics: ['peft'] }), file([a, b, c]), catalog);
    expect(s.sections[0]!.entries.map((e) => e.paper.id)).toEqual([c.id, b.id, a.id]);
  });
});

describe('interests beyond the catalog', () => {
  const lora = paper({ title: 'LoRA adapters revisited', authors: ['Tri Dao', 'Someone Else'], upvotes: 1 });
  const unrelated = paper({
    title: 'Protein folding',
    abstract: 'A contrastive loss for proteins.',
    authors: ['Émile Zola'],
    upvotes: 500,
  });
  const other = paper({ title: 'Weather forecasting', abstract: 'Nothing here.', upvotes: 20 });

  it('puts favourite authors first, marked, matching names without accents or case', () => {
    const s = select(profile({ topics: ['peft'], authors: ['tri dao', 'Emile Zola'] }), file([lora, unrelated]), catalog);
    expect(s.sections[0]!.topic).toBe('authors');
    expect(s.sections[0]!.entries.every((e) => e.favourite)).toBe(true);
    expect(s.sections[0]!.entries.map((e) => e.paper.id).sort()).toEqual([lora.id, unrelated.id].sort());
    expect(s.sections[0]!.entries.find((e) => e.paper.id === lora.id)!.alsoIn).toEqual(['peft']);
  });

  it('knows a favourite author by other common spellings of the name, but not by a bare surname', () => {
    const by = (...authors: string[]) => paper({ title: 'Weather forecasting', authors, upvotes: 3 });
    const papers = [by('Tri C. Dao'), by('Dao, Tri'), by('Yann LeCun'), by('TRI  DAO'), by('T. Dao'), by('Tri Daoson')];
    const s = select(profile({ topics: ['peft'], authors: ['Tri Dao', 'Yann Le Cun'] }), file(papers), catalog);
    const favourites = s.sections.find((x) => x.topic === 'authors')!.entries.map((e) => e.paper.authors[0]);
    expect(favourites.sort()).toEqual(['Dao, Tri', 'TRI  DAO', 'Tri C. Dao', 'Yann LeCun']);
    expect(nameKeys('T. Dao')).toEqual(['tdao']);
    expect(nameKeys('Martin Luther King, Jr.')).toEqual(nameKeys('Martin Luther King Jr.'));
    expect(nameKeys('Łukasz Kaiser')).toEqual(nameKeys('Lukasz Kaiser'));
  });

  it('files papers matching the subscriber’s own keywords in their own section', () => {
    const s = select(profile({ topics: ['peft'], keywords: ['contrastive loss'] }), file([lora, unrelated]), catalog);
    expect(s.sections.map((x) => x.topic)).toEqual(['peft', 'keywords']);
    expect(s.sections[1]!.entries[0]!.matched).toEqual(['contrastive loss']);
  });

  it('matches an own keyword on a single mention late in a long abstract', () => {
    const filler = Array.from({ length: 60 }, (_, i) => `Sentence ${i} talks about proteins and folds.`).join(' ');
    const long = paper({ title: 'Protein folding at scale', abstract: `${filler} We also use a contrastive loss. ${filler}` });
    const s = select(profile({ topics: ['peft'], keywords: ['contrastive loss', 'portability'] }), file([long]), catalog);
    expect(s.sections.map((x) => x.topic)).toEqual(['keywords']);
    expect(s.sections[0]!.entries[0]!.matched).toEqual(['contrastive loss']);
  });

  it('matches an own keyword named only in the listing’s ai_keywords', () => {
    // Catalog topics ask more of a term found in ai_keywords (KEYWORDS_BAR); a person's alert words never do.
    const listed = paper({ title: 'Protein folding at scale', abstract: 'Biology.', aiKeywords: ['contrastive loss', 'protein folding'] });
    const s = select(profile({ topics: ['peft'], keywords: ['contrastive loss'] }), file([listed]), catalog);
    expect(s.sections.map((x) => x.topic)).toEqual(['keywords']);
    expect(s.sections[0]!.entries[0]!.matched).toEqual(['contrastive loss']);
  });

  it('adds the top N of the day regardless of topic, without repeating papers already shown', () => {
    const s = select(profile({ topics: ['peft'], top_of_day: 2 }), file([lora, unrelated, other]), catalog);
    expect(s.sections.map((x) => x.topic)).toEqual(['peft', 'top-of-day']);
    expect(s.sections[1]!.entries.map((e) => e.paper.id)).toEqual([unrelated.id, other.id]);
    expect(s.total).toBe(3);
  });
});
