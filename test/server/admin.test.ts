import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { ADMIN_TOKEN, csrfOf, login, rawRequest, startTestServer, versionOf, type AdminClient, type TestServer } from './helpers.js';
import { ROOT } from '../helpers/cli.js';

let t: TestServer;
let admin: AdminClient;
const file = (id: string) => path.join(t.subscribers, `${id}.yaml`);
const read = (id: string) => readFile(file(id), 'utf8');
const catalogText = () => readFile(path.join(t.subscribers, 'topics.yaml'), 'utf8');

beforeAll(async () => {
  t = await startTestServer({ env: { RATE_LIMIT_PER_MINUTE: '10000' } });
  // A ledger with one delivery, for "last delivery".
  await writeFile(
    path.join(t.config.dataDir, 'ledger.jsonl'),
    JSON.stringify({ v: 1, at: '2024-10-25T07:00:00Z', date: '2024-10-25', subscriber: 'alan', state: 'sent', papers: [] }) + '\n',
  );
  admin = await login(t);
});
afterAll(async () => {
  await t?.close();
});

describe('login and guards', () => {
  it('without the cookie: GET answers 401 with the login form and no subscriber data', async () => {
    for (const p of [
      '/admin',
      '/admin/subscribers/ada',
      '/admin/topics',
      '/admin/topics/peft',
      '/admin/topics/peft/rename',
      '/admin/subscribers/new',
      '/preview?subscriber=ada',
    ]) {
      const res = await fetch(t.base + p, { redirect: 'manual' });
      expect(res.status, p).toBe(401);
      const html = await res.text();
      expect(html).toContain('Admin login');
      expect(html).not.toContain('ada@example.org');
    }
  });

  it('without the cookie: POST is refused and nothing changes', async () => {
    const before = await read('ada');
    const res = await fetch(`${t.base}/admin/subscribers/ada/status`, {
      method: 'POST',
      redirect: 'manual',
      body: new URLSearchParams({ status: 'paused', version: 'x', csrf: admin.csrf }),
    });
    expect(res.status).toBe(403);
    expect(await read('ada')).toBe(before);
    // Renaming a topic, which rewrites subscriber files, is guarded the same way: no session, or a
    // session without its CSRF token, renames nothing.
    const catalog = await readFile(path.join(t.subscribers, 'topics.yaml'), 'utf8');
    const rename = { id: 'adapters', version: 'x' };
    const anonymous = await fetch(`${t.base}/admin/topics/peft/rename`, {
      method: 'POST',
      redirect: 'manual',
      body: new URLSearchParams({ ...rename, csrf: admin.csrf }),
    });
    const forged = await admin.post('/admin/topics/peft/rename', rename, { csrf: null });
    expect([anonymous.status, forged.status]).toEqual([403, 403]);
    expect(await readFile(path.join(t.subscribers, 'topics.yaml'), 'utf8')).toBe(catalog);
    expect(await read('ada')).toBe(before);
  });

  it('with the cookie but without (or with a wrong) CSRF token: refused, nothing changes', async () => {
    const before = await read('ada');
    const version = versionOf(await (await admin.get('/admin/subscribers/ada')).text());
    const fields = { email: 'ada@example.org', status: 'paused', topics: 'peft', version };
    const missing = await admin.post('/admin/subscribers/ada', fields, { csrf: null });
    const wrong = await admin.post('/admin/subscribers/ada', fields, { csrf: 'A'.repeat(43) });
    const other = await login(t); // another session's token is not this session's
    const foreign = await admin.post('/admin/subscribers/ada', fields, { csrf: other.csrf });
    expect([missing.status, wrong.status, foreign.status]).toEqual([403, 403, 403]);
    expect(await missing.text()).toContain('Form expired');
    expect(await read('ada')).toBe(before);
  });

  it('with a foreign Host: refused even with a valid cookie and CSRF token', async () => {
    const before = await read('ada');
    const body = new URLSearchParams({
      status: 'paused',
      version: versionOf(await (await admin.get('/admin/subscribers/ada')).text()),
      csrf: admin.csrf,
    }).toString();
    const headers = { cookie: admin.cookie, 'content-type': 'application/x-www-form-urlencoded' };
    for (const host of ['evil.example', 'paperboy.test.evil.example', `localhost:${t.server.port + 1}`, '']) {
      const post = await rawRequest(t.server.port, {
        method: 'POST',
        path: '/admin/subscribers/ada/status',
        headers: { ...headers, host },
        body,
      });
      const get = await rawRequest(t.server.port, { path: '/admin', headers: { cookie: admin.cookie, host } });
      // No Host at all: Node's HTTP server already answers 400.
      const refused = host === '' ? [400, 400] : [403, 403];
      expect([post.status, get.status], host).toEqual(refused);
      expect(get.body).not.toContain('ada@example.org');
    }
    expect(await read('ada')).toBe(before);
    // The configured host and the loopback names with the real port are served.
    for (const host of ['paperboy.test', `localhost:${t.server.port}`, `127.0.0.1:${t.server.port}`]) {
      expect((await rawRequest(t.server.port, { path: '/admin', headers: { cookie: admin.cookie, host } })).status, host).toBe(200);
    }
  });

  it('a wrong admin token does not log in; the session cookie is HttpOnly, SameSite=Strict and holds no token', async () => {
    const page = await fetch(`${t.base}/admin/login`);
    const anon = page.headers.getSetCookie()[0]!;
    expect(anon).toMatch(/HttpOnly/);
    expect(anon).toMatch(/SameSite=Strict/);
    const csrf = csrfOf(await page.text());
    const send = (token: string) =>
      fetch(`${t.base}/admin/login`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie: anon.split(';')[0]! },
        body: new URLSearchParams({ csrf, token }),
      });
    const bad = await send(ADMIN_TOKEN.slice(0, -1));
    expect(bad.status).toBe(401);
    expect(await bad.text()).toContain('not the admin token');
    const good = await send(ADMIN_TOKEN);
    expect(good.status).toBe(303);
    const cookie = good.headers.getSetCookie()[0]!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).not.toContain(ADMIN_TOKEN);
    // Tampering with the signed cookie (anon → admin) does not make an admin.
    const forged = anon.split(';')[0]!.replace('.anon.', '.admin.');
    expect((await fetch(`${t.base}/admin`, { headers: { cookie: forged } })).status).toBe(401);
  });

  it('login without its CSRF token is refused', async () => {
    const res = await fetch(`${t.base}/admin/login`, {
      method: 'POST',
      redirect: 'manual',
      body: new URLSearchParams({ token: ADMIN_TOKEN }),
    });
    expect(res.status).toBe(403);
    expect(res.headers.getSetCookie().some((c) => c.includes('.admin.'))).toBe(false);
  });

  it('log-out ends the session', async () => {
    const s = await login(t);
    const res = await s.post('/admin/logout', {});
    expect(res.status).toBe(303);
    const cleared = res.headers.getSetCookie()[0]!;
    expect(cleared).toMatch(/pb_session=;|Max-Age=0/);
  });
});

describe('subscribers', () => {
  it('lists subscribers with status, topics and last delivery', async () => {
    const res = await admin.get('/admin');
    expect(res.status).toBe(200);
    const html = await res.text();
    for (const id of ['ada', 'alan', 'grace']) expect(html).toContain(`data-id="${id}"`);
    expect(html).toContain('Parameter-efficient fine-tuning');
    expect(html).toMatch(/data-id="alan"[\s\S]*?2024-10-25/);
    expect(html).toMatch(/data-id="ada"[\s\S]*?never/);
    expect(html).toMatch(/badge active/);
  });

  it('adds a subscriber; the file has what the form said', async () => {
    const res = await admin.post('/admin/subscribers', {
      id: 'edsger',
      email: 'edsger@example.org',
      name: 'Edsger',
      status: 'active',
      topics: ['code', 'reasoning'],
      keywords: 'formal proofs\nverification',
      max_papers: '10',
    });
    expect(res.status).toBe(303);
    const data = YAML.parse(await read('edsger'));
    expect(data).toMatchObject({
      email: 'edsger@example.org',
      name: 'Edsger',
      topics: ['code', 'reasoning'],
      keywords: ['formal proofs', 'verification'],
      max_papers: 10,
    });
  });

  it('shows each problem next to its field and writes nothing', async () => {
    const res = await admin.post('/admin/subscribers', {
      id: 'Bad Id',
      email: 'not an address',
      status: 'active',
      max_papers: 'lots',
      topics: ['peft', 'nope'],
    });
    expect(res.status).toBe(422);
    const html = await res.text();
    // Every field's problem at once, the unknown topic included.
    expect(html).toMatch(/id="topics-error">unknown topic &quot;nope&quot;/);
    expect(html).toMatch(/id="id"[^>]*aria-invalid="true"[\s\S]*?<p class="field-error" id="id-error">/);
    expect(html).toMatch(/<p class="field-error" id="email-error">[^<]*plain address/);
    expect(html).toMatch(/<p class="field-error" id="max_papers-error">must be a number</);
    expect(existsSync(file('bad-id'))).toBe(false);
  });

  it('refuses a duplicate id and an address already used by someone else', async () => {
    const dup = await admin.post('/admin/subscribers', { id: 'ada', email: 'new@example.org', topics: 'peft' });
    expect(dup.status).toBe(409);
    expect(await dup.text()).toMatch(/id="id-error">a subscriber &quot;ada&quot; already exists/);
    const clash = await admin.post('/admin/subscribers', { id: 'ada2', email: 'ada@example.org', topics: 'peft' });
    expect(clash.status).toBe(409);
    expect(await clash.text()).toMatch(/id="email-error">ada@example.org is already used by ada.yaml/);
    expect(existsSync(file('ada2'))).toBe(false);
  });

  it('refuses ids that are paths, in the form and in the URL', async () => {
    const form = await admin.post('/admin/subscribers', { id: '../../etc/passwd', email: 'x@example.org', topics: 'peft' });
    expect(form.status).toBe(422);
    expect(await form.text()).toContain('id="id-error"');
    for (const p of [
      '/admin/subscribers/..%2F..%2Fetc%2Fpasswd',
      '/admin/subscribers/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
      '/admin/subscribers/..%252F..%252Fetc%252Fpasswd',
    ]) {
      const get = await admin.get(p);
      expect(get.status, p).toBe(400);
      expect(await get.text()).not.toContain('root:');
      const post = await admin.post(`${p}/remove`, { version: 'x' });
      expect(post.status, p).toBe(400);
      const status = await admin.post(`${p}/status`, { status: 'paused', version: 'x' });
      expect(status.status, p).toBe(400);
    }
    // Sent exactly as written (no client-side normalisation of ".."): never served.
    const raw = await rawRequest(t.server.port, {
      path: '/admin/subscribers/../../etc/passwd',
      headers: { cookie: admin.cookie, host: new URL(t.base).host },
    });
    expect([400, 404]).toContain(raw.status);
    expect(raw.body).not.toContain('root:');
  });

  it('edits topics with checkboxes, keeping the file comment', async () => {
    const page = await (await admin.get('/admin/subscribers/ada')).text();
    expect(page).toMatch(/value="peft"\s+checked/);
    const res = await admin.post('/admin/subscribers/ada', {
      version: versionOf(page),
      email: 'ada@example.org',
      name: 'Ada Lovelace',
      status: 'active',
      topics: ['peft', 'reasoning'],
      keywords: 'contrastive loss',
      max_papers: '20',
      min_upvotes: '0',
      top_of_day: '0',
    });
    expect(res.status).toBe(303);
    const text = await read('ada');
    expect(text).toContain('topics: [peft, reasoning]');
    expect(text).toContain('# Ada follows efficient fine-tuning work.');
  });

  it('refuses a stale edit with a clear message, keeping the change made meanwhile', async () => {
    const page = await (await admin.get('/admin/subscribers/ada')).text();
    await writeFile(file('ada'), (await read('ada')).replace('max_papers: 20', 'max_papers: 12'));
    const res = await admin.post('/admin/subscribers/ada', {
      version: versionOf(page),
      email: 'ada@example.org',
      status: 'active',
      topics: ['peft'],
      max_papers: '20',
    });
    expect(res.status).toBe(409);
    const html = await res.text();
    expect(html).toContain('Someone changed this file since you opened the form');
    expect(html).toContain('Open the current version');
    expect(await read('ada')).toContain('max_papers: 12');
    expect(await read('ada')).toContain('topics: [peft, reasoning]');
  });

  it('pauses and resumes from the list', async () => {
    const version = () => admin.get('/admin/subscribers/alan').then(async (r) => versionOf(await r.text()));
    expect((await admin.post('/admin/subscribers/alan/status', { status: 'paused', version: await version() })).status).toBe(303);
    expect(YAML.parse(await read('alan')).status).toBe('paused');
    expect((await admin.post('/admin/subscribers/alan/status', { status: 'active', version: await version() })).status).toBe(303);
    expect(YAML.parse(await read('alan')).status).toBe('active');
    expect((await admin.post('/admin/subscribers/alan/status', { status: 'active', version: 'stale' })).status).toBe(409);
    expect((await admin.post('/admin/subscribers/alan/status', { status: 'unsubscribed', version: await version() })).status).toBe(400);
  });

  it('removes only on POST, after a confirmation page, and not from a stale page', async () => {
    const confirm = await admin.get('/admin/subscribers/edsger/remove');
    expect(confirm.status).toBe(200);
    const page = await confirm.text();
    expect(existsSync(file('edsger'))).toBe(true);
    await writeFile(file('edsger'), (await read('edsger')) + 'min_upvotes: 1\n');
    expect((await admin.post('/admin/subscribers/edsger/remove', { version: versionOf(page) })).status).toBe(409);
    expect(existsSync(file('edsger'))).toBe(true);
    const fresh = versionOf(await (await admin.get('/admin/subscribers/edsger/remove')).text());
    expect((await admin.post('/admin/subscribers/edsger/remove', { version: fresh })).status).toBe(303);
    expect(existsSync(file('edsger'))).toBe(false);
    expect((await admin.get('/admin/subscribers/edsger')).status).toBe(404);
  });

  it('opens an invalid file with its problems next to the fields', async () => {
    await writeFile(file('broken'), 'email: broken@example.org\ntopics: [no-such-topic]\n');
    const list = await (await admin.get('/admin')).text();
    expect(list).toContain('have problems');
    const res = await admin.get('/admin/subscribers/broken');
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/id="topics-error">unknown topic &quot;no-such-topic&quot;/);
  });
});

describe('topic catalog', () => {
  const peftForm = async () => (await admin.get('/admin/topics/peft')).text();

  it('lists topics and opens one for editing', async () => {
    const list = await (await admin.get('/admin/topics')).text();
    expect(list).toContain('href="/admin/topics/peft"');
    const page = await peftForm();
    expect(page).toContain('Parameter-efficient fine-tuning');
    expect(page).toMatch(/<textarea id="keywords"[^>]*>[^<]*LoRA/);
  });

  it('previews which papers of a listing the edited topic files, without saving', async () => {
    const before = await catalogText();
    const page = await peftForm();
    const fields = {
      version: versionOf(page),
      name: 'PEFT',
      description: 'x',
      // Weighty enough to file on its own: peft's learned terms (which the preview keeps) argue against long-context papers.
      keywords: 'context | 5',
      exclude: '',
      threshold: '',
      listing: 'samples/hf-daily-papers-2024-10-25.json',
      action: 'preview',
    };
    const res = await admin.post('/admin/topics/peft', fields);
    expect(res.status).toBe(200);
    const html = await res.text();
    const m = /Would file (\d+) of (\d+) papers/.exec(html);
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(0);
    expect(html).toContain('Long cOntext aliGnment');
    expect(await catalogText()).toBe(before);
    // An exclusion vetoes papers, and the preview says which.
    const vetoed = await (await admin.post('/admin/topics/peft', { ...fields, exclude: 'long context' })).text();
    expect(vetoed).toMatch(/Vetoed by exclusions/);
    expect(Number(/Would file (\d+)/.exec(vetoed)![1])).toBeLessThan(Number(m![1]));
    // A threshold typed into the form counts, trained topic or not: the preview shows the one used, moved in proportion.
    const shown = (h: string) => Number(/threshold\s+([0-9.]+)/.exec(h.slice(h.indexOf('Would file')))?.[1]);
    const strict = await (await admin.post('/admin/topics/peft', { ...fields, threshold: '100' })).text();
    expect(Number(/Would file (\d+)/.exec(strict)![1])).toBe(0);
    expect(shown(strict)).toBeGreaterThan(10 * shown(html));
    // Listings outside the allowed folders cannot be named.
    const outside = await (await admin.post('/admin/topics/peft', { ...fields, listing: '../package.json' })).text();
    expect(outside).toContain('Choose a listing from the list.');
  });

  it('saves a topic, keeping the catalog comments and the learned terms; shows field errors for an invalid one', async () => {
    const page = await peftForm();
    // A trained topic says that its learned threshold applies, not the hand one being edited.
    expect(page).toMatch(/id="trained"[\s\S]*?learned threshold\s*\([0-9.]+\)/);
    const learned = () => readFile(path.join(t.subscribers, 'topics.learned.json'), 'utf8');
    const learnedBefore = await learned();
    const bad = await admin.post('/admin/topics/peft', { version: versionOf(page), name: '', keywords: '', action: 'save' });
    expect(bad.status).toBe(422);
    const badHtml = await bad.text();
    expect(badHtml).toContain('id="keywords-error"');
    expect(badHtml).toContain('id="name-error"');
    const res = await admin.post('/admin/topics/peft', {
      version: versionOf(page),
      name: 'PEFT',
      description: 'Adapters\r\n  and LoRA',
      keywords: 'LoRA\nadapter\nlow-rank | 0.5',
      exclude: 'quantum',
      threshold: '3',
      action: 'save',
    });
    expect(res.status).toBe(303);
    const text = await catalogText();
    expect(text).toContain('# Paperboy topic catalog');
    const peft = (YAML.parse(text) as { topics: Array<{ id: string }> }).topics.find((x) => x.id === 'peft');
    expect(peft).toEqual({
      id: 'peft',
      name: 'PEFT',
      // The description is a textarea; its line breaks are wrapping, not content.
      description: 'Adapters and LoRA',
      keywords: ['LoRA', 'adapter', { term: 'low-rank', weight: 0.5 }],
      exclude: ['quantum'],
      threshold: 3,
    });
    // The form edits hand-written terms only; the trained ones stay until the next training run.
    expect(await learned()).toBe(learnedBefore);
  });

  it('keeps a per-topic relative floor and negative weights through the form', async () => {
    const page = await (await admin.get('/admin/topics/benchmarks')).text();
    expect(page).toMatch(/id="relative"[\s\S]*?value="0"/);
    const res = await admin.post('/admin/topics/benchmarks', {
      version: versionOf(page),
      name: 'Benchmarks',
      description: 'Evaluation',
      keywords: 'LoRA\ncode is available | -0.8',
      relative: '0.25',
      action: 'save',
    });
    expect(res.status).toBe(303);
    const topic = (
      YAML.parse(await catalogText()) as { topics: Array<{ id: string; relative?: number; keywords: unknown[] }> }
    ).topics.find((x) => x.id === 'benchmarks')!;
    expect(topic.relative).toBe(0.25);
    expect(topic.keywords).toEqual(['LoRA', { term: 'code is available', weight: -0.8 }]);
  });

  it('refuses a stale catalog edit', async () => {
    const page = await peftForm();
    await writeFile(path.join(t.subscribers, 'topics.yaml'), (await catalogText()).replace(/^threshold: .*$/m, 'threshold: 9.9'));
    const before = await catalogText();
    const res = await admin.post('/admin/topics/peft', { version: versionOf(page), name: 'Lost', keywords: 'LoRA', action: 'save' });
    expect(res.status).toBe(409);
    expect(await res.text()).toContain('Someone changed the topic catalog since you opened the form');
    expect(await catalogText()).toBe(before);
  });

  it('adds a topic, and refuses an existing id', async () => {
    const page = await (await admin.get('/admin/topics/new')).text();
    const res = await admin.post('/admin/topics', {
      version: versionOf(page),
      id: 'graph-learning',
      name: 'Graph learning',
      keywords: 'graph neural network\nGNN',
      action: 'save',
    });
    expect(res.status).toBe(303);
    expect(await catalogText()).toContain('id: graph-learning');
    const dup = await admin.post('/admin/topics', {
      version: versionOf(await (await admin.get('/admin/topics/new')).text()),
      id: 'peft',
      name: 'Again',
      keywords: 'x',
      action: 'save',
    });
    expect(dup.status).toBe(409);
    expect(await dup.text()).toContain('id="id-error"');
  });

  it('deletes a topic nobody follows (and its learned terms), and refuses one that is followed, even by a broken file', async () => {
    const learned = async () => JSON.parse(await readFile(path.join(t.subscribers, 'topics.learned.json'), 'utf8')) as { topics: object };
    const followed = await (await admin.get('/admin/topics/peft/delete')).text();
    expect(followed).toContain('It is followed by');
    expect(followed).toContain('href="/admin/subscribers/ada"');
    expect(followed).not.toContain('<button class="danger">');
    const before = await catalogText();
    const refused = await admin.post('/admin/topics/peft/delete', { version: versionOf(await peftForm()) });
    expect(refused.status).toBe(409);
    expect(await refused.text()).toContain('followed by ada');
    expect(await catalogText()).toBe(before);

    // A subscriber file with another problem still counts as a follower.
    await writeFile(file('zed'), 'email: not-an-address\ntopics: [continual-learning]\n');
    const page = await (await admin.get('/admin/topics/continual-learning/delete')).text();
    expect(page).toContain('href="/admin/subscribers/zed"');
    await rm(file('zed'));
    const confirm = await (await admin.get('/admin/topics/continual-learning/delete')).text();
    expect(confirm).toContain('<button class="danger">Delete</button>');
    const stale = await admin.post('/admin/topics/continual-learning/delete', { version: 'not-the-version' });
    expect(stale.status).toBe(409);
    expect(await catalogText()).toBe(before);

    const res = await admin.post('/admin/topics/continual-learning/delete', { version: versionOf(confirm) });
    expect(res.status).toBe(303);
    const text = await catalogText();
    expect(text).not.toContain('id: continual-learning');
    expect(text).toContain('# Paperboy topic catalog');
    expect(Object.keys((await learned()).topics)).not.toContain('continual-learning');
    expect(Object.keys((await learned()).topics)).toContain('peft');
    const list = await (await admin.get(res.headers.get('location')!)).text();
    expect(list).toContain('Topic deleted.');
    expect(list).not.toContain('href="/admin/topics/continual-learning"');
    expect((await admin.get('/admin/topics/continual-learning')).status).toBe(404);
  });

  it('renames a topic id in the catalog and in its followers\' files, and refuses a taken or malformed id', async () => {
    const form = await (await admin.get('/admin/topics/reasoning')).text();
    expect(form).toContain('href="/admin/topics/reasoning/rename"');
    const page = await (await admin.get('/admin/topics/reasoning/rename')).text();
    expect(page).toContain('the files of ada, grace');
    const before = await catalogText();
    const taken = await admin.post('/admin/topics/reasoning/rename', { version: versionOf(page), id: 'code' });
    expect(taken.status).toBe(409);
    expect(await taken.text()).toContain('a topic &quot;code&quot; already exists');
    const bad = await admin.post('/admin/topics/reasoning/rename', { version: versionOf(page), id: 'Model Merging' });
    expect(bad.status).toBe(422);
    expect(await bad.text()).toContain('must be lower-case words joined by');
    const stale = await admin.post('/admin/topics/reasoning/rename', { version: 'not-the-version', id: 'reasoning-and-math' });
    expect(stale.status).toBe(409);
    expect(await catalogText()).toBe(before);

    const res = await admin.post('/admin/topics/reasoning/rename', { version: versionOf(page), id: 'reasoning-and-math' });
    expect(res.status).toBe(303);
    expect(await catalogText()).toBe(before.replace('  - id: reasoning\n', '  - id: reasoning-and-math\n'));
    expect(await readFile(file('ada'), 'utf8')).toMatch(/^topics: \[peft, reasoning-and-math\]$/m);
    expect(await readFile(file('grace'), 'utf8')).toMatch(/^topics: \[agents-tools, code, reasoning-and-math\]$/m);
    const list = await (await admin.get(res.headers.get('location')!)).text();
    expect(list).toContain('Topic renamed');
    expect(list).toContain('href="/admin/topics/reasoning-and-math"');
    expect((await admin.get('/admin/topics/reasoning')).status).toBe(404);
  });

  it('explains a rename that stopped halfway and finishes it from the same form, even though the catalog has changed since', async () => {
    await writeFile(file('zed'), 'email: zed@example.org\ntopics: [speech-audio, code\n'); // a YAML error
    const page = await (await admin.get('/admin/topics/speech-audio/rename')).text();
    const stopped = await admin.post('/admin/topics/speech-audio/rename', { version: versionOf(page), id: 'audio' });
    expect(stopped.status).toBe(409);
    const why = await stopped.text();
    expect(why).toContain('zed.yaml: not a readable subscriber file');
    expect(why).toContain('The rename of <code>speech-audio</code> to <code>audio</code> is half-done');
    expect(why).toContain('href="/admin/topics/speech-audio/rename"');
    expect(await catalogText()).toContain('id: speech-audio');

    await writeFile(file('zed'), 'email: zed@example.org\ntopics: [speech-audio, code]\n');
    const again = await (await admin.get('/admin/topics/speech-audio/rename')).text();
    expect(again).toContain('value="audio"');
    const res = await admin.post('/admin/topics/speech-audio/rename', { version: versionOf(page), id: 'audio' });
    expect(res.status).toBe(303);
    expect(await catalogText()).not.toContain('id: speech-audio');
    expect(await readFile(file('zed'), 'utf8')).toContain('topics: [audio, code]');
    expect(await readFile(file('alan'), 'utf8')).toMatch(/^topics: \[.*\baudio\]$/m);
    await rm(file('zed'));
  });

  it('treats a topic called like a built-in property ("constructor") as untrained, and keeps previews working', async () => {
    const version = async () => versionOf(await (await admin.get('/admin/topics/new')).text());
    const invalid = await admin.post('/admin/topics', { version: await version(), id: 'toString', name: '', keywords: '', action: 'save' });
    expect(invalid.status).toBe(422);
    const res = await admin.post('/admin/topics', {
      version: await version(),
      id: 'constructor',
      name: 'C',
      keywords: 'LoRA',
      action: 'save',
    });
    expect(res.status).toBe(303);
    const form = await (await admin.get('/admin/topics/constructor')).text();
    expect(form).not.toContain('id="trained"');
    expect((await admin.get('/preview?subscriber=ada')).status).toBe(200);
  });
});

describe('without ADMIN_TOKEN', () => {
  let locked: TestServer;
  beforeAll(async () => {
    locked = await startTestServer({ env: { ADMIN_TOKEN: '' } });
  });
  afterAll(async () => {
    await locked?.close();
  });

  it('the admin pages say so and stay locked', async () => {
    for (const p of ['/admin', '/admin/login', '/admin/topics']) {
      const res = await fetch(locked.base + p);
      expect(res.status, p).toBe(403);
      expect(await res.text()).toContain('ADMIN_TOKEN');
    }
    const post = await fetch(`${locked.base}/admin/login`, { method: 'POST', body: new URLSearchParams({ token: '' }) });
    expect(post.status).toBe(403);
  });
});
