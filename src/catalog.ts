/**
 * The topic catalog (subscribers/topics.yaml): which topics exist and the
 * terms that file a paper under each. Admins edit it; the matcher compiles it.
 */
import path from 'node:path';
import { z } from 'zod';
import { PaperboyError } from './errors.js';
import { formatIssues, readYaml } from './yamlfile.js';

export const TOPIC_ID = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

const term = z.union([
  z.string().trim().min(1, 'must not be empty'),
  // A negative weight marks a phrase that argues against the topic ("code is available" for `code`):
  // it subtracts, where an exclusion would veto outright.
  z
    .object({
      term: z.string().trim().min(1),
      weight: z
        .number()
        .min(-5)
        .max(10)
        .refine((w) => w !== 0, 'must not be 0'),
    })
    .strict(),
]);

export const topicSchema = z
  .object({
    id: z.string().regex(TOPIC_ID, 'must be lower-case words joined by "-", e.g. "efficient-inference"'),
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
    exclude: z.array(z.string().trim().min(1)).default([]),
    /** Overrides the catalog threshold for this topic. */
    threshold: z.number().positive().optional(),
    /** Overrides the catalog `relative` for this topic (0 for aspects such as benchmarks, which sit beside any subject). */
    relative: z.number().min(0).max(1).optional(),
  })
  .strict();

export const catalogSchema = z
  .object({
    version: z.literal(1).default(1),
    /** Minimum score for a paper to be filed under a topic. */
    threshold: z.number().positive().default(1),
    /**
     * A topic must also score at least this fraction of the paper's best topic: a paper that is
     * plainly about video generation is not also filed under vision for a passing "visual".
     */
    relative: z.number().min(0).max(1).default(0),
    topics: z.array(topicSchema).min(1),
  })
  .strict()
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.topics.forEach((t, i) => {
      if (seen.has(t.id)) ctx.addIssue({ code: 'custom', path: ['topics', i, 'id'], message: `duplicate topic id "${t.id}"` });
      seen.add(t.id);
    });
  });

export type Topic = z.infer<typeof topicSchema>;
export type Catalog = z.infer<typeof catalogSchema>;
export type TopicTerm = z.infer<typeof term>;

export const catalogPath = (subscribersDir: string) => path.join(subscribersDir, 'topics.yaml');

export function parseCatalog(data: unknown, file: string): Catalog {
  const parsed = catalogSchema.safeParse(data);
  if (!parsed.success) {
    throw new PaperboyError('CATALOG', `Topic catalog is invalid:\n${formatIssues(file, parsed.error.issues).join('\n')}`);
  }
  return parsed.data;
}

export async function loadCatalog(subscribersDir: string): Promise<Catalog & { version_hash: string; file: string }> {
  const file = catalogPath(subscribersDir);
  const read = await readYaml(file, 'CATALOG').catch((e: unknown) => {
    if (e instanceof PaperboyError && e.code === 'NOT_FOUND') {
      throw new PaperboyError(
        'CATALOG',
        `${file}: topic catalog not found; every subscribers folder needs a topics.yaml (copy the bundled subscribers/topics.yaml)`,
      );
    }
    throw e;
  });
  return { ...parseCatalog(read.data, file), version_hash: read.version, file };
}

export const topicById = (catalog: Catalog) => new Map(catalog.topics.map((t) => [t.id, t]));
