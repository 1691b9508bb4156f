import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GMAIL_CLIP_BYTES } from '../../src/render.js';
import { sizeReport } from '../../src/server/preview.js';
import { SAMPLE } from '../helpers/cli.js';
import { login, squash, startTestServer, type AdminClient, type TestServer } from './helpers.js';

const LISTING = 'samples/hf-daily-papers-2024-10-25.json';

describe('preview for an admin', () => {
  let t: TestServer;
  let admin: AdminClient;
  let listings: string;
  beforeAll(async () => {
    listings = await mkdtemp(path.join(tmpdir(), 'paperboy-listings-'));
    t = await startTestServer({ env: { MAX_EMAIL_BYTES: '100000', LISTINGS_DIR: listings } });
    admin = await login(t);
  });
  afterAll(async () => {
    await t?.close();
    await rm(listings, { recursive: true, force: true });
  });

  it('shows the email as sent: subject, headers, plain text, size, frame', async () => {
    const res = await admin.get(`/preview?subscriber=ada&listing=${encodeURIComponent(LISTING)}&date=2024-10-25`);
    expect(res.status).toBe(200);
    const html = squash(await res.text());
    expect(html).toMatch(/<strong id="subject">Fri, 25 Oct 2024: \d+ new papers? on [^<]+<\/strong>/);
    expect(html).toMatch(/<th scope="row">List-Unsubscribe<\/th><td>&lt;http:\/\/paperboy\.test\/unsubscribe\/u\.ada\./);
    expect(html).toContain('<th scope="row">List-Unsubscribe-Post</th><td>List-Unsubscribe=One-Click</td>');
    expect(html).toContain('<th scope="row">Message-ID</th>');
    expect(html).toMatch(/<pre id="text-part">[\s\S]*Unsubscribe/);
    expect(html).toMatch(/<p id="size" class="small" data-level="ok">HTML [\d.]+ KB of Gmail&#39;s 102\.0 KB clipping limit/);
    expect(html).toMatch(
      /<iframe class="email desktop"[^>]*src="\/preview\/email\?subscriber=ada&amp;listing=samples%2Fhf-daily-papers-2024-10-25\.json&amp;date=2024-10-25&amp;width=desktop"/,
    );
    expect(html).toMatch(/sandbox="allow-popups allow-popups-to-escape-sandbox"/);
  });

  it('switches the frame to 375 px', async () => {
    const html = squash(await (await admin.get(`/preview?subscriber=ada&listing=${encodeURIComponent(LISTING)}&width=mobile`)).text());
    expect(html).toMatch(/<iframe class="email mobile"/);
    expect(html).toMatch(/<a href="[^"]*width=desktop" aria-current="false">Desktop<\/a>/);
    expect(html).toMatch(/<a href="[^"]*width=mobile" aria-current="true">Mobile 375 px<\/a>/);
  });

  it('serves the HTML part for the frame in a sandbox, and the whole message as .eml', async () => {
    const q = `subscriber=ada&listing=${encodeURIComponent(LISTING)}&date=2024-10-25`;
    const frame = await admin.get(`/preview/email?${q}`);
    expect(frame.status).toBe(200);
    expect(frame.headers.get('content-security-policy')).toMatch(/sandbox/);
    expect(frame.headers.get('content-security-policy')).not.toMatch(/script-src/);
    const body = await frame.text();
    expect(body).toContain('/unsubscribe/u.ada.');
    const eml = await admin.get(`/preview/message.eml?${q}`);
    expect(eml.headers.get('content-type')).toBe('message/rfc822');
    expect(eml.headers.get('content-disposition')).toContain('paperboy-2024-10-25-ada.eml');
    const text = (await eml.text()).replace(/\r\n[ \t]+/g, ' ');
    expect(text).toMatch(/^List-Unsubscribe: <http:\/\/paperboy\.test\/unsubscribe\/u\.ada\./m);
    expect(text).toContain('Content-Type: multipart/alternative');
  });

  it('previews a set of topics', async () => {
    const html = squash(await (await admin.get(`/preview?topics=reasoning&topics=code&listing=${encodeURIComponent(LISTING)}`)).text());
    expect(html).toMatch(/<strong id="subject">[^<]*(Reasoning|Code)/);
    expect(html).toContain('preview@example.org');
  });

  it("warns near Gmail's clipping limit", async () => {
    // A big day (the sample's papers repeated under new ids) for someone who follows everything: with
    // MAX_EMAIL_BYTES = 100,000 the HTML lands just under it, within 10 % of Gmail's clip.
    const items = JSON.parse(await readFile(SAMPLE, 'utf8')) as Array<{ paper: { id: string }; title?: string }>;
    const big = Array.from({ length: 400 }, (_, i) => {
      const item = structuredClone(items[i % items.length]!);
      item.paper.id = `2410.${String(20000 + i)}`;
      return item;
    });
    await writeFile(path.join(listings, 'big-2024-10-25.json'), JSON.stringify(big));
    const topics = (await readFile(path.join(t.subscribers, 'topics.yaml'), 'utf8'))
      .match(/^ {2}- id: (\S+)$/gm)!
      .map((l) => l.split(': ')[1]!);
    await writeFile(
      path.join(t.subscribers, 'bulk.yaml'),
      `email: bulk@example.org\ntopics: [${topics.join(', ')}]\ntop_of_day: 20\nmax_papers: 200\n`,
    );
    const html = squash(await (await admin.get('/preview?subscriber=bulk&listing=listings%2Fbig-2024-10-25.json')).text());
    expect(html).toMatch(/<p id="size" class="" data-level="warn"><strong>Close to Gmail&#39;s clipping limit/);
    expect(html).toMatch(/lower-ranked papers are shown as title lines/);
  });

  it('size levels: ok, near, over', () => {
    expect(sizeReport(50_000, 60_000, 85_000).level).toBe('ok');
    expect(sizeReport(Math.ceil(GMAIL_CLIP_BYTES * 0.9), 99_000, 85_000).level).toBe('warn');
    expect(sizeReport(GMAIL_CLIP_BYTES + 1, 120_000, 85_000).text).toContain('Gmail will clip this message');
  });

  it('reads only listings from the allowed folders', async () => {
    for (const listing of [
      '../package.json',
      '/etc/passwd',
      'samples/../../package.json',
      'samples/../README.md',
      'listings/x.json',
      'samples',
    ]) {
      const res = await admin.get(`/preview?topics=peft&listing=${encodeURIComponent(listing)}`);
      expect(res.status, listing).toBe(422);
      const html = squash(await res.text());
      expect(html).toContain('Choose a listing from the list.');
      expect(html).not.toContain('root:');
    }
  });

  it('explains an unknown subscriber, a bad date and an empty day instead of failing', async () => {
    const unknown = await admin.get(`/preview?subscriber=nobody&listing=${encodeURIComponent(LISTING)}`);
    expect(unknown.status).toBe(422);
    expect(await unknown.text()).toContain('No subscriber &quot;nobody&quot;.');
    const topic = await admin.get(`/preview?topics=peft&topics=nope&listing=${encodeURIComponent(LISTING)}`);
    expect(topic.status).toBe(422);
    expect(await topic.text()).toContain('No topic &quot;nope&quot; in the catalog');
    const date = await admin.get(`/preview?subscriber=ada&listing=${encodeURIComponent(LISTING)}&date=2024-13-45`);
    expect(date.status).toBe(422);
    expect(await date.text()).toContain('is not a date');
    await writeFile(path.join(t.subscribers, 'niche.yaml'), 'email: niche@example.org\nkeywords: [zzzxqv]\n');
    const empty = squash(await (await admin.get(`/preview?subscriber=niche&listing=${encodeURIComponent(LISTING)}`)).text());
    expect(empty).toContain('Nothing to send to niche');
  });
});

describe('preview listings folder and anonymous preview', () => {
  let t: TestServer;
  let listings: string;
  beforeAll(async () => {
    listings = await mkdtemp(path.join(tmpdir(), 'paperboy-listings-'));
    await cp(SAMPLE, path.join(listings, 'saved-2024-10-25.json'));
    await writeFile(path.join(listings, 'notes.txt'), 'not a listing');
    t = await startTestServer({ env: { ADMIN_TOKEN: '', LISTINGS_DIR: listings } });
  });
  afterAll(async () => {
    await t?.close();
    await rm(listings, { recursive: true, force: true });
  });

  it('without ADMIN_TOKEN: topic sets only, no subscriber data, no live API', async () => {
    const res = await fetch(`${t.base}/preview?subscriber=ada&topics=reasoning&topics=code`);
    expect(res.status).toBe(200);
    const html = squash(await res.text());
    expect(html).toContain('Only topic sets can be previewed here.');
    // There is no login to offer: say what turns it on instead.
    expect(html).not.toContain('/admin/login');
    expect(html).toMatch(/Set ?<code>ADMIN_TOKEN<\/code> ?on this server to log in and preview a subscriber's email\./);
    expect(html).not.toContain('ada@example.org');
    expect(html).not.toContain('u.ada.');
    expect(html).not.toContain('value="hf"');
    expect(html).toContain('preview@example.org');
  });

  it('offers the JSON files of LISTINGS_DIR', async () => {
    const html = squash(
      await (await fetch(`${t.base}/preview?topics=reasoning&topics=code&listing=listings%2Fsaved-2024-10-25.json`)).text(),
    );
    expect(html).toContain('<option value="listings/saved-2024-10-25.json" selected>');
    expect(html).not.toContain('notes.txt');
    expect(html).toMatch(/<strong id="subject">Fri, 25 Oct 2024/);
  });
});
