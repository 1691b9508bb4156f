/**
 * The topic catalog (subscribers/topics.yaml): which topics exist and the
 * terms that file a paper under each. Admins edit it; the matcher compiles it.
 */
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import YAML from 'yaml';
import { PACKAGE_ROOT } from './config.js';
import { PaperboyError } from './errors.js';
import { learnedFor, loadLearned, saveLearned, type Learned } from './learned.js';
import { termProblem } from './text.js';
import { formatIssues, plainMessage, readTextIfExists, readYaml, strictObject, withFileLock, writeFileAtomic } from './yamlfile.js';

export const TOPIC_ID = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

/**
 * A catalog term or subscriber keyword. Words are matched without punctuation, so one that would match
 * something other than what it says ("x+y" as the words "x y", "A*" any word starting with "a") is
 * refused with the reason.
 */
export const matchableTerm = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .superRefine((s, ctx) => {
    const problem = termProblem(s);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });
const plainTerm = matchableTerm;
// A negative weight marks a phrase that argues against the topic ("code is available" for `code`):
// it subtracts, where an exclusion would veto outright.
const weightedTerm = strictObject({
  term: matchableTerm,
  weight: z
    .number()
    .min(-5)
    .max(10)
    .refine((w) => w !== 0, 'must not be 0'),
});

/**
 * A string, or {term, weight}. Checked by its shape rather than as a union, so a typo inside
 * `{term: LoRA, weigth: 2}` is reported as that field's problem, not as zod's bare "Invalid input".
 */
const term = z.unknown().transform((v, ctx): string | z.infer<typeof weightedTerm> => {
  const r =
    typeof v === 'string'
      ? plainTerm.safeParse(v)
      : typeof v === 'object' && v !== null && !Array.isArray(v)
        ? weightedTerm.safeParse(v)
        : undefined;
  if (r?.success) return r.data;
  const problems = r?.error.issues ?? [{ message: 'must be a word or phrase, or {term: "...", weight: 0.5}', path: [] }];
  for (const iss of problems) ctx.addIssue({ code: 'custom', message: 'code' in iss ? plainMessage(iss) : iss.message, path: iss.path });
  return z.NEVER;
});

export const topicSchema = strictObject({
  id: z
    .string()
    .regex(TOPIC_ID, 'must be lower-case words joined by "-", e.g. "efficient-inference"')
    // These name the email's own sections (favourite authors, own keywords, top of the day).
    .refine((id) => !['authors', 'keywords', 'top-of-day'].includes(id), 'is reserved for a built-in section; choose another id'),
  name: z
    .string()
    .trim()
    .min(1)
    .max(80)
    .refine((s) => !/[\r\n]/.test(s), 'must be one line'),
  description: z.string().trim().max(300).default(''),
  /** Terms that file a paper here. A string has weight 1; {term, weight} sets its own. */
  keywords: z.array(term).min(1, 'needs at least one keyword, e.g. ["LoRA", "adapter"]'),
  /** Terms that veto this topic for a paper, whatever else matched. */
  exclude: z.array(matchableTerm).default([]),
  /** Overrides the catalog threshold for this topic (a trained topic files by its learned one, moved by any change to this: src/learned.ts). */
  threshold: z.number().positive().optional(),
  /** Overrides the catalog `relative` for this topic (0 for aspects such as benchmarks, which sit beside any subject). */
  relative: z.number().min(0).max(1).optional(),
});

export const catalogSchema = strictObject({
  version: z.literal(1).default(1),
  /** Minimum score for a paper to be filed under a topic. */
  threshold: z.number().positive().default(1),
  /**
   * A topic must also score at least this fraction of the paper's best topic: a paper that is
   * plainly about video generation is not also filed under vision for a passing "visual".
   */
  relative: z.number().min(0).max(1).default(0),
  topics: z.array(topicSchema).min(1),
}).superRefine((c, ctx) => {
  const seen = new Set<string>();
  c.topics.forEach((t, i) => {
    if (seen.has(t.id)) ctx.addIssue({ code: 'custom', path: ['topics', i, 'id'], message: `duplicate topic id "${t.id}"` });
    seen.add(t.id);
  });
});

export type Topic = z.infer<typeof topicSchema>;
/** The hand-written catalog, plus what training learned on top of it when subscribers/topics.learned.json exists. */
export type Catalog = z.infer<typeof catalogSchema> & { learned?: Learned };
export type TopicTerm = z.infer<typeof term>;

export const catalogPath = (subscribersDir: string) => path.join(subscribersDir, 'topics.yaml');

export function parseCatalog(data: unknown, file: string): Catalog {
  const parsed = catalogSchema.safeParse(data);
  if (!parsed.success) {
    throw new PaperboyError('CATALOG', `Topic catalog is invalid:\n${formatIssues(file, parsed.error.issues).join('\n')}`);
  }
  return parsed.data;
}

export async function loadCatalog(subscribersDir: string): Promise<LoadedCatalog> {
  const file = catalogPath(subscribersDir);
  const read = await readCatalogFile(file);
  return { ...parseCatalog(read.data, file), learned: await loadLearned(subscribersDir), version_hash: read.version, file };
}

/** topics.yaml, read; a missing one is named with the way out (the bundled catalog to copy). */
function readCatalogFile(file: string) {
  return readYaml(file, 'CATALOG').catch((e: unknown) => {
    if (e instanceof PaperboyError && e.code === 'NOT_FOUND') {
      throw new PaperboyError(
        'CATALOG',
        `${file}: topic catalog not found; to edit topics here, copy the default one (${catalogPath(BUNDLED_SUBSCRIBERS)}) to it first`,
      );
    }
    throw e;
  });
}

export type LoadedCatalog = Catalog & {
  version_hash: string;
  file: string;
  /** Set when the subscribers folder had no topics.yaml and the bundled default catalog stands in (read only). */
  bundled?: true;
};

/** The default catalog that ships with Paperboy (and its learned terms). */
export const BUNDLED_SUBSCRIBERS = path.join(PACKAGE_ROOT, 'subscribers');

/**
 * The folder's catalog, or, when the folder has no topics.yaml (a folder of subscriber files only, or none
 * at all, as for `preview --topics` run elsewhere), the bundled default one, marked `bundled`. Edits still
 * go to the folder's own topics.yaml, and are refused until it has one.
 */
export async function loadCatalogOrBundled(subscribersDir: string): Promise<LoadedCatalog> {
  if (path.resolve(subscribersDir) === BUNDLED_SUBSCRIBERS || existsSync(catalogPath(subscribersDir))) return loadCatalog(subscribersDir);
  return { ...(await loadCatalog(BUNDLED_SUBSCRIBERS)), bundled: true };
}

const TOPIC_KEYS = ['id', 'name', 'description', 'keywords', 'exclude', 'threshold', 'relative'] as const;

/**
 * Add or change one topic in topics.yaml: validated with the same schemas as
 * loading (the whole catalog, so a duplicate id is caught), edited in place
 * so the file's comments survive, written atomically. With `expectedVersion`
 * (the `version_hash` the editor loaded), refuse if the file changed on disk
 * since; with `create`, refuse if the id exists; without it, refuse if it does not.
 */
export async function saveTopic(
  subscribersDir: string,
  input: unknown,
  opts: { expectedVersion?: string; create?: boolean } = {},
): Promise<LoadedCatalog> {
  const file = catalogPath(subscribersDir);
  return withFileLock(file, () => saveTopicLocked(file, subscribersDir, input, opts));
}

async function saveTopicLocked(
  file: string,
  subscribersDir: string,
  input: unknown,
  opts: { expectedVersion?: string; create?: boolean },
): Promise<LoadedCatalog> {
  const read = await readCatalogFile(file);
  if (opts.expectedVersion !== undefined && read.version !== opts.expectedVersion) {
    throw new PaperboyError('CONFLICT', `${file}: changed on disk since it was loaded; reload and apply your edit again`);
  }
  const parsed = topicSchema.safeParse(input);
  if (!parsed.success) throw new PaperboyError('CATALOG', formatIssues(file, parsed.error.issues).join('\n'));
  const current = parseCatalog(read.data, file);
  const at = current.topics.findIndex((t) => t.id === parsed.data.id);
  const topic = parsed.data;
  if (opts.create && at >= 0) throw new PaperboyError('CONFLICT', `${file}: topic "${topic.id}" already exists`);
  if (!opts.create && at < 0) throw new PaperboyError('NOT_FOUND', `${file}: no topic "${topic.id}"`);
  const topics = at >= 0 ? current.topics.map((t, i) => (i === at ? topic : t)) : [...current.topics, topic];
  parseCatalog({ ...(read.data as object), topics }, file);

  const doc = read.doc;
  const seq = doc.get('topics', true);
  if (!YAML.isSeq(seq)) throw new PaperboyError('CATALOG', `${file}: topics: must be a list`);
  let node = seq.items.find((item) => YAML.isMap(item) && item.get('id') === topic.id);
  if (!node) {
    node = doc.createNode({});
    seq.items.push(node);
  }
  if (!YAML.isMap(node)) throw new PaperboyError('CATALOG', `${file}: topic "${topic.id}" is not a mapping`);
  for (const key of TOPIC_KEYS) setKeepingComments(doc, node, key, topic[key]);
  const text = doc.toString({ lineWidth: 0, flowCollectionPadding: true });
  // What goes to disk must read back as exactly what was validated.
  const check = parseCatalog(YAML.parse(text), file).topics.find((t) => t.id === topic.id);
  if (JSON.stringify(check) !== JSON.stringify(topic)) {
    throw new PaperboyError('CATALOG', `${file}: topic "${topic.id}" would not read back as saved; file left unchanged`);
  }
  await writeFileAtomic(file, text);
  return loadCatalog(subscribersDir);
}

function setKeepingComments(doc: YAML.Document, map: YAML.YAMLMap, key: string, value: unknown): void {
  const old = map.get(key, true);
  const empty = value === undefined || value === '' || (Array.isArray(value) && value.length === 0);
  if (value === undefined || (empty && old === undefined)) {
    if (value === undefined) map.delete(key);
    return;
  }
  const node = doc.createNode(value);
  if (YAML.isSeq(node)) {
    for (const item of node.items) if (YAML.isMap(item)) item.flow = true; // { term: low-rank, weight: 0.5 }
    const oldItems = YAML.isSeq(old) ? old.items : [];
    node.flow = YAML.isSeq(old) ? !!old.flow : node.items.length <= 4 && JSON.stringify(value).length < 60;
    // A kept term keeps the comment written next to it.
    node.items.forEach((item) => {
      const twin = oldItems.find(
        (o) => YAML.isNode(o) && YAML.isNode(item) && JSON.stringify(o.toJSON()) === JSON.stringify(item.toJSON()),
      );
      if (YAML.isNode(twin) && YAML.isNode(item)) {
        item.comment = twin.comment;
        item.commentBefore = twin.commentBefore;
      }
    });
  }
  if (YAML.isNode(old) && YAML.isNode(node)) {
    node.comment = old.comment;
    node.commentBefore = old.commentBefore;
  }
  map.set(key, node);
}

/**
 * Delete one topic from topics.yaml (comments elsewhere kept, written
 * atomically) and its entry from topics.learned.json, so a new topic given
 * the same id later does not inherit an old fit. Refused while anyone follows
 * it (`followers` is asked inside the lock), for the last topic, and, with
 * `expectedVersion`, when the file changed on disk since it was loaded.
 */
export async function removeTopic(
  subscribersDir: string,
  id: string,
  opts: { expectedVersion?: string; followers: () => Promise<string[]>; sameAs?: string },
): Promise<LoadedCatalog> {
  const file = catalogPath(subscribersDir);
  await withFileLock(file, async () => {
    const read = await readCatalogFile(file);
    if (opts.expectedVersion !== undefined && read.version !== opts.expectedVersion) {
      throw new PaperboyError('CONFLICT', `${file}: changed on disk since it was loaded; reload and apply your edit again`);
    }
    const current = parseCatalog(read.data, file);
    if (!current.topics.some((t) => t.id === id)) throw new PaperboyError('NOT_FOUND', `${file}: no topic "${id}"`);
    if (opts.sameAs !== undefined) {
      // Renaming: the old entry goes only if it still equals its copy, so an edit made meanwhile is not lost.
      const [a, b] = [id, opts.sameAs].map((t) => current.topics.find((x) => x.id === t));
      if (!b || JSON.stringify({ ...a, id: '' }) !== JSON.stringify({ ...b, id: '' })) {
        throw new PaperboyError(
          'CONFLICT',
          `${file}: topic "${id}" and its copy "${opts.sameAs}" differ (one was edited during the rename); make them the same, then run the rename again`,
        );
      }
    }
    if (current.topics.length === 1) throw new PaperboyError('CATALOG', `${file}: "${id}" is the only topic; a catalog needs at least one`);
    const followers = await opts.followers();
    if (followers.length > 0) {
      throw new PaperboyError(
        'CONFLICT',
        `${file}: topic "${id}" is followed by ${followers.join(', ')}; take it out of their topics first`,
      );
    }
    const seq = read.doc.get('topics', true);
    if (!YAML.isSeq(seq)) throw new PaperboyError('CATALOG', `${file}: topics: must be a list`);
    seq.items = seq.items.filter((item) => !(YAML.isMap(item) && item.get('id') === id));
    const text = read.doc.toString({ lineWidth: 0, flowCollectionPadding: true });
    parseCatalog(YAML.parse(text), file);
    await writeFileAtomic(file, text);
  });
  const learned = await loadLearned(subscribersDir);
  if (learned && learnedFor(learned, id)) {
    const topics = Object.fromEntries(Object.entries(learned.topics).filter(([t]) => t !== id));
    await saveLearned(subscribersDir, { ...learned, topics });
  }
  return loadCatalog(subscribersDir);
}

/** A rename in progress (subscribers/topics.rename.json): written before the first step, removed after the last. */
const renameJournal = z.object({ version: z.literal(1), from: z.string(), to: z.string(), since: z.string() });
export const renameJournalPath = (subscribersDir: string) => path.join(subscribersDir, 'topics.rename.json');

/** The unfinished rename of this subscribers folder, if any. */
export async function pendingRename(subscribersDir: string): Promise<z.infer<typeof renameJournal> | undefined> {
  const file = renameJournalPath(subscribersDir);
  const text = await readTextIfExists(file);
  if (text === undefined) return undefined;
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    data = undefined;
  }
  const parsed = renameJournal.safeParse(data);
  if (!parsed.success) throw new PaperboyError('CATALOG', `${file}: not a rename record; delete it if no rename is in progress`);
  return parsed.data;
}

/**
 * Rename a topic id everywhere it is used: topics.yaml, topics.learned.json and every subscriber
 * file that follows it (`renameInSubscribers`, which must also reach files with other problems).
 * A record of the rename (topics.rename.json) is written first and removed last, and each step
 * leaves a working state, so a rename cut short loses no follower and running it again finishes it:
 *   1. the topic is copied under the new id, next to the old one (both exist; nobody follows the new);
 *   2. its learned entry is copied too;
 *   3. each subscriber file switches from the old id to the new one (each file written atomically);
 *   4. the old id is removed from the catalog and the learned file, refused if anyone still follows
 *      it or if either copy was edited meanwhile.
 * Refused when the new id is taken or invalid, or while another rename is unfinished. The caller holds
 * the run lock, so no digest run reads a catalog older than the subscriber files it then reads.
 */
export async function renameTopic(
  subscribersDir: string,
  from: string,
  to: string,
  opts: { renameInSubscribers: () => Promise<string[]>; followers: () => Promise<string[]>; expectedVersion?: string },
): Promise<{ catalog: LoadedCatalog; subscribers: string[]; resumed: boolean }> {
  const file = catalogPath(subscribersDir);
  const journalFile = renameJournalPath(subscribersDir);
  const idCheck = topicSchema.shape.id.safeParse(to);
  if (!idCheck.success) throw new PaperboyError('USAGE', `new id "${to}": ${idCheck.error.issues[0]!.message}`);
  if (from === to) throw new PaperboyError('USAGE', `"${from}" is already the topic's id`);
  const pending = await pendingRename(subscribersDir);
  if (pending && (pending.from !== from || pending.to !== to)) {
    throw new PaperboyError(
      'CONFLICT',
      `the rename of "${pending.from}" to "${pending.to}" (started ${pending.since}) is unfinished; ` +
        `finish it first: paperboy topics rename ${pending.from} ${pending.to}`,
    );
  }
  const resumed = pending !== undefined;
  const hasFrom = await withFileLock(file, async () => {
    const read = await readCatalogFile(file);
    // Resuming, the catalog has changed since any form was loaded: by this rename's own first step.
    if (!resumed && opts.expectedVersion !== undefined && read.version !== opts.expectedVersion) {
      throw new PaperboyError('CONFLICT', `${file}: changed on disk since it was loaded; reload and apply your edit again`);
    }
    const current = parseCatalog(read.data, file);
    const old = current.topics.some((t) => t.id === from);
    const taken = current.topics.some((t) => t.id === to);
    if (!old && !(resumed && taken)) throw new PaperboyError('NOT_FOUND', `${file}: no topic "${from}"`);
    if (taken) {
      if (resumed) return old;
      throw new PaperboyError('CONFLICT', `${file}: a topic "${to}" already exists; choose another id`);
    }
    if (!resumed) await writeFileAtomic(journalFile, `${JSON.stringify({ version: 1, from, to, since: new Date().toISOString() })}\n`);
    const seq = read.doc.get('topics', true);
    if (!YAML.isSeq(seq)) throw new PaperboyError('CATALOG', `${file}: topics: must be a list`);
    const at = seq.items.findIndex((item) => YAML.isMap(item) && item.get('id') === from);
    // The copy keeps the old entry's layout (flow-style terms) and comments; only the id differs.
    const copy = (seq.items[at] as YAML.YAMLMap).clone() as YAML.YAMLMap;
    copy.set('id', to);
    seq.items.splice(at + 1, 0, copy);
    const text = read.doc.toString({ lineWidth: 0, flowCollectionPadding: true });
    parseCatalog(YAML.parse(text), file);
    await writeFileAtomic(file, text);
    return true;
  });
  const learned = await loadLearned(subscribersDir);
  const fit = learnedFor(learned, from);
  if (learned && fit && JSON.stringify(learnedFor(learned, to)) !== JSON.stringify(fit)) {
    // Right after the old entry (any entry under the new id is a leftover: the id was free), so once the
    // old one is removed the file reads as before but for the id.
    const topics = Object.fromEntries(
      Object.entries(learned.topics)
        .filter(([id]) => id !== to)
        .flatMap(([id, f]) =>
          id === from
            ? [
                [id, f],
                [to, fit],
              ]
            : [[id, f]],
        ),
    );
    await saveLearned(subscribersDir, { ...learned, topics });
  }
  const subscribers = await opts.renameInSubscribers();
  if (hasFrom) {
    await removeTopic(subscribersDir, from, { followers: opts.followers, sameAs: to });
  } else if (learned && fit) {
    // Cut short inside step 4: the catalog entry is gone, its learned entry is not.
    await saveLearned(subscribersDir, {
      ...learned,
      topics: Object.fromEntries(Object.entries(learned.topics).filter(([id]) => id !== from)),
    });
  }
  await rm(journalFile, { force: true });
  return { catalog: await loadCatalog(subscribersDir), subscribers, resumed };
}
