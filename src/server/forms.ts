/**
 * Form fields ⇄ the data the YAML files hold, checked with the very schemas
 * that check the files (subscriberSchema, topicSchema), with each problem
 * attached to the field it concerns.
 */
import type { z } from 'zod';
import { topicSchema, type Catalog, type Topic, type TopicTerm } from '../catalog.js';
import { subscriberSchema, SUBSCRIBER_ID, type SubscriberData } from '../subscribers.js';
import type { FieldErrors } from './html.js';
import { plainMessage } from '../yamlfile.js';

export type FormBody = Record<string, string | File | Array<string | File>>;

export function field(body: FormBody, name: string): string {
  const v = body[name];
  const first = Array.isArray(v) ? v[0] : v;
  return typeof first === 'string' ? first : '';
}

export function fieldList(body: FormBody, name: string): string[] {
  const v = body[name];
  return (Array.isArray(v) ? v : v === undefined ? [] : [v]).filter((x): x is string => typeof x === 'string');
}

/** One entry per non-empty line. */
export const lines = (s: string) =>
  s
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);

/** "" → absent (the schema default applies); digits → number; anything else stays text so the schema names the problem. */
function numberField(s: string): number | string | undefined {
  const t = s.trim();
  if (t === '') return undefined;
  return /^-?\d+(\.\d+)?$/.test(t) ? Number(t) : t;
}

/** zod issues → one message per form field (the first problem of each). */
export function issuesByField(issues: z.core.$ZodIssue[], label: (path: PropertyKey[]) => string = () => ''): FieldErrors {
  const out: FieldErrors = {};
  for (const i of issues) {
    const key = String(i.path[0] ?? '_form');
    out[key] ??= `${label(i.path)}${plainMessage(i)}`;
  }
  return out;
}

const lineLabel = (p: PropertyKey[]) => (typeof p[1] === 'number' ? `line ${p[1] + 1}: ` : '');

// --- Subscribers ---------------------------------------------------------------

/**
 * Ticked topics in the order the subscriber already had them (it decides the
 * order of sections in their email), newly ticked ones after, in form order.
 */
export function keepOrder(chosen: string[], previous: readonly string[]): string[] {
  const rank = (t: string) => {
    const i = previous.indexOf(t);
    return i === -1 ? previous.length : i;
  };
  return [...new Set(chosen)]
    .map((t, i) => ({ t, i }))
    .sort((a, b) => rank(a.t) - rank(b.t) || a.i - b.i)
    .map(({ t }) => t);
}

/** The subscriber form's fields as typed (for re-display after an error). */
export interface SubscriberForm {
  id: string;
  email: string;
  name: string;
  status: string;
  topics: string[];
  keywords: string;
  authors: string;
  max_papers: string;
  min_upvotes: string;
  top_of_day: string;
  timezone: string;
  hour: string;
}

export function subscriberFormFromBody(body: FormBody): SubscriberForm {
  return {
    id: field(body, 'id').trim(),
    email: field(body, 'email'),
    name: field(body, 'name'),
    status: field(body, 'status') || 'active',
    topics: fieldList(body, 'topics'),
    keywords: field(body, 'keywords'),
    authors: field(body, 'authors'),
    max_papers: field(body, 'max_papers'),
    min_upvotes: field(body, 'min_upvotes'),
    top_of_day: field(body, 'top_of_day'),
    timezone: field(body, 'timezone'),
    hour: field(body, 'hour'),
  };
}

export function subscriberFormFromData(id: string, d: Partial<Record<keyof SubscriberData, unknown>>): SubscriberForm {
  const text = (v: unknown) => (v === undefined || v === null ? '' : String(v));
  const list = (v: unknown) => (Array.isArray(v) ? v.map(String) : []);
  return {
    id,
    email: text(d.email),
    name: text(d.name),
    status: text(d.status) || 'active',
    topics: list(d.topics),
    keywords: list(d.keywords).join('\n'),
    authors: list(d.authors).join('\n'),
    max_papers: text(d.max_papers ?? 30),
    min_upvotes: text(d.min_upvotes ?? 0),
    top_of_day: text(d.top_of_day ?? 0),
    timezone: text(d.timezone),
    hour: text(d.hour),
  };
}

/** Validate a subscriber form: the data to write, or errors per field. */
export function checkSubscriberForm(
  form: SubscriberForm,
  catalog: Catalog,
  opts: { creating: boolean },
): { data?: SubscriberData; errors: FieldErrors } {
  const raw: Record<string, unknown> = {
    email: form.email,
    name: form.name.trim() === '' ? undefined : form.name,
    status: form.status,
    topics: form.topics,
    keywords: lines(form.keywords),
    authors: lines(form.authors),
    max_papers: numberField(form.max_papers),
    min_upvotes: numberField(form.min_upvotes),
    top_of_day: numberField(form.top_of_day),
    timezone: form.timezone.trim() === '' ? undefined : form.timezone.trim(),
    hour: numberField(form.hour),
  };
  for (const k of Object.keys(raw)) if (raw[k] === undefined) delete raw[k];
  const errors: FieldErrors = {};
  if (opts.creating && !SUBSCRIBER_ID.test(form.id)) {
    errors.id = 'use lower-case letters, digits, "-" and "_" (e.g. "ada"), at most 64 characters';
  }
  // Checked before the schema, so that an unknown topic is named even when other fields are wrong too.
  const known = new Set(catalog.topics.map((t) => t.id));
  const unknown = form.topics.filter((t) => !known.has(t));
  if (unknown.length) errors.topics = `unknown topic ${unknown.map((t) => `"${t}"`).join(', ')}`;
  const parsed = subscriberSchema.safeParse(raw);
  if (!parsed.success) return { errors: { ...issuesByField(parsed.error.issues, lineLabel), ...errors } };
  if (!unknown.length && parsed.data.topics.length === 0 && parsed.data.keywords.length === 0 && parsed.data.top_of_day === 0) {
    errors.topics = 'follow at least one topic, or set keywords or top-of-day';
  }
  if (Object.keys(errors).length) return { errors };
  return { data: parsed.data, errors };
}

// --- Topics --------------------------------------------------------------------

export interface TopicForm {
  id: string;
  name: string;
  description: string;
  keywords: string;
  exclude: string;
  threshold: string;
  relative: string;
}

/** A term line: "LoRA", or "low-rank | 0.5" for a weighted term (negative: argues against the topic). */
export function parseTermLine(line: string): TopicTerm | { term: string; weight: unknown } {
  const m = /^(.*?)\s*\|\s*(.*)$/.exec(line);
  if (!m) return line;
  const w = m[2]!.trim();
  return { term: m[1]!.trim(), weight: /^-?\d+(\.\d+)?$/.test(w) ? Number(w) : w };
}

export const termLine = (t: TopicTerm) => (typeof t === 'string' ? t : `${t.term} | ${t.weight}`);

export function topicFormFromBody(body: FormBody): TopicForm {
  return {
    id: field(body, 'id').trim(),
    name: field(body, 'name'),
    // One line in the catalog: a textarea's line breaks are only wrapping.
    description: field(body, 'description').replace(/\s+/g, ' '),
    keywords: field(body, 'keywords'),
    exclude: field(body, 'exclude'),
    threshold: field(body, 'threshold'),
    relative: field(body, 'relative'),
  };
}

export function topicFormFromTopic(t: Topic): TopicForm {
  return {
    id: t.id,
    name: t.name,
    description: t.description,
    keywords: t.keywords.map(termLine).join('\n'),
    exclude: t.exclude.join('\n'),
    threshold: t.threshold === undefined ? '' : String(t.threshold),
    relative: t.relative === undefined ? '' : String(t.relative),
  };
}

export function checkTopicForm(form: TopicForm): { topic?: Topic; errors: FieldErrors } {
  const raw: Record<string, unknown> = {
    id: form.id,
    name: form.name,
    description: form.description,
    keywords: lines(form.keywords).map(parseTermLine),
    exclude: lines(form.exclude),
    threshold: numberField(form.threshold),
    relative: numberField(form.relative),
  };
  if (raw.threshold === undefined) delete raw.threshold;
  if (raw.relative === undefined) delete raw.relative;
  const parsed = topicSchema.safeParse(raw);
  if (!parsed.success) return { errors: issuesByField(parsed.error.issues, lineLabel) };
  return { topic: parsed.data, errors: {} };
}
