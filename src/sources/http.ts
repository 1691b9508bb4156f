/**
 * Careful HTTP GET for listing sources: https only (plain http only to
 * loopback, for tests and local mirrors), a timeout per attempt, a cap on the
 * response size, redirects followed only within the same host, and bounded
 * retries on 429/5xx/network errors that honour Retry-After.
 */
import { PaperboyError } from '../errors.js';

export interface HttpOptions {
  timeoutMs: number;
  maxBytes: number;
  retries: number;
  /** Base delay for exponential backoff; the server's Retry-After wins when given. */
  backoffMs?: number;
  /** Longest single wait we accept, so a hostile Retry-After cannot park the run. */
  maxWaitMs?: number;
  sleep?: (ms: number) => Promise<void>;
  fetchImpl?: typeof fetch;
  onRetry?: (info: { url: string; attempt: number; waitMs: number; reason: string }) => void;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
const MAX_REDIRECTS = 3;

export function assertAllowedUrl(raw: string): URL {
  const url = new URL(raw);
  if (url.protocol === 'https:') return url;
  if (url.protocol === 'http:' && LOOPBACK.has(url.hostname)) return url;
  throw new PaperboyError('SOURCE', `${raw}: only https URLs are fetched (plain http only on loopback)`);
}

const sleepReal = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

class Retryable extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** GET `raw` and return its body as text, or throw PaperboyError('SOURCE'). */
export async function getText(raw: string, opts: HttpOptions): Promise<string> {
  const sleep = opts.sleep ?? sleepReal;
  const backoff = opts.backoffMs ?? 1000;
  const maxWait = opts.maxWaitMs ?? 60_000;
  let lastError = '';
  for (let attempt = 0; attempt <= opts.retries; attempt++) {
    try {
      return await getOnce(raw, opts);
    } catch (e) {
      if (!(e instanceof Retryable)) throw e;
      lastError = e.message;
      if (attempt === opts.retries) break;
      if (e.retryAfterMs !== undefined && e.retryAfterMs > maxWait) {
        // Retrying sooner than the server asked would be rude and likely refused; a later run (the daemon
        // retries until its deadline) can try again.
        throw new PaperboyError(
          'SOURCE',
          `${raw}: ${e.message}, and the server asks to wait ${Math.ceil(e.retryAfterMs / 1000)} s, longer than a run waits (${Math.round(maxWait / 1000)} s)`,
        );
      }
      const jitter = Math.random() * backoff;
      const waitMs = e.retryAfterMs ?? Math.min(maxWait, backoff * 2 ** attempt + jitter);
      opts.onRetry?.({ url: raw, attempt: attempt + 1, waitMs, reason: e.message });
      await sleep(waitMs);
    }
  }
  throw new PaperboyError('SOURCE', `${raw}: gave up after ${opts.retries + 1} attempts: ${lastError}`);
}

async function getOnce(raw: string, opts: HttpOptions): Promise<string> {
  const doFetch = opts.fetchImpl ?? fetch;
  let url = assertAllowedUrl(raw);
  const origin = url.host;
  for (let hop = 0; ; hop++) {
    let res: Response;
    try {
      res = await doFetch(url, {
        redirect: 'manual',
        signal: AbortSignal.timeout(opts.timeoutMs),
        headers: { accept: 'application/json', 'user-agent': 'paperboy-digest/0.1 (+self-hosted)' },
      });
    } catch (e) {
      const reason =
        (e as Error).name === 'TimeoutError' ? `timed out after ${opts.timeoutMs} ms` : `network error: ${(e as Error).message}`;
      throw new Retryable(reason);
    }
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel();
      const location = res.headers.get('location');
      if (!location || hop >= MAX_REDIRECTS) throw new PaperboyError('SOURCE', `${raw}: too many or empty redirects`);
      const next = new URL(location, url);
      if (next.host !== origin || next.protocol !== url.protocol) {
        throw new PaperboyError('SOURCE', `${raw}: refused redirect to another host (${next.origin})`);
      }
      url = next;
      continue;
    }
    if (res.status === 429 || res.status >= 500) {
      await res.body?.cancel();
      throw new Retryable(`HTTP ${res.status}`, parseRetryAfter(res.headers.get('retry-after')));
    }
    if (!res.ok) {
      const reason = await errorReason(res);
      throw new PaperboyError('SOURCE', `${url.href}: HTTP ${res.status} ${res.statusText}${reason ? ` (${reason})` : ''}`);
    }
    return readCapped(res, opts.maxBytes, url.href);
  }
}

async function readCapped(res: Response, maxBytes: number, where: string): Promise<string> {
  const declared = Number(res.headers.get('content-length'));
  if (declared > maxBytes) {
    await res.body?.cancel();
    throw new PaperboyError('SOURCE', `${where}: response of ${declared} bytes exceeds the ${maxBytes}-byte cap (SOURCE_MAX_BYTES)`);
  }
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for await (const chunk of res.body) {
      total += chunk.byteLength;
      if (total > maxBytes) {
        throw new PaperboyError('SOURCE', `${where}: response exceeds the ${maxBytes}-byte cap (SOURCE_MAX_BYTES)`);
      }
      chunks.push(chunk);
    }
  } catch (e) {
    if (e instanceof PaperboyError) throw e;
    throw new Retryable(`body interrupted: ${(e as Error).message}`);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Longest server explanation quoted in an error: enough for "Invalid date format", not a whole HTML page. */
const REASON_CHARS = 200;
/** Bytes of a 4xx body read for its reason. */
const REASON_BYTES = 4096;
/** A 4xx body that trickles is not waited for longer than this: the status alone already says enough. */
const REASON_WAIT_MS = 2000;

/**
 * What a 4xx body says went wrong (the API answers `{"error": "..."}`), so an operator sees
 * "date must be YYYY-MM-DD" rather than a bare 400. Read only up to a few KB for at most two
 * seconds, and quoted as one line of printable text: it is the server's words, going into a log.
 */
async function errorReason(res: Response): Promise<string> {
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    reader = res.body.getReader();
    const deadline = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), REASON_WAIT_MS)));
    for (let total = 0; total < REASON_BYTES; ) {
      const next = await Promise.race([reader.read(), deadline]);
      if (next === 'late' || next.done) break;
      chunks.push(next.value);
      total += next.value.byteLength;
    }
  } catch {
    // A body that fails half-way: what arrived before is still the server's reason.
  } finally {
    clearTimeout(timer);
    await reader?.cancel().catch(() => {});
  }
  return reasonLine(Buffer.concat(chunks).toString('utf8'));
}

/** The reason a 4xx body gives, as one short line of printable text ('' for an HTML page or nothing). */
export function reasonLine(text: string): string {
  let said = text;
  try {
    const json: unknown = JSON.parse(text);
    if (typeof json === 'string') said = json;
    else if (json && typeof json === 'object') {
      const o = json as Record<string, unknown>;
      const nested = o.error && typeof o.error === 'object' ? (o.error as Record<string, unknown>).message : undefined;
      const field = [o.error, nested, o.message, o.detail].find((v) => typeof v === 'string');
      if (typeof field === 'string') said = field;
    }
  } catch {
    // Not JSON (plain text, or JSON cut at the byte limit): its text is the reason.
  }
  if (/^\s*</.test(said)) return ''; // markup says nothing useful in one line
  // \p{C}: controls, format characters (bidi overrides), lone surrogates, private use, unassigned.
  const points = [...said.replace(/\p{C}+/gu, ' ').replace(/\s+/g, ' ').trim()];
  return points.length > REASON_CHARS ? `${points.slice(0, REASON_CHARS).join('')}…` : points.join('');
}

/** Retry-After is either delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}
