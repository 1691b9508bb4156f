import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { rawRequest, startTestServer, versionOf, type TestServer } from './helpers.js';

let t: TestServer;
const file = (id: string) => path.join(t.subscribers, `${id}.yaml`);
const read = (id: string) => readFile(file(id), 'utf8');
const status = async (id: string) => (YAML.parse(await read(id)) as { status?: string }).status ?? 'active';

beforeAll(async () => {
  t = await startTestServer({ env: { RATE_LIMIT_PER_MINUTE: '10000' } });
});
afterAll(async () => {
  await t?.close();
});

/** A mail provider's RFC 8058 one-click unsubscribe: POST `List-Unsubscribe=One-Click` to the link. */
const oneClick = (id: string, address: string) =>
  fetch(t.local(t.links.unsubscribeUrl(id, address)), {
    method: 'POST',
    body: new URLSearchParams({ 'List-Unsubscribe': 'One-Click' }),
  });

/** The page without the token it echoes, to compare answers for different tokens. */
const withoutToken = (html: string, token: string) => html.split(token).join('TOKEN');

describe('unsubscribe link', () => {
  it('GET shows a confirmation button and changes nothing', { timeout: 15_000 }, async () => {
    const before = await read('ada');
    const url = t.local(t.links.unsubscribeUrl('ada', 'ada@example.org'));
    const res = await fetch(url);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('Unsubscribe from the Paperboy digest?');
    expect(html).toMatch(/<form method="post" action="\/unsubscribe\/u\.ada\.[^"]+"/);
    expect(await read('ada')).toBe(before);
    expect(res.headers.get('set-cookie')).toBeNull();
  });

  it('GET looks the same for a forged token as for a valid one', async () => {
    const valid = t.links.unsubscribeToken('ada', 'ada@example.org');
    const forged = `u.ada.${'A'.repeat(32)}`;
    const a = await fetch(`${t.base}/unsubscribe/${valid}`);
    const b = await fetch(`${t.base}/unsubscribe/${forged}`);
    expect(b.status).toBe(a.status);
    expect(withoutToken(await b.text(), forged)).toBe(withoutToken(await a.text(), valid));
  });

  it('one-click POST, urlencoded: 200, no redirect, no cookie, unsubscribed on disk, comments kept', async () => {
    const url = t.local(t.links.unsubscribeUrl('ada', 'ada@example.org'));
    const res = await fetch(url, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'List-Unsubscribe=One-Click',
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('location')).toBeNull();
    expect(res.headers.get('set-cookie')).toBeNull();
    expect(await res.text()).toContain('You are unsubscribed');
    const text = await read('ada');
    expect(text).toMatch(/^status: unsubscribed$/m);
    expect(text).toContain('# Ada follows efficient fine-tuning work.');
    expect(text).toContain('topics: [peft, model-merging, efficient-inference]');
  });

  it('one-click POST again is still a 200 (idempotent)', async () => {
    const url = t.local(t.links.unsubscribeUrl('ada', 'ada@example.org'));
    const res = await fetch(url, { method: 'POST', body: new URLSearchParams({ 'List-Unsubscribe': 'One-Click' }) });
    expect(res.status).toBe(200);
    expect(await status('ada')).toBe('unsubscribed');
  });

  it('one-click POST, multipart/form-data: unsubscribed on disk', async () => {
    const form = new FormData();
    form.set('List-Unsubscribe', 'One-Click');
    const res = await fetch(t.local(t.links.unsubscribeUrl('alan', 'alan@example.org')), {
      method: 'POST',
      redirect: 'manual',
      body: form,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(await status('alan')).toBe('unsubscribed');
  });

  it('a forged, truncated, wrong-purpose or unknown token changes nothing and gets one generic answer', async () => {
    const before = await read('grace');
    const valid = t.links.unsubscribeToken('grace', 'grace@example.org');
    const manage = new URL(t.links.manageUrl('grace', 'grace@example.org')).pathname.split('/').pop()!;
    const tokens = [
      `u.grace.${'A'.repeat(32)}`, // right shape, wrong MAC
      valid.slice(0, -1), // truncated
      valid.slice(0, -1) + (valid.endsWith('A') ? 'B' : 'A'), // one character off
      manage, // a manage token is not an unsubscribe token
      t.links.unsubscribeToken('grace', 'someone-else@example.org'), // signed for another address
      t.links.unsubscribeToken('nobody', 'nobody@example.org'), // a well-signed token for an id that does not exist
      `u.nobody.${'A'.repeat(32)}`,
      'garbage',
      'x'.repeat(5000),
    ];
    const bodies = new Set<string>();
    for (const token of tokens) {
      const res = await fetch(`${t.base}/unsubscribe/${token}`, {
        method: 'POST',
        body: new URLSearchParams({ 'List-Unsubscribe': 'One-Click' }),
      });
      expect(res.status, token.slice(0, 40)).toBe(404);
      bodies.add(await res.text());
    }
    expect(bodies.size).toBe(1);
    expect([...bodies][0]).toContain('This link is not valid');
    expect(await read('grace')).toBe(before);
  });

  it('odd paths never produce a 500', async () => {
    for (const p of [
      '/unsubscribe/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
      '/unsubscribe/..%2F..%2Fetc%2Fpasswd',
      '/unsubscribe/%00',
      '/u/%E0%A4%A',
      '/u/u.ada.%ff',
    ]) {
      for (const method of ['GET', 'POST']) {
        const res = await rawRequest(t.server.port, {
          method,
          path: p,
          headers: { host: new URL(t.base).host, 'content-type': 'application/x-www-form-urlencoded' },
          body: 'List-Unsubscribe=One-Click',
        });
        expect(res.status, `${method} ${p}`).toBeLessThan(500);
      }
    }
  });

  it('never lets the URL choose where the confirmation form posts', async () => {
    const res = await rawRequest(t.server.port, {
      method: 'GET',
      path: '/unsubscribe/..%2F..%2Fadmin%2Flogout',
      headers: { host: new URL(t.base).host },
    });
    expect(res.status).toBeLessThan(500);
    const actions = [...res.body.matchAll(/action="([^"]*)"/g)].map((m) => m[1]);
    for (const a of actions) expect(a).not.toMatch(/\.\.\//);
  });

  it('unsubscribes even when the file has an unrelated problem, keeping its other lines', async () => {
    await writeFile(
      file('grace'),
      (await read('grace')).replace('topics: [agents-tools, code, reasoning]', 'topics: [agents-tools, no-such-topic]'),
    );
    const res = await oneClick('grace', 'grace@example.org');
    expect(res.status).toBe(200);
    const text = await read('grace');
    expect(text).toMatch(/^status: unsubscribed$/m);
    expect(text).toContain('no-such-topic');
    // Put it back for the tests below.
    await writeFile(
      file('grace'),
      text
        .replace('topics: [agents-tools, no-such-topic]', 'topics: [agents-tools, code, reasoning]')
        .replace('status: unsubscribed', 'status: active'),
    );
  });
});

describe('unsubscribe link, when the file is not even YAML', () => {
  // An admin's typo: a second max_papers line is a duplicate key, and the YAML no longer parses.
  const broken = (text: string) => `${text.trimEnd()}\nmax_papers: 10\n`;

  it('one-click POST still unsubscribes, editing only the status line', async () => {
    const before = await read('grace');
    await writeFile(file('grace'), broken(before));
    try {
      const res = await oneClick('grace', 'grace@example.org');
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('You are unsubscribed');
      const text = await read('grace');
      expect(text).toBe(broken(before).replace(/^status: active$/m, 'status: unsubscribed'));
      // Once the admin removes the duplicate line, the file says what the subscriber asked for.
      expect((YAML.parse(text.replace(/\nmax_papers: 10\n$/, '\n')) as { status: string }).status).toBe('unsubscribed');
    } finally {
      await writeFile(file('grace'), before);
    }
  });

  it('refuses when the text is ambiguous: an address being changed (two email lines) keeps neither link working', async () => {
    const before = await read('grace');
    const moving = before.replace('email: grace@example.org', 'email: grace@example.org\nemail: grace@new.example.org');
    await writeFile(file('grace'), moving);
    try {
      for (const address of ['grace@example.org', 'grace@new.example.org']) {
        const res = await oneClick('grace', address);
        expect(res.status).toBe(404);
      }
      expect(await read('grace')).toBe(moving);
    } finally {
      await writeFile(file('grace'), before);
    }
  });

  it('a file with no status line gets one; a token for another address is still refused', async () => {
    const before = await read('alan');
    const noStatus = broken(before.replace(/^status: .*\n/m, ''));
    await writeFile(file('alan'), noStatus);
    try {
      const forged = await oneClick('alan', 'someone-else@example.org');
      expect(forged.status).toBe(404);
      expect(await read('alan')).toBe(noStatus);
      const manage = await fetch(t.local(t.links.manageUrl('alan', 'alan@example.org')));
      expect(manage.status).toBe(200);
      expect(await manage.text()).toContain('You can still unsubscribe');
      const res = await oneClick('alan', 'alan@example.org');
      expect(res.status).toBe(200);
      expect(await read('alan')).toBe(`${noStatus}status: unsubscribed\n`);
    } finally {
      await writeFile(file('alan'), before);
    }
  });
});

describe('manage page', () => {
  const manageUrl = () => t.local(t.links.manageUrl('grace', 'grace@example.org'));
  const post = (fields: Record<string, string | string[]>, url = manageUrl()) => {
    const body = new URLSearchParams();
    for (const [k, v] of Object.entries(fields)) for (const x of Array.isArray(v) ? v : [v]) body.append(k, x);
    return fetch(url, { method: 'POST', redirect: 'manual', body });
  };

  it('GET shows the topics as checkboxes and changes nothing', async () => {
    const before = await read('grace');
    const res = await fetch(manageUrl());
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('gr•••@example.org');
    expect(html).not.toContain('grace@example.org');
    expect(html).toMatch(/value="code" checked/);
    expect(html).toMatch(/value="peft"\s*\/>/);
    expect(await read('grace')).toBe(before);
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
  });

  it('saves a new choice of topics, keeping the comments', async () => {
    const version = versionOf(await (await fetch(manageUrl())).text());
    const res = await post({ action: 'topics', version, topics: ['peft', 'reasoning'] });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toMatch(/\?done=saved$/);
    const text = await read('grace');
    expect(text).toContain('topics: [reasoning, peft]'); // her order kept, the new one last
    expect(text).toContain('# Grace reads about agents');
    expect(await (await fetch(t.base + res.headers.get('location')!)).text()).toContain('Your topics are saved.');
  });

  it('refuses an empty choice (she follows no keywords) with a message, changing nothing', async () => {
    await writeFile(file('grace'), (await read('grace')).replace('top_of_day: 3', 'top_of_day: 0'));
    const before = await read('grace');
    const version = versionOf(await (await fetch(manageUrl())).text());
    const res = await post({ action: 'topics', version });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('Choose at least one topic');
    expect(await read('grace')).toBe(before);
  });

  it('names a topic that no longer exists (a page opened before it was removed) rather than dropping it unseen', async () => {
    const before = await read('grace');
    const version = versionOf(await (await fetch(manageUrl())).text());
    const res = await post({ action: 'topics', version, topics: ['peft', 'gone-topic'] });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('No topic &quot;gone-topic&quot; any more');
    expect(await read('grace')).toBe(before);
  });

  it('pauses and resumes', async () => {
    let version = versionOf(await (await fetch(manageUrl())).text());
    expect((await post({ action: 'pause', version })).status).toBe(303);
    expect(await status('grace')).toBe('paused');
    version = versionOf(await (await fetch(manageUrl())).text());
    expect((await post({ action: 'resume', version })).status).toBe(303);
    expect(await status('grace')).toBe('active');
  });

  it('refuses a stale form: the file changed since the page was opened', async () => {
    const version = versionOf(await (await fetch(manageUrl())).text());
    await writeFile(file('grace'), (await read('grace')) + 'min_upvotes: 2\n');
    const before = await read('grace');
    const res = await post({ action: 'pause', version });
    expect(res.status).toBe(409);
    expect(await res.text()).toContain('changed since this page was opened');
    expect(await read('grace')).toBe(before);
  });

  it('does not let an address that bounces subscribe again after unsubscribing (it was suppressed as bouncing)', async () => {
    // The ledger: her last three digests were refused by her mail server (BOUNCE_DAYS = 3 by default).
    const days = ['2024-10-23', '2024-10-24', '2024-10-25'];
    const line = (date: string) =>
      JSON.stringify({
        v: 1,
        at: `${date}T07:00:00.000Z`,
        date,
        subscriber: 'grace',
        state: 'failed-permanent',
        reason: '550 no such user',
      });
    await writeFile(path.join(t.dir, 'data/ledger.jsonl'), days.map(line).join('\n') + '\n');
    await writeFile(file('grace'), (await read('grace')).replace('status: active', 'status: bouncing'));
    let version = versionOf(await (await fetch(manageUrl())).text());
    expect((await post({ action: 'resume', version })).status).toBe(409);
    version = versionOf(await (await fetch(manageUrl())).text());
    expect((await post({ action: 'unsubscribe', version })).status).toBe(303);
    expect(await status('grace')).toBe('unsubscribed');
    version = versionOf(await (await fetch(manageUrl())).text());
    const again = await post({ action: 'resume', version });
    expect(again.status).toBe(409);
    expect(await again.text()).toContain('Mail to this address bounced');
    expect(await status('grace')).toBe('unsubscribed');
    // Nor by way of a pause (a form the page does not offer when unsubscribed, posted by hand).
    version = versionOf(await (await fetch(manageUrl())).text());
    expect((await post({ action: 'pause', version })).status).toBe(409);
    expect(await status('grace')).toBe('unsubscribed');
    // A later digest that went through ends it: she may subscribe again.
    await writeFile(
      path.join(t.dir, 'data/ledger.jsonl'),
      [...days.map(line), JSON.stringify({ v: 1, at: 'x', date: '2024-10-28', subscriber: 'grace', state: 'sent' })].join('\n') + '\n',
    );
    version = versionOf(await (await fetch(manageUrl())).text());
    expect((await post({ action: 'resume', version })).status).toBe(303);
    expect(await status('grace')).toBe('active');
  });

  it('unsubscribes from the manage page', async () => {
    const version = versionOf(await (await fetch(manageUrl())).text());
    const res = await post({ action: 'unsubscribe', version });
    expect(res.status).toBe(303);
    expect(await status('grace')).toBe('unsubscribed');
  });

  it('a forged or unknown manage token gets the generic page and changes nothing', async () => {
    const before = await read('grace');
    const a = await fetch(`${t.base}/u/m.grace.${'B'.repeat(32)}`);
    const b = await fetch(`${t.base}/u/m.nobody.${'B'.repeat(32)}`);
    const c = await post({ action: 'pause', version: 'x' }, `${t.base}/u/m.grace.${'B'.repeat(32)}`);
    expect([a.status, b.status, c.status]).toEqual([404, 404, 404]);
    const [ta, tb, tc] = await Promise.all([a.text(), b.text(), c.text()]);
    expect(ta).toBe(tb);
    expect(tc).toBe(ta);
    expect(await read('grace')).toBe(before);
  });

  it('an unsubscribe token does not open the manage page', async () => {
    const token = t.links.unsubscribeToken('grace', 'grace@example.org');
    expect((await fetch(`${t.base}/u/${token}`)).status).toBe(404);
  });
});

describe('when topics.yaml is broken', () => {
  it('one-click unsubscribe still works', async () => {
    const catalog = path.join(t.subscribers, 'topics.yaml');
    const good = await readFile(catalog, 'utf8');
    await writeFile(file('edsger'), 'email: edsger@example.org\ntopics: [code]\n');
    await writeFile(catalog, 'topics: [unclosed\n');
    try {
      const manage = await fetch(t.local(t.links.manageUrl('edsger', 'edsger@example.org')));
      expect(manage.status).toBe(200);
      expect(await manage.text()).toContain('>Unsubscribe</button>');
      const res = await oneClick('edsger', 'edsger@example.org');
      expect(res.status).toBe(200);
      expect(await read('edsger')).toBe('email: edsger@example.org\ntopics: [code]\nstatus: unsubscribed\n');
    } finally {
      await writeFile(catalog, good);
    }
  });
});
