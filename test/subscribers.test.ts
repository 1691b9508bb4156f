import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadCatalog, parseCatalog, type Catalog } from '../src/catalog.js';
import { addressInText, SubscriberStore, withStatusLine } from '../src/subscribers.js';
import { scratchDir } from './helpers/cli.js';

let dir: Awaited<ReturnType<typeof scratchDir>>;
let catalog: Catalog;
let store: SubscriberStore;

beforeEach(async () => {
  dir = await scratchDir();
  catalog = await loadCatalog(dir.subscribers);
  store = new SubscriberStore(dir.subscribers, catalog);
});
afterEach(() => dir.cleanup());

const put = (name: string, text: string) => writeFile(path.join(dir.subscribers, name), text);

describe('loading subscribers', () => {
  it('loads the bundled examples, with the file name as id', async () => {
    const { subscribers, problems } = await store.list();
    expect(problems).toEqual([]);
    expect(subscribers.map((s) => s.id)).toEqual(['ada', 'alan', 'grace']);
    expect(subscribers[0]!.topics).toContain('peft');
  });

  it('reports an unknown topic with file and field, and keeps the others', async () => {
    await put('bob.yaml', 'email: bob@example.org\ntopics: [peft, nlp]\n');
    const { subscribers, problems } = await store.list();
    expect(subscribers.map((s) => s.id)).toEqual(['ada', 'alan', 'grace']);
    expect(problems).toHaveLength(1);
    expect(problems[0]!.message).toMatch(/bob\.yaml: topics\[1\]: unknown topic "nlp"; known topics: peft, /);
  });

  it.each([
    ['two recipients', 'a@example.org, b@example.org'],
    ['a display name', 'Bob <bob@example.org>'],
    ['no domain', 'bob@'],
    ['two dots in a row', 'a..b@example.org'],
    ['a dot at the end of the local part', 'bob.@example.org'],
  ])('refuses an email with %s', async (_what, email) => {
    await put('bob.yaml', `email: ${JSON.stringify(email)}\ntopics: [peft]\n`);
    const { problems } = await store.list();
    expect(problems[0]!.message).toMatch(/bob\.yaml: email: must be exactly one plain address/);
  });

  it('accepts dotted and plus addresses', async () => {
    await put('bob.yaml', 'email: "bob.o.smith+papers@mail.example.org"\ntopics: [peft]\n');
    const { subscribers, problems } = await store.list();
    expect(problems).toEqual([]);
    expect(subscribers.find((s) => s.id === 'bob')!.email).toBe('bob.o.smith+papers@mail.example.org');
  });

  it('refuses header injection through CR/LF in the address', async () => {
    await put('bob.yaml', 'email: "bob@example.org\\r\\nBcc: all@example.org"\ntopics: [peft]\n');
    const { problems } = await store.list();
    expect(problems[0]!.message).toMatch(/email: must not contain line breaks/);
  });

  it('reports a YAML syntax error with its line', async () => {
    await put('bob.yaml', 'email: bob@example.org\ntopics: [peft\n');
    const { problems } = await store.list();
    expect(problems[0]!.message).toMatch(/bob\.yaml: YAML syntax error at line \d+, column \d+: \S/);
    // The position is said once, not left dangling at the end of the parser's message.
    expect(problems[0]!.message).not.toMatch(/:\s*$|(at line.*){2}/);
  });

  it('skips a second file that reuses an email, naming the first', async () => {
    await put('zed.yaml', 'email: ADA@example.org\ntopics: [peft]\n');
    const { subscribers, problems } = await store.list();
    expect(subscribers.map((s) => s.id)).not.toContain('zed');
    expect(problems[0]!.message).toMatch(/zed\.yaml: email: ADA@example\.org is already used by .*ada\.yaml/);
  });

  it('reports a file saved as .yml instead of leaving that subscriber out in silence', async () => {
    await put('bob.yml', 'email: bob@example.org\ntopics: [peft]\n');
    await put('eve.YAML', 'email: eve@example.org\ntopics: [peft]\n');
    const { subscribers, problems } = await store.list();
    expect(subscribers.map((s) => s.id)).not.toContain('bob');
    expect(problems.map((p) => p.message)).toEqual([
      expect.stringMatching(/bob\.yml: not read: subscriber files end in \.yaml \(rename it to bob\.yaml\)/),
      expect.stringMatching(/eve\.YAML: not read: .*rename it to eve\.yaml/),
    ]);
  });

  it('says a required field is missing rather than of the wrong kind', async () => {
    await put('bob.yaml', 'topics: [peft]\n');
    expect((await store.list()).problems[0]!.message).toMatch(/bob\.yaml: email: is missing \(required: text\)/);
  });

  it('refuses unknown fields and bad numbers', async () => {
    await put('bob.yaml', 'email: bob@example.org\ntopics: [peft]\nmax_papers: 0\ncolour: blue\n');
    const { problems } = await store.list();
    expect(problems[0]!.message).toMatch(/bob\.yaml: max_papers: must be at least 1\n/);
    expect(problems[0]!.message).toMatch(/bob\.yaml: \(top level\): unknown field "colour"; fields: email, name, topics/);
  });

  it('refuses a keyword that would match something other than what it says, naming why; separators are fine', async () => {
    await put('bob.yaml', 'email: bob@example.org\nkeywords: ["<think>", "A*", "???", C++, pass@k, "vision–language", Q&A]\n');
    const { problems } = await store.list();
    expect(problems[0]!.message).toMatch(/bob\.yaml: keywords\[0\]: "<think>": words are matched without punctuation, so "<" ">" would be left out and it would match "think"/);
    expect(problems[0]!.message).toMatch(/bob\.yaml: keywords\[1\]: "A\*": a \* must begin or end a single word of 3 or more letters/);
    expect(problems[0]!.message).toMatch(/bob\.yaml: keywords\[2\]: "\?\?\?": needs a letter or digit/);
    // C++ is matched as written; @, dashes and & separate words as they do in the text.
    expect(problems[0]!.message).not.toMatch(/keywords\[[3-6]\]/);
    expect(() => parseCatalog({ topics: [{ id: 'code', name: 'Code', keywords: ['x+y', 'code'] }] }, 'topics.yaml')).toThrow(
      /topics\.yaml: topics\[0\]\.keywords\[0\]: "x\+y": words are matched without punctuation/,
    );
  });

  it('accepts someone who follows only favourite authors', async () => {
    await put('bob.yaml', 'email: bob@example.org\ntopics: []\nauthors: [Tri Dao]\n');
    const { subscribers, problems } = await store.list();
    expect(problems).toEqual([]);
    expect(subscribers.find((s) => s.id === 'bob')!.authors).toEqual(['Tri Dao']);
    await put('bob.yaml', 'email: bob@example.org\ntopics: []\n');
    expect((await store.list()).problems[0]!.message).toMatch(/topics: follow at least one topic .*, or set keywords, authors or top_of_day/);
  });

  it('names the field a typo in topics.yaml was probably meant to be', () => {
    const yaml = { topics: [{ id: 'peft', name: 'PEFT', keyword: ['LoRA'] }], treshold: 2 };
    expect(() => parseCatalog(yaml, 'topics.yaml')).toThrow(
      /topics\.yaml: \(top level\): unknown field "treshold" \(did you mean "threshold"\?\)/,
    );
    expect(() => parseCatalog(yaml, 'topics.yaml')).toThrow(
      /topics\.yaml: topics\[0\]: unknown field "keyword" \(did you mean "keywords"\?\)/,
    );
    // A short or far-off name is not guessed at: "tz" is not a typo of "id", nor "note" of "name".
    const far = { topics: [{ id: 'peft', name: 'PEFT', keywords: ['LoRA'], tz: 'UTC', note: 'x' }] };
    expect(() => parseCatalog(far, 'topics.yaml')).toThrow(/unknown field "tz"; unknown field "note"; fields:/);
  });

  it('names the problem inside a weighted keyword instead of a bare "Invalid input"', () => {
    const withKeywords = (keywords: unknown[]) => ({ topics: [{ id: 'peft', name: 'PEFT', keywords }] });
    expect(() => parseCatalog(withKeywords(['LoRA', { term: 'adapter', weigth: 2 }]), 'topics.yaml')).toThrow(
      /topics\.yaml: topics\[0\]\.keywords\[1\]: unknown field "weigth" \(did you mean "weight"\?\)/,
    );
    expect(() => parseCatalog(withKeywords([{ term: 'adapter', weight: 'high' }]), 'topics.yaml')).toThrow(
      /topics\.yaml: topics\[0\]\.keywords\[0\]\.weight: must be a number$/m,
    );
    expect(() => parseCatalog(withKeywords([{ term: 'adapter', weight: 50 }]), 'topics.yaml')).toThrow(
      /keywords\[0\]\.weight: must be at most 10/,
    );
    expect(() => parseCatalog(withKeywords([['LoRA', 2]]), 'topics.yaml')).toThrow(/keywords\[0\]: must be a word or phrase, or \{term/);
    expect(() => parseCatalog(withKeywords([42]), 'topics.yaml')).toThrow(/keywords\[0\]: must be a word or phrase, or \{term/);
    expect(parseCatalog(withKeywords(['LoRA', { term: ' adapter ', weight: 0.5 }]), 'topics.yaml').topics[0]!.keywords).toEqual([
      'LoRA',
      { term: 'adapter', weight: 0.5 },
    ]);
  });

  it('names the field a typo was probably meant to be', async () => {
    await put('bob.yaml', 'email: bob@example.org\ntopics: [peft]\nmax_paper: 5\nTopOfDay: 3\n');
    const { problems } = await store.list();
    expect(problems[0]!.message).toContain('unknown field "max_paper" (did you mean "max_papers"?)');
    expect(problems[0]!.message).toContain('unknown field "TopOfDay" (did you mean "top_of_day"?)');
    // Too far from any field to guess.
    await put('bob.yaml', 'email: bob@example.org\ntopics: [peft]\nfavourites: [x]\n');
    expect((await store.list()).problems[0]!.message).toMatch(/unknown field "favourites"; fields:/);
  });

  it('ignores a file name that is not an id', async () => {
    await put('Bad Name.yaml', 'email: x@example.org\ntopics: [peft]\n');
    const { problems } = await store.list();
    expect(problems[0]!.message).toMatch(/file name must be a subscriber id/);
  });
});

describe('writing subscribers', () => {
  it('keeps comments when updating a field', async () => {
    const before = await readFile(path.join(dir.subscribers, 'ada.yaml'), 'utf8');
    expect(before).toMatch(/^# Ada follows/);
    await store.update('ada', { status: 'paused' });
    const after = await readFile(path.join(dir.subscribers, 'ada.yaml'), 'utf8');
    expect(after).toMatch(/^# Ada follows/);
    expect(after).toMatch(/status: paused/);
    expect((await store.get('ada')).status).toBe('paused');
  });

  it('refuses a write based on a stale version', async () => {
    const ada = await store.get('ada');
    await put('ada.yaml', (await readFile(ada.file, 'utf8')).replace('max_papers: 20', 'max_papers: 21'));
    await expect(store.update('ada', { status: 'paused' }, ada.version)).rejects.toThrow(/changed on disk since it was loaded/);
  });

  it('serialises concurrent writers: an unsubscribe during another edit is never lost', async () => {
    const other = new SubscriberStore(dir.subscribers, catalog); // e.g. the web app, next to the CLI
    await Promise.all([
      store.update('ada', { topics: ['reasoning'] }),
      other.setStatus('ada', 'unsubscribed'),
      store.update('ada', { max_papers: 7 }),
    ]);
    const ada = await store.get('ada');
    expect(ada.status).toBe('unsubscribed');
    expect(ada.topics).toEqual(['reasoning']);
    expect(ada.max_papers).toBe(7);
  });

  it('refuses ids that would escape the folder', () => {
    expect(() => store.fileFor('../../etc/passwd')).toThrow(/not a subscriber id/);
  });

  it('validates before writing', async () => {
    const ada = await store.get('ada');
    await expect(store.update('ada', { topics: ['no-such-topic'] }, ada.version)).rejects.toThrow(/unknown topic "no-such-topic"/);
    expect((await store.get('ada')).topics).toEqual(ada.topics);
  });
});

describe('reading a subscriber file whose YAML does not parse', () => {
  it('finds the address on its one email line, quoted or not, without a trailing comment', () => {
    expect(addressInText('email: ada@example.org  # work\ntopics: [peft\n')).toBe('ada@example.org');
    expect(addressInText("name: x\nemail: 'ada@example.org'\n")).toBe('ada@example.org');
    // Only top-level lines: an indented email: belongs to something else.
    expect(addressInText('notes:\n  email: not-this@example.org\n')).toBeUndefined();
  });

  it('finds none when the text is ambiguous: two email lines, or more than one document', () => {
    expect(addressInText('email: old@example.org\nemail: new@example.org\n')).toBeUndefined();
    expect(addressInText('email: new@example.org\ntopics: [peft]\n---\nemail: old@example.org\n')).toBeUndefined();
  });

  it('sets the status line (with a value continued below it), or adds one', () => {
    expect(withStatusLine('email: a@example.org\nstatus: active # on\ntopics: [x\n', 'unsubscribed')).toBe(
      'email: a@example.org\nstatus: unsubscribed\ntopics: [x\n',
    );
    expect(withStatusLine('email: a@example.org\nstatus:\n  paused\ntopics: [x\n', 'unsubscribed')).toBe(
      'email: a@example.org\nstatus: unsubscribed\ntopics: [x\n',
    );
    expect(withStatusLine('email: a@example.org\ntopics: [x', 'unsubscribed')).toBe('email: a@example.org\ntopics: [x\nstatus: unsubscribed\n');
  });
});
