import { beforeAll, describe, expect, it } from 'vitest';
import { TEMPLATES_DIR } from '../src/config.js';
import { composeDigest } from '../src/digest.js';
import { Matcher } from '../src/matcher.js';
import { compileMjml, excerpt, Renderer } from '../src/render.js';
import { fileListing } from '../src/selection.js';
import { linkBuilder } from '../src/tokens.js';
import { catalog, paper, profile } from './helpers/papers.js';

let renderer: Renderer;
beforeAll(async () => {
  renderer = await Renderer.create(TEMPLATES_DIR);
});

const links = linkBuilder('https://digest.example.org', 's'.repeat(40));
const recipient = { ...profile(), email: 'ada@example.org', name: 'Ada' };
const compose = (papers: ReturnType<typeof paper>[], maxEmailBytes = 85_000, over = {}) =>
  composeDigest({ ...recipient, ...over }, fileListing(papers, Matcher.fromCatalog(catalog)), '2024-10-25', {
    catalog,
    renderer,
    links,
    maxEmailBytes,
  });

describe('rendering a digest', () => {
  it('turns hostile titles and abstracts into inert text', () => {
    const hostile = paper({
      title: 'LoRA <script>alert(1)</script> {{x}} <mj-include path="/etc/passwd"/>',
      abstract: 'An adapter "quoted" & <img src=x onerror=alert(1)> study of LoRA.',
      authors: ['<b>Mallory</b>'],
    });
    const { email } = compose([hostile]);
    expect(email).toBeDefined();
    const html = email!.html;
    expect(html).not.toContain('<script>alert(1)</script>');
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).toContain('{{x}}'); // printed, not evaluated
    expect(html).toContain('&lt;mj-include path&#x3D;&quot;/etc/passwd&quot;/&gt;');
    expect(html).not.toMatch(/<img src=x/);
    expect(html).not.toContain('<b>Mallory</b>');
    expect(html).not.toMatch(/root:x:0:0/);
    // The text part is plain text: the title appears verbatim, not entity-encoded.
    expect(email!.text).toContain('LoRA <script>alert(1)</script> {{x}}');
  });

  it('has a subject with the date and contents, a preheader, sections, links and a footer', () => {
    const { email } = compose([
      paper({ id: '2410.17243', title: 'LoRA adapters for everyone', abstract: 'We study LoRA.', upvotes: 12 }),
      paper({ title: 'Math reasoning with chain-of-thought', abstract: 'Reasoning.', upvotes: 3 }),
    ]);
    expect(email!.subject).toBe('Fri, 25 Oct 2024: 2 new papers on PEFT and Reasoning');
    expect(email!.preheader).toMatch(/^LoRA adapters for everyone — and 1 more paper on PEFT and Reasoning/);
    expect(email!.html).toContain(email!.preheader);
    // Sections that are not topics are named as a sentence would name them, not by their headings.
    const mixed = compose(
      [
        paper({ title: 'LoRA adapters for everyone', abstract: 'We study LoRA.', authors: ['Tri Dao'] }),
        paper({ title: 'Math reasoning with chain-of-thought', abstract: 'Reasoning.' }),
        paper({ title: 'A new tokenizer', abstract: 'Tokenizers.' }),
      ],
      85_000,
      { authors: ['Tri Dao'], keywords: ['tokenizer'] },
    ).email!;
    expect(mixed.subject).toBe('Fri, 25 Oct 2024: 3 new papers on authors you follow, Reasoning +1');
    expect(mixed.preheader).toBe('LoRA adapters for everyone — and 2 more papers on authors you follow, Reasoning and your keywords');
    // One paper: no "and 0 more papers".
    const single = compose([paper({ title: 'LoRA adapters for everyone', abstract: 'We study LoRA.' })]).email!;
    expect(single.preheader).toBe('LoRA adapters for everyone — on PEFT');
    // A long title is cut for the preheader, never inside an emoji.
    const rocket = compose([paper({ title: `LoRA: ${'🚀'.repeat(100)}`, abstract: 'We study LoRA.' })]).email!;
    expect(rocket.preheader).toBe(`LoRA: ${'🚀'.repeat(71)}…`);
    for (const s of ['https://huggingface.co/papers/2410.17243', 'https://arxiv.org/abs/2410.17243', 'https://arxiv.org/pdf/2410.17243']) {
      expect(email!.html).toContain(`href="${s}"`);
      expect(email!.text).toContain(s);
    }
    expect(email!.html).toMatch(/PEFT[\s\S]*Reasoning/);
    expect(email!.html).toContain('matched: LoRA, adapter');
    expect(email!.html).toContain('https://digest.example.org/unsubscribe/u.ada.');
    expect(email!.html).toContain('https://digest.example.org/u/m.ada.');
    expect(email!.text).toMatch(/Unsubscribe: +https:\/\/digest\.example\.org\/unsubscribe\/u\.ada\./);
    expect(email!.text).toContain('== PEFT (1) ==');
    // The preheader is hidden by size, not by white-on-white text (SpamAssassin scores that).
    const preheaderStyle = /<div style="(display:none[^"]*)">[^<]*LoRA adapters for everyone/.exec(email!.html)?.[1];
    expect(preheaderStyle).toBeDefined();
    expect(preheaderStyle).not.toMatch(/(^|;)\s*color/);
  });

  it('stays under the byte budget on a big day by listing lower-ranked papers compactly, dropping none', () => {
    const papers = Array.from({ length: 90 }, (_, i) =>
      paper({ title: `LoRA adapter study number ${i}`, abstract: 'LoRA adapters. '.repeat(60), upvotes: i }),
    );
    const digest = compose(papers, 40_000, { max_papers: 90 });
    expect(digest.email!.htmlBytes).toBeLessThanOrEqual(40_000);
    expect(digest.email!.fullShown).toBeLessThan(90);
    const entries = digest.selection.sections.flatMap((s) => s.entries);
    expect(entries).toHaveLength(90);
    for (const p of papers) expect(digest.email!.html).toContain(p.links.hf);
    // the best-ranked papers are the ones shown in full
    const full = entries.filter((e) => e.full).map((e) => e.paper.upvotes);
    const compact = entries.filter((e) => !e.full).map((e) => e.paper.upvotes);
    expect(Math.min(...full)).toBeGreaterThan(Math.max(...compact));
  });

  it('sends nothing when nothing matches', () => {
    const digest = compose([paper({ title: 'Protein folding', abstract: 'Biology.' })]);
    expect(digest.email).toBeUndefined();
    expect(digest.selection.emptyReason).toBe('no new paper matches the followed topics');
  });

  it('trims long abstracts at a word boundary and prefers the AI summary', () => {
    const long = paper({ title: 't', abstract: 'word '.repeat(200) });
    expect(excerpt(long).length).toBeLessThanOrEqual(321);
    expect(excerpt(long).endsWith('…')).toBe(true);
    expect(excerpt({ ...long, aiSummary: 'Short summary.' })).toBe('Short summary.');
    // A cut that lands inside an emoji (no space to break at) keeps the emoji whole or leaves it out.
    const emoji = excerpt({ ...long, aiSummary: `a${'🚀'.repeat(200)}` }); // unit 320 is the first half of a rocket
    expect(emoji).toBe(`a${'🚀'.repeat(159)}…`);
  });
});

describe('compiling the MJML layout', () => {
  it('keeps every Handlebars block of the bundled layout', async () => {
    await expect(
      compileMjml(
        '<mjml><mj-body><mj-section><mj-column><mj-text>{{#each a}}{{b}}{{/each}}</mj-text></mj-column></mj-section></mj-body></mjml>',
        't.mjml',
      ),
    ).resolves.toMatch(/\{\{#each a\}\}\{\{b\}\}\{\{\/each\}\}/);
  });

  it('refuses a layout where MJML dropped a block placed between tags', async () => {
    await expect(
      compileMjml(
        '<mjml><mj-body>{{#each sections}}<mj-section><mj-column><mj-text>x</mj-text></mj-column></mj-section>{{/each}}</mj-body></mjml>',
        'bad.mjml',
      ),
    ).rejects.toThrow(/bad\.mjml: MJML dropped Handlebars expressions.*\{\{#eachsections\}\}/);
  });

  it('does not process mj-include', async () => {
    const html = await compileMjml('<mjml><mj-body><mj-include path="/etc/passwd" /></mj-body></mjml>', 'inc.mjml').catch(
      (e: Error) => e.message,
    );
    expect(html).not.toMatch(/root:/);
  });
});
