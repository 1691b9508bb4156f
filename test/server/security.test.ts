import { spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RateLimiter } from '../../src/server/security.js';
import { BIN, cleanEnv, scratchDir } from '../helpers/cli.js';
import { login, rawRequest, startTestServer, type TestServer } from './helpers.js';

describe('rate limit', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ env: { RATE_LIMIT_PER_MINUTE: '3' } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('answers 429 with Retry-After once a client has used its requests guessing self-service tokens', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await fetch(`${t.base}/u/m.ada.${String(i).repeat(32)}`)).status);
    const limited = await fetch(`${t.base}/unsubscribe/u.ada.${'A'.repeat(32)}`, {
      method: 'POST',
      body: new URLSearchParams({ 'List-Unsubscribe': 'One-Click' }),
    });
    expect(statuses).toEqual([404, 404, 404]);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await readFile(path.join(t.subscribers, 'ada.yaml'), 'utf8')).toMatch(/^status: active$/m);
    // Other routes are not limited.
    expect((await fetch(`${t.base}/`)).status).toBe(200);
  });

  it('never limits a genuine link: one-click unsubscribes from a provider’s shared address all go through', async () => {
    // The bucket of this address is empty (previous test); genuine tokens still work, one after another.
    for (const id of ['ada', 'alan', 'grace']) {
      const token = t.links.unsubscribeToken(id, `${id}@example.org`);
      const res = await fetch(`${t.base}/unsubscribe/${token}`, {
        method: 'POST',
        body: new URLSearchParams({ 'List-Unsubscribe': 'One-Click' }),
      });
      expect(res.status).toBe(200);
      expect(await readFile(path.join(t.subscribers, `${id}.yaml`), 'utf8')).toMatch(/^status: unsubscribed$/m);
    }
  });

  it('a token bucket refills with time', () => {
    let now = 0;
    const limiter = new RateLimiter(2, () => now);
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([true, true, false]);
    expect(limiter.take('b')).toBe(true);
    now += 30_000; // half a minute: one request back
    expect([limiter.take('a'), limiter.take('a')]).toEqual([true, false]);
    expect(limiter.retryAfter('a')).toBe(30);
  });
});

describe('login attempts', () => {
  let own: TestServer;
  beforeAll(async () => {
    own = await startTestServer({ env: { RATE_LIMIT_PER_MINUTE: '3' } });
  });
  afterAll(async () => {
    await own?.close();
  });

  it('limits admin login attempts', async () => {
    const answers: number[] = [];
    for (let i = 0; i < 5; i++)
      answers.push((await fetch(`${own.base}/admin/login`, { method: 'POST', body: new URLSearchParams({ token: 'guess' }) })).status);
    expect(answers.slice(0, 3).every((s) => s === 403)).toBe(true);
    expect(answers.slice(3)).toEqual([429, 429]);
  });
});

describe('behind a proxy (TRUST_PROXY)', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ env: { RATE_LIMIT_PER_MINUTE: '1', TRUST_PROXY: 'true' } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('keeps one bucket per forwarded client address', async () => {
    const get = (xff: string) => fetch(`${t.base}/unsubscribe/x`, { headers: { 'x-forwarded-for': xff } }).then((r) => r.status);
    expect(await get('198.51.100.1')).toBe(200);
    expect(await get('198.51.100.1')).toBe(429);
    expect(await get('198.51.100.2')).toBe(200);
    // Only the last hop (added by the proxy) counts: a client cannot pick a fresh address by prepending one.
    expect(await get('203.0.113.9, 198.51.100.2')).toBe(429);
  });
});

describe('headers and the Host check on every route', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ env: { RATE_LIMIT_PER_MINUTE: '1000' } });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('sends a strict CSP, no referrer, nosniff and no framing by others', async () => {
    const res = await fetch(`${t.base}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    expect((await fetch(`${t.base}/assets/style.css`)).headers.get('content-type')).toContain('text/css');
    expect(await (await fetch(`${t.base}/healthz`)).text()).toBe('ok');
    expect((await fetch(`${t.base}/no-such-page`)).status).toBe(404);
  });

  it('refuses a foreign Host on the public routes too', async () => {
    for (const p of ['/', '/unsubscribe/x', '/u/x', '/preview', '/healthz']) {
      const res = await rawRequest(t.server.port, { path: p, headers: { host: 'rebind.example' } });
      expect(res.status, p).toBe(403);
    }
    // The Host of PUBLIC_URL is served (what a reverse proxy forwards).
    expect((await rawRequest(t.server.port, { path: '/', headers: { host: 'paperboy.test' } })).status).toBe(200);
  });

  it('answers a form that does not parse with 400, before login too, and one-click unsubscribe still works', async () => {
    const garbage = { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=xx' }, body: 'garbage' };
    const noBoundary = { method: 'POST', headers: { 'content-type': 'multipart/form-data' }, body: 'a=b' };
    const admin = await login(t);
    const manage = t.local(t.links.manageUrl('ada', 'ada@example.org'));
    for (const [url, init] of [
      [`${t.base}/admin/login`, garbage],
      [`${t.base}/admin/login`, noBoundary],
      [manage, garbage],
      [`${t.base}/admin/subscribers/ada/status`, { ...noBoundary, headers: { ...noBoundary.headers, cookie: admin.cookie } }],
    ] as const) {
      const res = await fetch(url, init);
      expect(res.status, url).toBe(400);
      expect(await res.text()).toBe('Malformed form data.');
    }
    expect(await readFile(path.join(t.subscribers, 'ada.yaml'), 'utf8')).toMatch(/^status: active$/m);
    // A mail provider's one-click POST is never refused for its body.
    const res = await fetch(t.local(t.links.unsubscribeUrl('ada', 'ada@example.org')), garbage);
    expect(res.status).toBe(200);
    expect(await readFile(path.join(t.subscribers, 'ada.yaml'), 'utf8')).toMatch(/^status: unsubscribed$/m);
  });

  it('only POST changes things: other methods on the unsubscribe link change nothing', async () => {
    const file = path.join(t.subscribers, 'alan.yaml');
    const before = await readFile(file, 'utf8');
    const url = t.local(t.links.unsubscribeUrl('alan', 'alan@example.org'));
    for (const method of ['HEAD', 'PUT', 'DELETE', 'PATCH']) {
      const res = await fetch(url, { method, body: method === 'HEAD' ? undefined : 'List-Unsubscribe=One-Click' });
      expect(res.status, method).toBeLessThan(500);
    }
    expect(await readFile(file, 'utf8')).toBe(before);
  });
});

describe('live reload', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ liveReload: true });
  });
  afterAll(async () => {
    await t?.close();
  });

  it(
    'tells an open preview to reload when a template or subscriber file changes, with templates compiled afresh',
    { timeout: 20_000 },
    async () => {
      const admin = await login(t);
      const page = await (await admin.get('/preview?subscriber=ada')).text();
      expect(page).toContain('<script src="/assets/live.js" defer></script>');
      expect(page).not.toContain('EDITED');
      const controller = new AbortController();
      const res = await fetch(`${t.base}/preview/events`, { headers: { cookie: admin.cookie }, signal: controller.signal });
      expect(res.headers.get('content-type')).toContain('text/event-stream');
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let seen = '';
      const waitFor = async (pattern: RegExp) => {
        while (!pattern.test(seen)) {
          const { value, done } = await reader.read();
          if (done) throw new Error(`stream ended before ${pattern}`);
          seen += decoder.decode(value);
        }
        seen = seen.replace(pattern, '');
      };
      try {
        await waitFor(/event: ready/);
        const subject = path.join(t.templates, 'subject.hbs');
        await writeFile(subject, `EDITED ${await readFile(subject, 'utf8')}`);
        await waitFor(/event: reload/);
        expect(await (await admin.get('/preview?subscriber=ada')).text()).toMatch(/<strong id="subject">EDITED /);
        await writeFile(
          path.join(t.subscribers, 'ada.yaml'),
          (await readFile(path.join(t.subscribers, 'ada.yaml'), 'utf8')).replace('max_papers: 20', 'max_papers: 2'),
        );
        await waitFor(/event: reload/);
      } finally {
        controller.abort();
      }
    },
  );

  it('shows a broken template as a message, and recovers once it is fixed', { timeout: 20_000 }, async () => {
    const admin = await login(t);
    const layout = path.join(t.templates, 'digest.mjml');
    const good = await readFile(layout, 'utf8');
    await writeFile(layout, good.replace('<mj-body', '<mj-bogus-tag></mj-bogus-tag><mj-body'));
    t.server.web.deps.refreshTemplates(); // what the watcher does; no waiting on it here
    const broken = await admin.get('/preview?subscriber=ada');
    expect(broken.status).toBe(422);
    expect(await broken.text()).toMatch(/<div class="notice error" role="alert">[^<]*mj-bogus-tag/);
    await writeFile(layout, good);
    t.server.web.deps.refreshTemplates();
    expect((await admin.get('/preview?subscriber=ada')).status).toBe(200);
  });
});

describe('paperboy serve', () => {
  it('points links at the port it serves when PUBLIC_URL is unset, and keeps a PUBLIC_URL that is set', { timeout: 30_000 }, async () => {
    const scratch = await scratchDir();
    // A port that was free a moment ago: the OS hands out a fresh one for port 0.
    const free = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const port = (s.address() as AddressInfo).port;
        s.close(() => resolve(port));
      });
    });
    const listening = async (env: Record<string, string>) => {
      const child = spawn(process.execPath, [BIN, 'serve', '--port', String(free), '--subscribers', scratch.subscribers], {
        cwd: scratch.dir,
        env: cleanEnv({ DATA_DIR: path.join(scratch.dir, 'data'), ...env }),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      try {
        return await new Promise<string>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no listening line: ${stderr}`)), 20_000);
          child.stderr.on('data', (d) => {
            stderr += d;
            const line = stderr.split('\n').find((l) => l.includes('serve.listening'));
            if (line) {
              clearTimeout(timer);
              resolve(line);
            }
          });
          child.on('exit', () => reject(new Error(`exited: ${stderr}`)));
        });
      } finally {
        const exited = new Promise((resolve) => child.on('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
    };
    try {
      expect(await listening({})).toContain(`public=http://127.0.0.1:${free}`);
      expect(await listening({ PUBLIC_URL: 'https://digest.example.org' })).toContain('public=https://digest.example.org');
    } finally {
      await scratch.cleanup();
    }
  });

  it('starts on any free port (--port 0), with links to that port, serves, and stops on SIGTERM', { timeout: 30_000 }, async () => {
    const scratch = await scratchDir();
    const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--subscribers', scratch.subscribers], {
      cwd: scratch.dir,
      env: cleanEnv({ DATA_DIR: path.join(scratch.dir, 'data') }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let stderr = '';
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no listening line: ${stderr}`)), 20_000);
        child.stderr.on('data', (d) => {
          stderr += d;
          const m = /serve\.listening url=(http:\/\/127\.0\.0\.1:(\d+)) public=http:\/\/127\.0\.0\.1:\2 /.exec(stderr);
          if (m && stderr.includes('serve.admin_locked')) {
            clearTimeout(timer);
            resolve(m[1]!);
          }
        });
        child.on('exit', () => reject(new Error(`exited: ${stderr}`)));
      });
      expect(stderr).toContain('ADMIN_TOKEN is not set');
      expect(await (await fetch(`${url}/healthz`)).text()).toBe('ok');
      expect((await fetch(`${url}/admin`)).status).toBe(403);
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await scratch.cleanup();
    }
  });
});
