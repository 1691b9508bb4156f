/**
 * Subscribers: one YAML file per person in the subscribers folder, the file
 * name (without .yaml) being their id. Every writer (CLI, admin page,
 * unsubscribe endpoint) goes through this store so the same schema guards all
 * of them and every write is atomic.
 */
import { readdir, readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import YAML from 'yaml';
import { PaperboyError } from './errors.js';
import { isTimeZone } from './config.js';
import { matchableTerm, TOPIC_ID, type Catalog } from './catalog.js';
import { contentVersion, formatIssues, readTextIfExists, readYaml, strictObject, withFileLock, writeFileAtomic, type YamlRead } from './yamlfile.js';

export const SUBSCRIBER_ID = /^[a-z0-9][a-z0-9_-]{0,63}$/;
export const STATUSES = ['active', 'paused', 'unsubscribed', 'bouncing'] as const;
export type Status = (typeof STATUSES)[number];

// One plain address: no display name, no list, no header injection.
// The local part is dot-separated atoms (RFC 5322): no leading, trailing or doubled dot.
const EMAIL =
  /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

export const subscriberSchema = strictObject({
  email: z
    .string()
    .trim()
    .max(254)
    .refine((s) => !/[\r\n]/.test(s), 'must not contain line breaks')
    .refine((s) => EMAIL.test(s), 'must be exactly one plain address, e.g. ada@example.org'),
  name: z
    .string()
    .trim()
    .max(100)
    .refine((s) => !/[\r\n<>"]/.test(s), 'must not contain line breaks, <, > or "')
    .optional(),
  topics: z.array(z.string().regex(TOPIC_ID, 'must be a topic id such as "peft"')).default([]),
  /** Extra keywords or phrases of their own, matched like catalog keywords. */
  keywords: z.array(matchableTerm.max(100)).max(50).default([]),
  /** Favourite authors: their papers go first, marked. */
  authors: z.array(z.string().trim().min(1).max(100)).max(50).default([]),
  max_papers: z.number().int().min(1).max(200).default(30),
  min_upvotes: z.number().int().min(0).default(0),
  /** Also include the N most upvoted papers of the day, whatever their topic (0 = off). */
  top_of_day: z.number().int().min(0).max(20).default(0),
  status: z.enum(STATUSES).default('active'),
  /** Own delivery time zone and hour (`paperboy schedule`); defaults to DIGEST_TZ and the cron hour. */
  timezone: z.string().refine(isTimeZone, 'must be an IANA time zone such as Europe/Berlin').optional(),
  hour: z.number().int().min(0).max(23).optional(),
});

export type SubscriberData = z.infer<typeof subscriberSchema>;
export interface Subscriber extends SubscriberData {
  id: string;
  file: string;
  /** Content hash of the file as read: pass it back to `write` to refuse lost updates. */
  version: string;
}

export interface Problem {
  file: string;
  id?: string;
  message: string;
}

export interface LoadedSubscribers {
  subscribers: Subscriber[];
  problems: Problem[];
}

export function validateSubscriber(data: unknown, file: string, catalog: Catalog): SubscriberData {
  const parsed = subscriberSchema.safeParse(data);
  if (!parsed.success) throw new PaperboyError('SUBSCRIBER', formatIssues(file, parsed.error.issues).join('\n'));
  const known = new Set(catalog.topics.map((t) => t.id));
  const unknown = parsed.data.topics
    .map((t, i) => ({ t, i }))
    .filter(({ t }) => !known.has(t))
    .map(({ t, i }) => `${file}: topics[${i}]: unknown topic "${t}"; known topics: ${[...known].join(', ')}`);
  if (unknown.length) throw new PaperboyError('SUBSCRIBER', unknown.join('\n'));
  const { topics, keywords, authors, top_of_day } = parsed.data;
  if (topics.length === 0 && keywords.length === 0 && authors.length === 0 && top_of_day === 0) {
    throw new PaperboyError(
      'SUBSCRIBER',
      `${file}: topics: follow at least one topic (e.g. topics: [peft]), or set keywords, authors or top_of_day`,
    );
  }
  return { ...parsed.data, topics: [...new Set(parsed.data.topics)] };
}

export function assertSubscriberId(id: string): string {
  // "new" is the admin page's path for adding someone.
  if (!SUBSCRIBER_ID.test(id) || id === 'new') {
    throw new PaperboyError(
      'USAGE',
      `"${id}" is not a subscriber id: use lower-case letters, digits, "-" and "_" (e.g. "ada"), at most 64 characters`,
    );
  }
  return id;
}

export class SubscriberStore {
  constructor(
    readonly dir: string,
    private readonly catalog: Catalog,
  ) {}

  fileFor(id: string): string {
    return path.join(this.dir, `${assertSubscriberId(id)}.yaml`);
  }

  /** Every subscriber file; bad ones become problems, never exceptions. Duplicate emails: the first file (by name) wins. */
  async list(): Promise<LoadedSubscribers> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (e) {
      throw new PaperboyError('SUBSCRIBER', `${this.dir}: cannot read subscribers folder (${(e as NodeJS.ErrnoException).code})`);
    }
    const files = names.filter((n) => n.endsWith('.yaml') && n !== 'topics.yaml' && !n.startsWith('.')).sort();
    const subscribers: Subscriber[] = [];
    const problems: Problem[] = [];
    // A subscriber saved as bob.yml would otherwise be silently left out of every digest.
    const misnamed = (n: string) => /\.ya?ml$/i.test(n) && !n.endsWith('.yaml') && !n.startsWith('.') && !/^topics\./i.test(n);
    for (const name of names.filter(misnamed).sort()) {
      const file = path.join(this.dir, name);
      const fixed = name.replace(/\.ya?ml$/i, '.yaml');
      problems.push({ file, message: `${file}: not read: subscriber files end in .yaml (rename it to ${fixed})` });
    }
    const byEmail = new Map<string, Subscriber>();
    for (const name of files) {
      const id = name.slice(0, -'.yaml'.length);
      const file = path.join(this.dir, name);
      if (!SUBSCRIBER_ID.test(id)) {
        problems.push({
          file,
          message: `${file}: file name must be a subscriber id (lower-case letters, digits, "-", "_") followed by .yaml`,
        });
        continue;
      }
      try {
        const sub = await this.readFile(id, file);
        const key = sub.email.toLowerCase();
        const first = byEmail.get(key);
        if (first) {
          problems.push({ file, id, message: `${file}: email: ${sub.email} is already used by ${first.file}; skipped` });
          continue;
        }
        byEmail.set(key, sub);
        subscribers.push(sub);
      } catch (e) {
        problems.push({ file, id, message: e instanceof PaperboyError ? e.message : `${file}: ${(e as Error).message}` });
      }
    }
    return { subscribers, problems };
  }

  async get(id: string): Promise<Subscriber> {
    return this.readFile(id, this.fileFor(id));
  }

  private async readFile(id: string, file: string): Promise<Subscriber> {
    const read = await readYaml(file, 'SUBSCRIBER');
    return { ...validateSubscriber(read.data, file, this.catalog), id, file, version: read.version };
  }

  /**
   * Create or update a subscriber. With `expectedVersion`, refuse if the file
   * changed on disk since it was read (lost-update guard); with `create`,
   * refuse if it already exists. Comments in an existing file are kept.
   */
  async write(id: string, data: SubscriberData, opts: { expectedVersion?: string; create?: boolean } = {}): Promise<Subscriber> {
    const file = this.fileFor(id);
    const valid = validateSubscriber(data, file, this.catalog);
    // Checked before the lock: reading every file is slow, and another file's address seldom changes.
    const { subscribers } = await this.list();
    const clash = subscribers.find((s) => s.id !== id && s.email.toLowerCase() === valid.email.toLowerCase());
    if (clash) throw new PaperboyError('CONFLICT', `${file}: email: ${valid.email} is already used by ${clash.file}`);
    return withFileLock(file, async () => {
      let current: YamlRead | undefined;
      try {
        current = await readYaml(file, 'SUBSCRIBER');
      } catch (e) {
        if (!(e instanceof PaperboyError && e.code === 'NOT_FOUND')) {
          if (opts.expectedVersion === undefined) throw e;
        }
      }
      if (opts.create && current) throw new PaperboyError('CONFLICT', `${file}: subscriber "${id}" already exists`);
      if (opts.expectedVersion !== undefined && current?.version !== opts.expectedVersion) {
        throw new PaperboyError('CONFLICT', `${file}: changed on disk since it was loaded; reload and apply your edit again`);
      }
      await writeFileAtomic(file, renderSubscriberYaml(valid, current?.doc));
      return this.get(id);
    });
  }

  /**
   * Change only some fields (status, topics…), keeping the rest and the
   * comments. The read and the write happen under one lock, so a concurrent
   * change to another field (an unsubscribe) is kept, not overwritten.
   */
  async update(id: string, patch: Partial<SubscriberData>, expectedVersion?: string): Promise<Subscriber> {
    const file = this.fileFor(id);
    return withFileLock(file, async () => {
      const sub = await this.get(id);
      if (expectedVersion !== undefined && sub.version !== expectedVersion) {
        throw new PaperboyError('CONFLICT', `${file}: changed on disk since it was loaded; reload and apply your edit again`);
      }
      const { id: _id, file: _file, version: _version, ...data } = sub;
      const valid = validateSubscriber({ ...data, ...patch }, file, this.catalog);
      const current = await readYaml(file, 'SUBSCRIBER');
      await writeFileAtomic(file, renderSubscriberYaml(valid, current.doc));
      return this.get(id);
    });
  }

  /**
   * Set only `status`, keeping every other line of the file, even when some
   * other field is invalid (an unknown topic after a catalog edit): an
   * unsubscribe must never be blocked by an unrelated mistake in the file.
   */
  async setStatus(id: string, status: Status, expectedVersion?: string): Promise<void> {
    const file = this.fileFor(id);
    const value = z.enum(STATUSES).parse(status);
    await withFileLock(file, async () => {
      const text = await readTextIfExists(file);
      if (text === undefined) throw new PaperboyError('NOT_FOUND', `${file}: cannot read (ENOENT)`);
      if (expectedVersion !== undefined && contentVersion(text) !== expectedVersion) {
        throw new PaperboyError('CONFLICT', `${file}: changed on disk since it was loaded; reload and apply your edit again`);
      }
      const doc = YAML.parseDocument(text, { uniqueKeys: true });
      if (doc.errors.length > 0) {
        // Not even YAML (a duplicate key, an unclosed list): edit the line, so the admin's fix keeps the status.
        await writeFileAtomic(file, withStatusLine(text, value));
        return;
      }
      if (!YAML.isMap(doc.contents)) throw new PaperboyError('SUBSCRIBER', `${file}: (top level): must be a mapping`);
      doc.set('status', value);
      await writeFileAtomic(file, doc.toString({ lineWidth: 0, flowCollectionPadding: false }));
    });
  }

  /**
   * Subscribers whose file names the topic, including files with some other problem (they would lose it
   * silently): by their parsed `topics` where the YAML reads, by the id appearing in the text where it
   * does not (or the file is misnamed .yml); those are named by file.
   */
  async followers(topic: string): Promise<string[]> {
    const { subscribers, problems } = await this.list();
    const out = subscribers.filter((s) => s.topics.includes(topic)).map((s) => s.id);
    for (const p of problems) {
      const data = p.id ? (await readYaml(p.file, 'SUBSCRIBER').catch(() => undefined))?.data : undefined;
      if (data !== undefined) {
        const topics = (data as { topics?: unknown } | null)?.topics;
        if (Array.isArray(topics) && topics.includes(topic)) out.push(p.id!);
      } else if (await mentions(p.file, topic)) out.push(path.basename(p.file));
    }
    return out;
  }

  /**
   * Replace topic id `from` by `to` in every subscriber file that follows it, keeping every other line,
   * even in files with some other problem. Returns the ids of the files changed; each is written
   * atomically under its lock. A file that names `from` but cannot be rewritten (not valid YAML, or
   * misnamed .yml) is left as it is and reported, after the others are done.
   */
  async renameTopic(from: string, to: string): Promise<string[]> {
    const { problems } = await this.list();
    const unreadable = new Set(problems.filter((p) => !p.id).map((p) => p.file));
    const names = (await readdir(this.dir)).filter((n) => n.endsWith('.yaml') && n !== 'topics.yaml' && !n.startsWith('.')).sort();
    const changed: string[] = [];
    for (const name of names) {
      const id = name.slice(0, -'.yaml'.length);
      if (!SUBSCRIBER_ID.test(id)) continue;
      const file = path.join(this.dir, name);
      await withFileLock(file, async () => {
        let current: YamlRead;
        try {
          current = await readYaml(file, 'SUBSCRIBER');
        } catch {
          unreadable.add(file);
          return;
        }
        const topics = current.doc.get('topics', true);
        if (!YAML.isSeq(topics)) return;
        const named = (item: unknown, t: string) => YAML.isScalar(item) && item.value === t;
        if (!topics.items.some((item) => named(item, from))) return;
        // The first mention of either id becomes the new id; any other mention of either goes.
        const first = topics.items.findIndex((item) => named(item, from) || named(item, to));
        topics.items = topics.items.filter((item, i) => i === first || !(named(item, from) || named(item, to)));
        (topics.items[first] as YAML.Scalar).value = to;
        await writeFileAtomic(file, current.doc.toString({ lineWidth: 0, flowCollectionPadding: false }));
        changed.push(id);
      });
    }
    const stuck: string[] = [];
    for (const file of unreadable) if (await mentions(file, from)) stuck.push(file);
    if (stuck.length) {
      throw new PaperboyError(
        'SUBSCRIBER',
        `cannot change topic "${from}" in ${stuck.join(', ')}: not a readable subscriber file (YAML error or not named .yaml); ` +
          'fix it (or change the topic there by hand), then run the rename again to finish it',
      );
    }
    return changed;
  }

  /** Delete a subscriber's file; with `expectedVersion`, refuse if it changed on disk since it was read. */
  async remove(id: string, expectedVersion?: string): Promise<void> {
    const file = this.fileFor(id);
    await withFileLock(file, async () => {
      if (expectedVersion !== undefined) {
        const current = await readYaml(file, 'SUBSCRIBER');
        if (current.version !== expectedVersion) {
          throw new PaperboyError('CONFLICT', `${file}: changed on disk since it was loaded; reload and try again`);
        }
      }
      try {
        await unlink(file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new PaperboyError('NOT_FOUND', `${file}: no such subscriber "${id}"`);
        throw e;
      }
    });
  }
}

/** Does the file's text name this topic id (as a whole word)? For files that cannot be parsed. */
async function mentions(file: string, topic: string): Promise<boolean> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const escaped = topic.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[^a-z0-9-])${escaped}($|[^a-z0-9-])`, 'm').test(text);
}

const DEFAULTS: Partial<SubscriberData> = { keywords: [], authors: [], max_papers: 30, min_upvotes: 0, top_of_day: 0, status: 'active' };
const KEY_ORDER: Array<keyof SubscriberData> = [
  'email',
  'name',
  'status',
  'topics',
  'keywords',
  'authors',
  'max_papers',
  'min_upvotes',
  'top_of_day',
  'timezone',
  'hour',
];

/** YAML text for a subscriber; edits an existing document in place so its comments survive. */
export function renderSubscriberYaml(data: SubscriberData, existing?: YAML.Document.Parsed): string {
  const doc = existing ?? new YAML.Document({});
  for (const key of KEY_ORDER) {
    const value = data[key];
    const isDefault = value === undefined || JSON.stringify(value) === JSON.stringify(DEFAULTS[key]);
    if (isDefault && !doc.has(key)) continue;
    if (value === undefined) {
      doc.delete(key);
      continue;
    }
    const node = doc.createNode(value);
    if (Array.isArray(value) && YAML.isSeq(node)) node.flow = value.length <= 8;
    // Keep comments attached to the old node.
    const old = doc.get(key, true);
    if (old && YAML.isNode(old) && YAML.isNode(node)) {
      node.comment = old.comment;
      node.commentBefore = old.commentBefore;
    }
    doc.set(key, node);
  }
  return doc.toString({ lineWidth: 0, flowCollectionPadding: false });
}

/**
 * `text` with its top-level `status:` lines (and any value continued on indented lines below) set to
 * `status`, or one added: for a file whose YAML does not parse.
 */
export function withStatusLine(text: string, status: Status): string {
  const line = `status: ${status}`;
  const existing = /^status[ \t]*:.*(?:\r?\n[ \t]+\S.*)*$/gm;
  if (existing.test(text)) return text.replace(existing, line);
  return `${text}${text === '' || text.endsWith('\n') ? '' : '\n'}${line}\n`;
}

/**
 * The address on a subscriber file's one top-level `email:` line, read as plain text: how a signed link is
 * still checked when the file's YAML does not parse (a one-click unsubscribe must survive an admin's typo).
 * None when the text is ambiguous (two email lines, as when an address is being changed, or more than one
 * YAML document): the link must match the address the file gives, not one of several.
 */
export function addressInText(text: string): string | undefined {
  if (/^---/m.test(text)) return undefined;
  const lines = [...text.matchAll(/^email[ \t]*:[ \t]*(.*)$/gm)];
  if (lines.length !== 1) return undefined;
  const value = lines[0]![1]!.replace(/\s+#.*$/, '').trim();
  const unquoted = (/^(["'])(.*)\1$/.exec(value)?.[2] ?? value).trim();
  return unquoted || undefined;
}
