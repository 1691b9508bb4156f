/**
 * The web app in headless Chromium (Debian's, driven by playwright-core; no
 * browser is downloaded). The browser resolves the PUBLIC_URL host to the
 * test server, so it follows the links exactly as they appear in an email.
 * Screenshots go to test-results/ (git-ignored) as artefacts.
 */
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { loadCatalog } from '../../src/catalog.js';
import { getRenderer } from '../../src/context.js';
import { composeDigest } from '../../src/digest.js';
import { Matcher } from '../../src/matcher.js';
import { buildMessage } from '../../src/message.js';
import { fileListing } from '../../src/selection.js';
import { fileSource } from '../../src/sources/file.js';
import { SubscriberStore } from '../../src/subscribers.js';
import { ROOT, SAMPLE } from '../helpers/cli.js';
import { ADMIN_TOKEN, PUBLIC_URL, startTestServer, type TestServer } from '../server/helpers.js';

const ARTEFACTS = path.join(ROOT, 'test-results');
const CHROMIUM = '/usr/bin/chromium';

let t: TestServer;
let browser: Browser;
const contexts: BrowserContext[] = [];

async function newContext(width: number, height = 900): Promise<BrowserContext> {
  const ctx = await browser.newContext({ viewport: { width, height } });
  ctx.setDefaultTimeout(15_000);
  contexts.push(ctx);
  return ctx;
}

/** A page of a fresh browser context, logged in as admin (one page per context: opening and closing several can stall). */
async function loggedIn(width: number): Promise<Page> {
  const ctx = await newContext(width);
  const page = await ctx.newPage();
  await page.goto(`${PUBLIC_URL}/admin`);
  await page.fill('#token', ADMIN_TOKEN);
  await Promise.all([page.waitForURL(`${PUBLIC_URL}/admin`), page.click('#login')]);
  return page;
}

const subscriberFile = (id: string) => readFile(path.join(t.subscribers, `${id}.yaml`), 'utf8');

beforeAll(async () => {
  await mkdir(ARTEFACTS, { recursive: true });
  t = await startTestServer({ env: { RATE_LIMIT_PER_MINUTE: '1000' } });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    timeout: 30_000,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // paperboy.test (the PUBLIC_URL host) is the test server: links are followed as they are written.
      `--host-resolver-rules=MAP ${new URL(PUBLIC_URL).hostname}:80 127.0.0.1:${t.server.port}`,
    ],
  });
}, 60_000);

afterAll(async () => {
  for (const c of contexts) await c.close().catch(() => {});
  await browser?.close();
  await t?.close();
}, 30_000);

describe('in a browser', () => {
  it('an admin logs in, ticks a topic and saves: the YAML file has it', { timeout: 60_000 }, async () => {
    expect(YAML.parse(await subscriberFile('grace')).topics).not.toContain('peft');
    const page = await loggedIn(1200);
    await page.click('tr[data-id="grace"] a:has-text("Edit")');
    await page.waitForURL(`${PUBLIC_URL}/admin/subscribers/grace`);
    const box = page.locator('input[name="topics"][value="peft"]');
    expect(await box.isChecked()).toBe(false);
    await box.check();
    await Promise.all([page.waitForURL(`${PUBLIC_URL}/admin?done=saved`), page.click('button:has-text("Save")')]);
    await expectText(page.locator('.notice.ok'), 'Subscriber saved.');
    const text = await subscriberFile('grace');
    expect(YAML.parse(text).topics).toEqual(['agents-tools', 'code', 'reasoning', 'peft']); // her order kept, the new one last
    expect(text).toContain('# Grace reads about agents');
    await page.screenshot({ path: path.join(ARTEFACTS, 'admin-subscribers-1200.png'), fullPage: true });
  });

  it(
    'a subscriber follows the unsubscribe link of a real message and confirms: the file says unsubscribed',
    { timeout: 60_000 },
    async () => {
      // Render ada's digest the way `paperboy run` does and take the link from the message.
      const catalog = await loadCatalog(t.subscribers);
      const ada = await new SubscriberStore(t.subscribers, catalog).get('ada');
      const listing = await fileSource(SAMPLE).fetch('2024-10-25');
      const digest = composeDigest(ada, fileListing(listing.papers, Matcher.fromCatalog(catalog)), '2024-10-25', {
        catalog,
        links: t.links,
        renderer: await getRenderer(),
        maxEmailBytes: t.config.MAX_EMAIL_BYTES,
      });
      const message = buildMessage(digest.email!, ada, '2024-10-25', digest.paperIds, { from: t.config.MAIL_FROM, links: t.links });
      const header = String((message.headers as Record<string, string>)['List-Unsubscribe']);
      const link = /<(http[^>]+)>/.exec(header)![1]!;
      expect(link.startsWith(`${PUBLIC_URL}/unsubscribe/`)).toBe(true);
      expect(digest.email!.html).toContain(`href="${link}"`); // the footer link is the same

      const before = await subscriberFile('ada');
      const ctx = await newContext(375, 740);
      const page = await ctx.newPage();
      await page.goto(link);
      await expectText(page.locator('h1'), 'Unsubscribe from the Paperboy digest?');
      expect(await subscriberFile('ada')).toBe(before); // opening the link changes nothing
      await page.screenshot({ path: path.join(ARTEFACTS, 'unsubscribe-confirm-375.png') });
      await page.click('#confirm');
      await expectText(page.locator('#done'), 'You are unsubscribed');
      expect(page.url()).toBe(link); // answered in place: no redirect
      expect(await subscriberFile('ada')).toMatch(/^status: unsubscribed$/m);
      await page.screenshot({ path: path.join(ARTEFACTS, 'unsubscribe-done-375.png') });
    },
  );

  for (const width of [375, 1200]) {
    it(`the preview renders a digest at ${width} px without horizontal scrolling`, { timeout: 60_000 }, async () => {
      const page = await loggedIn(width);
      const mode = width < 600 ? 'mobile' : 'desktop';
      await page.goto(`${PUBLIC_URL}/preview?subscriber=alan&width=${mode}`);
      await expectText(page.locator('#subject'), '2024');
      const frame = page.frameLocator('iframe.email');
      await expectText(frame.locator('body'), 'Paperboy');
      const frameEl = await page.$('iframe.email');
      const inner = (await frameEl!.contentFrame())!;
      await inner.waitForLoadState('load');
      // (Expressions as strings: this file is type-checked without the DOM library.)
      const widths = '[document.scrollingElement.scrollWidth, window.innerWidth]';
      const [scrollWidth, innerWidth] = await page.evaluate<[number, number]>(widths);
      expect(scrollWidth).toBeLessThanOrEqual(innerWidth);
      // The email itself does not scroll sideways in its frame either.
      const [emailScroll, emailWidth] = await inner.evaluate<[number, number]>(widths);
      expect(emailScroll).toBeLessThanOrEqual(emailWidth);
      if (mode === 'mobile') expect(emailWidth).toBeLessThanOrEqual(375);
      await frameEl!.scrollIntoViewIfNeeded();
      await page.waitForTimeout(200); // let the frame paint before the screenshot
      await page.screenshot({ path: path.join(ARTEFACTS, `preview-${width}.png`), fullPage: true });
      await frameEl!.screenshot({ path: path.join(ARTEFACTS, `preview-email-${width}.png`) });
    });
  }
});

/** Wait (bounded by the context timeout) until the locator's text contains `text`. */
async function expectText(
  locator: { first(): { waitFor(o: { state: 'visible' }): Promise<void>; textContent(): Promise<string | null> } },
  text: string,
) {
  const el = locator.first();
  await el.waitFor({ state: 'visible' });
  expect(await el.textContent()).toContain(text);
}
