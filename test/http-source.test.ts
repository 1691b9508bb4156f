import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { hfSource } from '../src/sources/hf.js';
import { getText, parseRetryAfter, reasonLine } from '../src/sources/http.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
let server: Server | undefined;

async function serve(handler: Handler): Promise<string> {
  server = createServer(handler);
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

const item = (n: number) => ({ paper: { id: `2410.${String(10000 + n)}`, title: `Paper ${n}`, summary: 'S', upvotes: n } });
const waits: number[] = [];
const http = (over: Partial<Parameters<typeof getText>[1]> = {}) => ({
  timeoutMs: 2000,
  maxBytes: 1_000_000,
  retries: 2,
  backoffMs: 5,
  sleep: async (ms: number) => {
    waits.push(ms);
  },
  ...over,
});

describe('Hugging Face source over real HTTP', () => {
  it('pages with limit=100 until a short page and sends the date', async () => {
    const seen: string[] = [];
    const base = await serve((req, res) => {
      const url = new URL(req.url!, 'http://x');
      seen.push(url.search);
      const page = Number(url.searchParams.get('p'));
      const items = page === 0 ? Array.from({ length: 100 }, (_, i) => item(i)) : [item(100), item(101)];
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(items));
    });
    const listing = await hfSource(`${base}/api/daily_papers`, http()).fetch('2024-10-25');
    expect(listing.papers).toHaveLength(102);
    expect(seen).toEqual(['?date=2024-10-25&limit=100&p=0', '?date=2024-10-25&limit=100&p=1']);
  });

  it('caps the whole listing, not each page: pages that each fit but together exceed SOURCE_MAX_BYTES fail', async () => {
    const base = await serve((req, res) => {
      const page = Number(new URL(req.url!, 'http://x').searchParams.get('p'));
      res.end(JSON.stringify(Array.from({ length: 100 }, (_, i) => item(page * 100 + i))));
    });
    const onePage = Buffer.byteLength(JSON.stringify(Array.from({ length: 100 }, (_, i) => item(i))));
    await expect(hfSource(base, http({ maxBytes: Math.round(onePage * 2.5) })).fetch('2024-10-25')).rejects.toThrow(
      /p=2: the listing's pages so far come to \d+ bytes, over the \d+-byte cap \(SOURCE_MAX_BYTES\)/,
    );
  });

  it('caps the whole listing also when pages stream without a length, and does not count a repeated page', async () => {
    // Each page alone is under the cap; two together are over it.
    const page = (n: number) => JSON.stringify(Array.from({ length: 100 }, (_, i) => item(n * 100 + i)));
    const onePage = Buffer.byteLength(page(0));
    const streaming = await serve((req, res) => {
      const body = page(Number(new URL(req.url!, 'http://x').searchParams.get('p')));
      res.writeHead(200, { 'content-type': 'application/json' }); // no content-length: chunked
      res.write(body.slice(0, 1000));
      setTimeout(() => res.end(body.slice(1000)), 5);
    });
    await expect(hfSource(streaming, http({ maxBytes: Math.round(onePage * 1.5) })).fetch('2024-10-25')).rejects.toThrow(
      /p=1: the listing's pages so far come to \d+ bytes, over the \d+-byte cap/,
    );
    // A server that ignores `p` repeats page 0: that repeat is dropped, so it does not count against the cap.
    const repeating = await serve((_req, res) => res.end(page(0)));
    const listing = await hfSource(repeating, http({ maxBytes: Math.round(onePage * 1.5) })).fetch('2024-10-25');
    expect(listing.papers).toHaveLength(100);
  });

  it('retries a 429 honouring Retry-After, then succeeds', async () => {
    waits.length = 0;
    let calls = 0;
    const base = await serve((_req, res) => {
      if (calls++ === 0) {
        res.writeHead(429, { 'retry-after': '7' });
        res.end();
        return;
      }
      res.end(JSON.stringify([item(1)]));
    });
    const listing = await hfSource(base, http()).fetch('2024-10-25');
    expect(listing.papers).toHaveLength(1);
    expect(waits).toEqual([7000]);
  });

  it('gives up at once, saying why, when Retry-After asks for longer than a run waits', async () => {
    waits.length = 0;
    let calls = 0;
    const base = await serve((_req, res) => {
      calls++;
      res.writeHead(429, { 'retry-after': '3600' });
      res.end();
    });
    await expect(hfSource(base, http()).fetch('2024-10-25')).rejects.toMatchObject({
      code: 'SOURCE',
      message: expect.stringMatching(/HTTP 429.*asks to wait 3600 s, longer than a run waits \(60 s\)/),
    });
    expect(calls).toBe(1);
    expect(waits).toEqual([]);
  });

  it('gives up after the bounded number of retries on 5xx', async () => {
    let calls = 0;
    const base = await serve((_req, res) => {
      calls++;
      res.writeHead(503);
      res.end();
    });
    await expect(hfSource(base, http({ retries: 2 })).fetch('2024-10-25')).rejects.toThrow(/gave up after 3 attempts: HTTP 503/);
    expect(calls).toBe(3);
  });

  it('does not retry a 404', async () => {
    let calls = 0;
    const base = await serve((_req, res) => {
      calls++;
      res.writeHead(404);
      res.end();
    });
    await expect(getText(base, http())).rejects.toThrow(/HTTP 404/);
    expect(calls).toBe(1);
  });

  it("quotes a 4xx answer's own reason, as one short line", async () => {
    const base = await serve((req, res) => {
      res.writeHead(400, { 'content-type': req.url === '/json' ? 'application/json' : 'text/plain' });
      if (req.url === '/json') res.end(JSON.stringify({ error: 'Invalid date:\n must be YYYY-MM-DD' }));
      else if (req.url === '/html') res.end('<!doctype html><html><body>Bad</body></html>');
      else res.end('x'.repeat(10_000));
    });
    await expect(getText(`${base}/json`, http())).rejects.toThrow(/HTTP 400 Bad Request \(Invalid date: must be YYYY-MM-DD\)$/);
    await expect(getText(`${base}/html`, http())).rejects.toThrow(/HTTP 400 Bad Request$/);
    const long = await getText(`${base}/text`, http()).catch((e: Error) => e.message);
    expect(long).toMatch(/\(x{200}…\)$/);
  });

  it('reads a reason as one line of printable text: no controls, bidi overrides or lone surrogates, cut by characters', () => {
    expect(reasonLine('{"error":"bad\\u202e date\\u001b[31m\\ud800!"}')).toBe('bad date [31m !');
    expect(reasonLine('{"error":{"code":400,"message":"Invalid date"}}')).toBe('Invalid date');
    expect(reasonLine('"plain JSON string"')).toBe('plain JSON string');
    expect(reasonLine('😀'.repeat(150))).toBe('😀'.repeat(150));
    expect(reasonLine('😀'.repeat(250))).toBe(`${'😀'.repeat(200)}…`);
  });

  it('does not wait for a 4xx body that never ends, and keeps what arrived', async () => {
    const base = await serve((_req, res) => {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.write('date is in the future');
    });
    const started = Date.now();
    await expect(getText(base, http({ timeoutMs: 60_000 }))).rejects.toThrow(/HTTP 400 Bad Request \(date is in the future\)$/);
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('refuses a response over the size cap', async () => {
    const base = await serve((_req, res) => res.end('x'.repeat(5000)));
    await expect(getText(base, http({ maxBytes: 1000 }))).rejects.toThrow(/exceeds the 1000-byte cap/);
  });

  it('follows a same-host redirect but refuses one to another host', async () => {
    const base = await serve((req, res) => {
      if (req.url === '/old') {
        res.writeHead(301, { location: '/new' });
        return res.end();
      }
      if (req.url === '/away') {
        res.writeHead(302, { location: 'https://evil.example.org/' });
        return res.end();
      }
      res.end('[]');
    });
    await expect(getText(`${base}/old`, http())).resolves.toBe('[]');
    await expect(getText(`${base}/away`, http())).rejects.toThrow(/refused redirect to another host/);
  });

  it('times out a silent server and retries', async () => {
    let calls = 0;
    const base = await serve(() => {
      calls++; // never answers
    });
    await expect(getText(base, http({ timeoutMs: 150, retries: 1 }))).rejects.toThrow(/timed out after 150 ms/);
    expect(calls).toBe(2);
  });

  it('refuses plain http to anything but loopback', async () => {
    await expect(getText('http://huggingface.co/api/daily_papers', http())).rejects.toThrow(/only https/);
  });

  it('fails on a response that is JSON but not a listing', async () => {
    const base = await serve((_req, res) => res.end('{"error":"Invalid date"}'));
    await expect(hfSource(base, http()).fetch('2024-13-40')).rejects.toThrow(/not a daily papers listing/);
  });

  it('parses Retry-After as seconds or an HTTP date', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4000)).toBe(6000);
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
});

describe('Hugging Face source paging guard', () => {
  it('stops when a server ignores the page parameter', async () => {
    let calls = 0;
    const base = await serve((_req, res) => {
      calls++;
      res.end(JSON.stringify(Array.from({ length: 100 }, (_, i) => item(i))));
    });
    const listing = await hfSource(base, http()).fetch('2024-10-25');
    expect(listing.papers).toHaveLength(100);
    expect(calls).toBe(2);
  });
});

describe('Hugging Face source with a wrapped payload', () => {
  it('accepts {"papers": [...]} like the file source does', async () => {
    const base = await serve((_req, res) => res.end(JSON.stringify({ papers: [item(1), item(2)] })));
    const listing = await hfSource(base, http()).fetch('2024-10-25');
    expect(listing.papers.map((p) => p.id)).toEqual(['2410.10001', '2410.10002']);
  });
});

describe('Hugging Face source answering for the wrong day', () => {
  const listed = (day: string, n: number) => ({ ...item(n), paper: { ...item(n).paper, submittedOnDailyAt: `${day}T13:00:00.000Z` } });

  it('fails the run when the server ignores the date and answers with another day', async () => {
    const base = await serve((_req, res) => res.end(JSON.stringify([listed('2024-10-25', 1), listed('2024-10-25', 2)])));
    await expect(hfSource(base, http()).fetch('2026-03-06')).rejects.toMatchObject({
      code: 'LISTING',
      message: expect.stringMatching(/asked for 2026-03-06 but the papers were listed on 2024-10-25 \(497 days apart\)/),
    });
  });

  it('accepts papers listed a day or two around the date asked for', async () => {
    const base = await serve((_req, res) => res.end(JSON.stringify([listed('2026-03-05', 1), listed('2026-03-06', 2)])));
    const listing = await hfSource(base, http()).fetch('2026-03-06');
    expect(listing.papers).toHaveLength(2);
  });

  it('refuses page after page of new papers instead of cutting the day short', async () => {
    let calls = 0;
    const base = await serve((_req, res) => {
      const start = calls++ * 100;
      res.end(JSON.stringify(Array.from({ length: 100 }, (_, i) => item(start + i))));
    });
    await expect(hfSource(base, http()).fetch('2024-10-25')).rejects.toMatchObject({
      code: 'LISTING',
      message: expect.stringContaining('more than 2000 papers for one day'),
    });
    expect(calls).toBe(20);
  });

  it('reads a body that starts with a byte-order mark', async () => {
    const base = await serve((_req, res) => res.end(`\uFEFF${JSON.stringify([item(1)])}`));
    expect((await hfSource(base, http()).fetch('2024-10-25')).papers).toHaveLength(1);
  });
});
