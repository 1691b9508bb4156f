/**
 * Reading and atomically writing the small YAML files admins edit by hand.
 * Writes go to a temp file in the same folder, are fsynced, then renamed over
 * the target, so a reader never sees half a file and a crash never loses one.
 */
import { open, readFile, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import lockfile from 'proper-lockfile';
import YAML from 'yaml';
import { z } from 'zod';
import { PaperboyError, type ErrorCode } from './errors.js';

export interface YamlRead {
  text: string;
  doc: YAML.Document.Parsed;
  data: unknown;
  /** Content hash: an optimistic-concurrency token for "changed on disk since you loaded it". */
  version: string;
}

export const contentVersion = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 16);

export async function readYaml(file: string, code: ErrorCode): Promise<YamlRead> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const errno = (e as NodeJS.ErrnoException).code;
    throw new PaperboyError(errno === 'ENOENT' ? 'NOT_FOUND' : code, `${file}: cannot read (${errno ?? (e as Error).message})`);
  }
  return parseYamlText(text, file, code);
}

export function parseYamlText(text: string, file: string, code: ErrorCode): YamlRead {
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0]!;
    // prettyErrors ends the message's first line with its position and a source excerpt: the position is said once, here.
    const where = first.linePos?.[0] ? `line ${first.linePos[0].line}, column ${first.linePos[0].col}` : 'somewhere';
    throw new PaperboyError(code, `${file}: YAML syntax error at ${where}: ${first.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`);
  }
  return { text, doc, data: doc.toJS({ maxAliasCount: 50 }), version: contentVersion(text) };
}

/**
 * A strict object whose unknown fields are named with the nearest known one,
 * since they are nearly always typos in a hand-edited file:
 * `unknown field "max_paper" (did you mean "max_papers"?); fields: email, name, …`.
 */
export function strictObject<T extends z.ZodRawShape>(shape: T) {
  const known = Object.keys(shape);
  return z
    .object(shape, {
      error: (iss) =>
        iss.code === 'unrecognized_keys'
          ? iss.keys
              .map((k) => {
                const near = nearest(k, known);
                return `unknown field "${k}"${near ? ` (did you mean "${near}"?)` : ''}`;
              })
              .join('; ') + `; fields: ${known.join(', ')}`
          : undefined,
    })
    .strict();
}

/**
 * The known name `word` is most likely a typo of (case aside): within one edit
 * for short names, two for longer ones, and never half the name rewritten, so
 * "tz" is not taken for "id" nor "note" for "name".
 */
function nearest(word: string, known: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  let best: { name: string; d: number } | undefined;
  for (const name of known) {
    const n = name.toLowerCase();
    const d = editDistance(w, n);
    const allowed = Math.min(w.length, n.length) <= 4 ? 1 : 2;
    if (d <= allowed && d < n.length / 2 && (!best || d < best.d)) best = { name, d };
  }
  return best?.name;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** zod issues → "file: field: message" lines. */
export function formatIssues(file: string, issues: z.core.$ZodIssue[]): string[] {
  return issues.map((i) => `${file}: ${formatPath(i.path) || '(top level)'}: ${plainMessage(i)}`);
}

const KINDS: Record<string, string> = {
  number: 'a number',
  int: 'a whole number',
  string: 'text',
  boolean: 'true or false',
  array: 'a list, e.g. [a, b]',
  object: 'a set of fields (name: value)',
};

/**
 * zod's own wording ("Invalid input: expected int, received number", "Too big: expected number
 * to be <=23") in the words of the file's reader; a schema's own message is kept as written.
 */
export function plainMessage(i: z.core.$ZodIssue): string {
  const count = (n: number | bigint, origin: string) =>
    origin === 'string' ? `${n} character${n === 1 ? '' : 's'}` : origin === 'array' ? `${n} item${n === 1 ? '' : 's'}` : String(n);
  if (i.code === 'invalid_type' && i.message.startsWith('Invalid input') && KINDS[i.expected]) {
    if (i.message.endsWith('received undefined')) return `is missing (required: ${KINDS[i.expected]})`;
    return `must be ${KINDS[i.expected]}`;
  }
  if (i.code === 'too_big' && i.message.startsWith('Too big')) {
    if (i.exact) return `must be exactly ${count(i.maximum, i.origin)}`;
    return `must be ${i.inclusive === false ? 'less than' : 'at most'} ${count(i.maximum, i.origin)}`;
  }
  if (i.code === 'too_small' && i.message.startsWith('Too small')) {
    if (i.exact) return `must be exactly ${count(i.minimum, i.origin)}`;
    if (i.origin === 'string' && Number(i.minimum) === 1) return 'must not be empty';
    if (i.origin === 'array' && Number(i.minimum) === 1) return 'must list at least one';
    return `must be ${i.inclusive === false ? 'more than' : 'at least'} ${count(i.minimum, i.origin)}`;
  }
  return i.message;
}

export function formatPath(p: PropertyKey[]): string {
  return p.reduce<string>((acc, k) => (typeof k === 'number' ? `${acc}[${k}]` : acc ? `${acc}.${String(k)}` : String(k)), '');
}

/** A file's text, or undefined when there is no such file; any other failure to read is thrown. */
export async function readTextIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

export async function writeFileAtomic(file: string, text: string): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', 0o644);
  try {
    try {
      await fh.writeFile(text, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
  } catch (e) {
    // A half-written temp file (a full disk, say) must not stay behind and take the space the next try needs.
    await unlink(tmp).catch(() => {});
    throw e;
  }
  // fsync the directory so the rename itself survives a power cut.
  const dir = await open(path.dirname(file), 'r');
  try {
    await dir.sync().catch(() => {});
  } finally {
    await dir.close();
  }
}

/**
 * Run `fn` holding an exclusive lock on `file` (a `<file>.lock` directory, so
 * it works across processes: the CLI, the web app and the daemon all write
 * subscriber files). Every read → check version → write sequence runs inside
 * it, so an unsubscribe can never be overwritten by a save that read the file
 * before it. A lock left by a crashed process goes stale after 10 s.
 */
export async function withFileLock<T>(file: string, fn: () => Promise<T>): Promise<T> {
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(file, {
      realpath: false,
      stale: 10_000,
      update: 2_000,
      retries: { retries: 60, minTimeout: 10, maxTimeout: 250, factor: 1.5 },
    });
  } catch (e) {
    throw new PaperboyError('CONFLICT', `${file}: busy (another writer holds ${file}.lock); try again`, { cause: e });
  }
  try {
    return await fn();
  } finally {
    await release().catch(() => {});
  }
}
