/** Small hand-made papers and a fixed catalog for selector and renderer tests. */
import type { Catalog } from '../../src/catalog.js';
import { paperLinks, type Paper } from '../../src/paper.js';

let n = 0;
export function paper(over: Partial<Paper> & { title: string }): Paper {
  const id = over.id ?? `2501.${String(10000 + n++)}`;
  return {
    id,
    abstract: '',
    authors: ['Ada Lovelace', 'Alan Turing'],
    upvotes: 0,
    aiKeywords: [],
    links: paperLinks(id),
    ...over,
  };
}

export const catalog: Catalog = {
  version: 1,
  threshold: 2.5,
  relative: 0,
  topics: [
    { id: 'peft', name: 'PEFT', description: 'LoRA and adapters', keywords: ['LoRA', 'adapter', 'parameter-efficient'], exclude: [] },
    {
      id: 'reasoning',
      name: 'Reasoning',
      description: 'Reasoning and math',
      keywords: ['reasoning', 'math', 'chain-of-thought'],
      exclude: [],
    },
    {
      id: 'code',
      name: 'Code',
      description: 'Code generation',
      keywords: ['code generation', 'program synthesis'],
      exclude: ['morse code'],
    },
  ],
};

export const profile = (over: Partial<import('../../src/selection.js').Profile> = {}) => ({
  id: 'ada',
  topics: ['peft', 'reasoning', 'code'],
  keywords: [],
  authors: [],
  max_papers: 30,
  min_upvotes: 0,
  top_of_day: 0,
  ...over,
});
