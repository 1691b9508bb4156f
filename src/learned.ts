/**
 * Learned topic terms (subscribers/topics.learned.json): what `npm run
 * train:topics` fitted to labelled papers on top of the hand-written catalog.
 *
 * Kept apart from topics.yaml on purpose: topics.yaml is short and written by
 * people (admins, the admin page); this file is long, machine-written and
 * replaced whole by each training run (the admin only ever drops the entry
 * of a topic it deletes). Deleting it falls back to the hand
 * catalog alone. A topic without an entry here (a new one, say) is filed by
 * its hand keywords and threshold.
 *
 * For a trained topic the matcher adds these weighted words to its keywords,
 * and the entry's threshold replaces the hand one: both were fitted together,
 * so "score ≥ threshold" is the trained model's decision (KEYWORDS_BAR × the
 * threshold for a topic with a term in the paper's ai_keywords: src/matcher.ts).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { PaperboyError } from './errors.js';
import { compileTerm } from './text.js';
import { formatIssues, withFileLock, writeFileAtomic } from './yamlfile.js';

/**
 * 2 added each topic's `hand` (what its threshold and floor were at fitting time). Version 1 files are
 * still read (their learned threshold and floor replace the hand ones, whatever the edits since); a
 * version-1 reader refuses a version-2 file by its version rather than by an unknown field.
 */
export const LEARNED_VERSION = 2;

export const learnedPath = (subscribersDir: string) => path.join(subscribersDir, 'topics.learned.json');

const learnedTopic = z
  .object({
    /** Replaces the hand threshold of this topic: it is in the same units, fitted together with `terms`. */
    threshold: z.number().positive(),
    /** Labelled papers of this topic the fit saw: a topic with few is less to be trusted. */
    positives: z.number().int().nonnegative(),
    /**
     * The topic's threshold and relative floor in topics.yaml (its own, or the catalog's) when it was
     * fitted. An admin who edits them afterwards means it: see `effectiveFiling`. Absent in version-1
     * files, whose learned threshold and floor simply replace the hand ones.
     */
    hand: z.object({ threshold: z.number().positive(), relative: z.number().min(0).max(1) }).strict().optional(),
    /** word → weight; a negative weight argues against the topic. */
    terms: z.record(
      z.string().refine((w) => compileTerm(w) !== undefined, 'must be a word or phrase, e.g. "acoustic"'),
      z
        .number()
        .min(-20)
        .max(20)
        .refine((w) => w !== 0, 'must not be 0'),
    ),
  })
  .strict();

export const learnedSchema = z
  .object({
    version: z.union([z.literal(1), z.literal(LEARNED_VERSION)]),
    about: z.string().optional(),
    /** Where the fit came from, so a reader can tell a stale file. */
    trainedOn: z
      .object({
        labels: z.string(),
        papers: z.number().int().nonnegative(),
        options: z.record(z.string(), z.number()),
      })
      .strict(),
    /**
     * The `relative` floor (see topics.yaml) for trained topics, in place of the catalog's: chosen
     * by cross-validation together with the training options.
     */
    relative: z.number().min(0).max(1).default(0),
    topics: z.record(z.string(), learnedTopic),
  })
  .strict();

export type Learned = z.infer<typeof learnedSchema>;
export type LearnedTopic = z.infer<typeof learnedTopic>;

/**
 * The learned entry of one topic. Own keys only: a topic may be called "constructor" or
 * "toString", and an inherited property must never read as a trained topic.
 */
export function learnedFor(learned: Learned | undefined, topicId: string): LearnedTopic | undefined {
  return learned && Object.hasOwn(learned.topics, topicId) ? learned.topics[topicId] : undefined;
}

/** The learned file of a subscribers folder, or undefined when there is none. */
export async function loadLearned(subscribersDir: string): Promise<Learned | undefined> {
  const file = learnedPath(subscribersDir);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new PaperboyError('CATALOG', `${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  // Callers load the catalog per run and per admin request; validating ~20k terms anew each time is wasted work.
  if (last?.file === file && last.text === text) return last.learned;
  const learned = parseLearned(text, file);
  last = { file, text, learned };
  return learned;
}

let last: { file: string; text: string; learned: Learned } | undefined;

export function parseLearned(text: string, file: string): Learned {
  const fix = 're-run `npm run train:topics`, or delete the file to file papers by the hand keywords alone';
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new PaperboyError('CATALOG', `${file}: not valid JSON (${(e as Error).message}); ${fix}`);
  }
  const parsed = learnedSchema.safeParse(data);
  if (!parsed.success) {
    throw new PaperboyError(
      'CATALOG',
      `${file}: learned terms are invalid; ${fix}:\n${formatIssues(file, parsed.error.issues).join('\n')}`,
    );
  }
  return parsed.data;
}

/** Replaces the learned file whole (atomically, under the file lock). */
export async function saveLearned(subscribersDir: string, learned: Learned): Promise<string> {
  const file = learnedPath(subscribersDir);
  const text = `${JSON.stringify(learnedSchema.parse(learned), null, 1)}\n`;
  await withFileLock(file, () => writeFileAtomic(file, text));
  return file;
}

/**
 * The threshold and relative floor a topic is filed by. Untrained: its own (or the catalog's). Trained:
 * the fitted ones, moved by an admin's later edit, so that a threshold raised in topics.yaml or on the
 * admin page always takes effect, and the fit is kept while nobody touches it:
 * - the threshold in proportion to the topic's hand threshold (catalog's if it has none) since the fit:
 *   the two are on different scales (hand ~3.5, learned ~2–3.5), so raising 3.5 to 4.2 (+20%) raises a
 *   learned 2.5 to 3, and lowering never reaches 0 (every paper with any matched term);
 * - the floor only when the topic sets its own `relative`, different from the one at fitting time: a
 *   change to the catalog-wide floor leaves trained topics on their fitted one (0), as before.
 */
export function effectiveFiling(
  fit: LearnedTopic | undefined,
  learned: Learned | undefined,
  hand: { threshold: number; relative: number; ownRelative?: number },
): { threshold: number; relative: number } {
  if (!fit || !learned) return { threshold: hand.threshold, relative: hand.relative };
  if (!fit.hand) return { threshold: fit.threshold, relative: learned.relative };
  const threshold = Math.round(fit.threshold * (hand.threshold / fit.hand.threshold) * 1000) / 1000;
  const edited = hand.ownRelative !== undefined && hand.ownRelative !== fit.hand.relative;
  return { threshold, relative: edited ? hand.ownRelative! : learned.relative };
}
