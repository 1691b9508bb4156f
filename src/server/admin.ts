/**
 * /admin: subscribers (list with status, topics and last delivery; add, edit,
 * pause, resume, remove) and the topic catalog (edit with a preview of which
 * papers of a listing the topic would file). Thin handlers over
 * SubscriberStore and saveTopic: the same schemas check every edit, writes
 * are atomic and keep the files' comments, and a hidden `version` (the file's
 * content hash when the form was loaded) refuses an edit that would
 * overwrite a change made meanwhile. The login, session and CSRF checks
 * around these routes live in app.ts and security.ts.
 */
import type { Context, Hono } from 'hono';
import { pendingRename, removeTopic, renameTopic, saveTopic, type LoadedCatalog, type Topic } from '../catalog.js';
import { withRunLock } from '../lock.js';
import { describeError, isPaperboyError } from '../errors.js';
import { analyse, KEYWORDS_BAR, Matcher, topicFiling } from '../matcher.js';
import { learnedFor } from '../learned.js';
import type { Paper } from '../paper.js';
import { STATUSES, SUBSCRIBER_ID, type SubscriberStore } from '../subscribers.js';
import { readYaml } from '../yamlfile.js';
import type { Deps } from './deps.js';
import {
  checkSubscriberForm,
  checkTopicForm,
  field,
  keepOrder,
  subscriberFormFromBody,
  subscriberFormFromData,
  topicFormFromBody,
  topicFormFromTopic,
  type FormBody,
  type SubscriberForm,
  type TopicForm,
} from './forms.js';
import { fieldError, html, layout, notice, type FieldErrors, type HtmlValue, type SafeHtml } from './html.js';
import type { AppEnv } from './app.js';

type Status = 200 | 400 | 404 | 409 | 422 | 503;

const STALE =
  'Someone changed this file since you opened the form, so your changes were not saved (they are still in the form below). Open the current version, then apply your edit again.';

function adminPage(c: Context<AppEnv>, title: string, body: SafeHtml, status: Status = 200) {
  return c.html(layout({ title, admin: { csrf: c.get('csrf') ?? '' } }, body), status);
}

const csrfInput = (c: Context<AppEnv>) => html`<input type="hidden" name="csrf" value="${c.get('csrf') ?? ''}" />`;

const invalid = (errors: FieldErrors, name: string) => (errors[name] ? html`aria-invalid="true" aria-describedby="${name}-error"` : '');

function badRequest(c: Context<AppEnv>, message: string, status: Status = 400) {
  return adminPage(
    c,
    'Not possible',
    html`<h1>Not possible</h1>
      ${notice('error', message)}
      <p><a href="/admin">Back to the subscribers</a></p>`,
    status,
  );
}

/** The :id of the URL, if it is a subscriber id (so never a path like ../../etc/passwd). */
function subscriberId(c: Context<AppEnv>): string | undefined {
  const id = c.req.param('id') ?? '';
  return SUBSCRIBER_ID.test(id) ? id : undefined;
}

const notAnId = (c: Context<AppEnv>) =>
  badRequest(c, 'That is not a subscriber id: ids are lower-case letters, digits, "-" and "_", at most 64 characters.');

export function registerAdmin(app: Hono<AppEnv>, deps: Deps): void {
  // --- Subscribers ---------------------------------------------------------------
  app.get('/admin', async (c) => {
    const { catalog, store } = await deps.parts();
    const { subscribers, problems } = await store.list();
    const last = deps.lastSent();
    const names = new Map(catalog.topics.map((t) => [t.id, t.name]));
    const done = c.req.query('done');
    const doneText: Record<string, string> = {
      added: 'Subscriber added.',
      saved: 'Subscriber saved.',
      removed: 'Subscriber removed.',
      paused: 'Subscriber paused.',
      active: 'Subscriber resumed.',
    };
    const body = html`
      <h1>Subscribers</h1>
      ${done && doneText[done] ? notice('ok', doneText[done]) : ''}
      ${
        problems.length
          ? notice(
              'warn',
              html`<strong>${problems.length} subscriber file(s) have problems and get no digest:</strong>
                <ul>
                  ${problems.map((p) => html`<li>${p.message}${p.id ? html` — <a href="/admin/subscribers/${p.id}">open</a>` : ''}</li>`)}
                </ul>`,
            )
          : ''
      }
      <div class="actions top"><a class="button" href="/admin/subscribers/new">Add a subscriber</a></div>
      <table class="list stack" id="subscribers">
        <thead>
          <tr>
            <th>Subscriber</th>
            <th>Status</th>
            <th>Topics</th>
            <th>Last delivery</th>
            <th>Actions</th>
          </tr>
        </thead>
        <tbody>
          ${subscribers.map(
            (s) =>
              html`<tr data-id="${s.id}">
                <td>
                  <a href="/admin/subscribers/${s.id}"><strong>${s.id}</strong></a
                  >${s.name ? html`<br />${s.name}` : ''}<br /><span class="muted small">${s.email}</span>
                </td>
                <td data-label="Status"><span class="badge ${s.status}">${s.status}</span></td>
                <td data-label="Topics">
                  <span class="tags"
                    >${s.topics.map((t) => html`<span class="badge">${names.get(t) ?? t}</span>`)}${s.keywords.length ? html`<span class="badge">+${s.keywords.length} keywords</span>` : ''}${s.top_of_day ? html`<span class="badge">top ${s.top_of_day}</span>` : ''}</span
                  >
                </td>
                <td data-label="Last delivery">${last.get(s.id) ?? html`<span class="muted">never</span>`}</td>
                <td data-label="Actions">
                  <div class="row-actions">
                    <a href="/admin/subscribers/${s.id}">Edit</a>
                    <a href="/preview?subscriber=${s.id}">Preview</a>
                    ${
                      s.status === 'active' || s.status === 'paused'
                        ? html`<form method="post" action="/admin/subscribers/${s.id}/status" class="inline">
                            ${csrfInput(c)}<input type="hidden" name="version" value="${s.version}" />
                            <input type="hidden" name="status" value="${s.status === 'active' ? 'paused' : 'active'}" />
                            <button class="link">${s.status === 'active' ? 'Pause' : 'Resume'}</button>
                          </form>`
                        : ''
                    }
                    <a href="/admin/subscribers/${s.id}/remove">Remove</a>
                  </div>
                </td>
              </tr>`,
          )}
        </tbody>
      </table>
      ${subscribers.length === 0 ? html`<p class="muted">No subscribers yet.</p>` : ''}
    `;
    return adminPage(c, 'Subscribers', body);
  });

  app.get('/admin/subscribers/new', async (c) => {
    const { catalog } = await deps.parts();
    return subscriberFormPage(c, catalog, { form: subscriberFormFromData('', {}), errors: {}, creating: true });
  });

  app.post('/admin/subscribers', async (c) => {
    const { catalog, store } = await deps.parts();
    const form = subscriberFormFromBody((await c.req.parseBody({ all: true })) as FormBody);
    const { data, errors } = checkSubscriberForm(form, catalog, { creating: true });
    if (!data) return subscriberFormPage(c, catalog, { form, errors, creating: true }, 422);
    try {
      await store.write(form.id, data, { create: true });
    } catch (e) {
      const errs = conflictErrors(e, form.id);
      if (errs) return subscriberFormPage(c, catalog, { form, errors: errs, creating: true }, 409);
      throw e;
    }
    deps.log.info('admin.subscriber_added', { subscriber: form.id });
    return c.redirect('/admin?done=added', 303);
  });

  app.get('/admin/subscribers/:id', async (c) => {
    const id = subscriberId(c);
    if (!id) return notAnId(c);
    const { catalog, store } = await deps.parts();
    try {
      const sub = await store.get(id);
      return subscriberFormPage(c, catalog, { form: subscriberFormFromData(id, sub), errors: {}, creating: false, version: sub.version });
    } catch (e) {
      if (!isPaperboyError(e)) throw e;
      if (e.code === 'NOT_FOUND') return badRequest(c, `There is no subscriber "${id}".`, 404);
      // An invalid file: show what it holds, with its problems next to the fields, so it can be fixed here.
      try {
        const read = await readYaml(store.fileFor(id), 'SUBSCRIBER');
        const data = (read.data ?? {}) as Record<string, unknown>;
        const form = subscriberFormFromData(id, data);
        const { errors } = checkSubscriberForm(form, catalog, { creating: false });
        return subscriberFormPage(c, catalog, { form, errors, creating: false, version: read.version, banner: notice('warn', e.message) });
      } catch (e2) {
        return badRequest(c, `${describeError(e2)} — fix this file in a text editor.`, 422);
      }
    }
  });

  app.post('/admin/subscribers/:id', async (c) => {
    const id = subscriberId(c);
    if (!id) return notAnId(c);
    const { catalog, store } = await deps.parts();
    const body = (await c.req.parseBody({ all: true })) as FormBody;
    const form = { ...subscriberFormFromBody(body), id };
    const previous = await readYaml(store.fileFor(id), 'SUBSCRIBER').then(
      (r) => (r.data as { topics?: unknown } | null)?.topics,
      () => undefined,
    );
    form.topics = keepOrder(form.topics, Array.isArray(previous) ? previous.map(String) : []);
    const version = field(body, 'version');
    const { data, errors } = checkSubscriberForm(form, catalog, { creating: false });
    if (!data) return subscriberFormPage(c, catalog, { form, errors, creating: false, version }, 422);
    try {
      await store.write(id, data, { expectedVersion: version });
    } catch (e) {
      if (isPaperboyError(e) && e.code === 'CONFLICT' && /changed on disk/.test(e.message)) {
        return subscriberFormPage(
          c,
          catalog,
          {
            form,
            errors: {},
            creating: false,
            version,
            banner: notice('error', html`${STALE} <a href="/admin/subscribers/${id}">Open the current version</a>.`),
          },
          409,
        );
      }
      const errs = conflictErrors(e, id);
      if (errs) return subscriberFormPage(c, catalog, { form, errors: errs, creating: false, version }, 409);
      throw e;
    }
    deps.log.info('admin.subscriber_saved', { subscriber: id });
    return c.redirect('/admin?done=saved', 303);
  });

  app.post('/admin/subscribers/:id/status', async (c) => {
    const id = subscriberId(c);
    if (!id) return notAnId(c);
    const body = (await c.req.parseBody({ all: true })) as FormBody;
    const status = field(body, 'status');
    if (status !== 'active' && status !== 'paused')
      return badRequest(c, 'Status can be set to active or paused here; use Edit for the others.');
    const { store } = await deps.parts();
    try {
      await store.update(id, { status }, field(body, 'version'));
    } catch (e) {
      if (isPaperboyError(e) && e.code === 'CONFLICT')
        return badRequest(c, `${id} changed since the list was loaded; nothing was changed. Reload the list and try again.`, 409);
      if (isPaperboyError(e) && e.code === 'NOT_FOUND') return badRequest(c, `There is no subscriber "${id}".`, 404);
      if (isPaperboyError(e)) return badRequest(c, e.message, 422);
      throw e;
    }
    deps.log.info('admin.subscriber_status', { subscriber: id, status });
    return c.redirect(`/admin?done=${status}`, 303);
  });

  app.get('/admin/subscribers/:id/remove', async (c) => {
    const id = subscriberId(c);
    if (!id) return notAnId(c);
    const { store } = await deps.parts();
    let version: string;
    let label: HtmlValue = id;
    try {
      const read = await readYaml(store.fileFor(id), 'SUBSCRIBER');
      version = read.version;
      const email = (read.data as { email?: unknown } | null)?.email;
      if (typeof email === 'string') label = `${id} (${email})`;
    } catch (e) {
      if (isPaperboyError(e) && e.code === 'NOT_FOUND') return badRequest(c, `There is no subscriber "${id}".`, 404);
      return badRequest(c, describeError(e), 422);
    }
    return adminPage(
      c,
      'Remove subscriber',
      html`<h1>Remove ${label}?</h1>
        <div class="card">
          <p>This deletes <code>${id}.yaml</code>. To stop their digest but keep the file, pause or unsubscribe them instead.</p>
          <form method="post" action="/admin/subscribers/${id}/remove">
            ${csrfInput(c)}<input type="hidden" name="version" value="${version}" />
            <div class="actions"><button class="danger">Remove</button><a href="/admin">Cancel</a></div>
          </form>
        </div>`,
    );
  });

  app.post('/admin/subscribers/:id/remove', async (c) => {
    const id = subscriberId(c);
    if (!id) return notAnId(c);
    const body = (await c.req.parseBody({ all: true })) as FormBody;
    const { store } = await deps.parts();
    try {
      await store.remove(id, field(body, 'version'));
    } catch (e) {
      if (isPaperboyError(e) && e.code === 'CONFLICT')
        return badRequest(c, `${id} changed since you opened the page; nothing was removed. Look at it again first.`, 409);
      if (isPaperboyError(e) && e.code === 'NOT_FOUND') return badRequest(c, `There is no subscriber "${id}".`, 404);
      throw e;
    }
    deps.log.info('admin.subscriber_removed', { subscriber: id });
    return c.redirect('/admin?done=removed', 303);
  });

  // --- Topic catalog --------------------------------------------------------------
  app.get('/admin/topics', async (c) => {
    const { catalog, store } = await deps.parts();
    const { subscribers } = await store.list();
    const done = c.req.query('done');
    const body = html` <h1>Topics</h1>
      ${
        done === 'saved'
          ? notice('ok', 'Topic saved.')
          : done === 'added'
            ? notice('ok', 'Topic added.')
            : done === 'deleted'
              ? notice('ok', 'Topic deleted.')
              : done === 'renamed'
                ? notice('ok', 'Topic renamed, in every subscriber file that follows it.')
                : ''
      }
      <p class="muted">
        The catalog in <code>topics.yaml</code>: a paper is filed under a topic when its score reaches the threshold (${catalog.threshold}
        unless the topic sets its own; a trained topic files by the learned one in <code>topics.learned.json</code>, moved by any change here;
        ${KEYWORDS_BAR} × it when one of the topic's terms is in the paper's <code>ai_keywords</code>).
      </p>
      <div class="actions top"><a class="button" href="/admin/topics/new">Add a topic</a></div>
      <table class="list stack" id="topics">
        <thead>
          <tr>
            <th>Topic</th>
            <th>Keywords</th>
            <th>Followers</th>
          </tr>
        </thead>
        <tbody>
          ${catalog.topics.map(
            (t) =>
              html`<tr>
                <td>
                  <a href="/admin/topics/${t.id}"><strong>${t.name}</strong></a
                  ><br /><code class="small">${t.id}</code
                  >${t.description ? html`<br /><span class="muted small">${t.description}</span>` : ''}
                </td>
                <td data-label="Keywords" class="small">
                  ${t.keywords.length} terms${t.exclude.length ? `, ${t.exclude.length} exclusions` : ''}
                </td>
                <td data-label="Followers">${subscribers.filter((s) => s.topics.includes(t.id)).length}</td>
              </tr>`,
          )}
        </tbody>
      </table>`;
    return adminPage(c, 'Topics', body);
  });

  app.get('/admin/topics/new', async (c) => {
    const { catalog } = await deps.parts();
    const form: TopicForm = { id: '', name: '', description: '', keywords: '', exclude: '', threshold: '', relative: '' };
    return topicFormPage(c, deps, catalog, { form, errors: {}, creating: true, version: catalog.version_hash });
  });

  app.get('/admin/topics/:id', async (c) => {
    const { catalog } = await deps.parts();
    const topic = catalog.topics.find((t) => t.id === c.req.param('id'));
    if (!topic) return badRequest(c, 'There is no such topic.', 404);
    return topicFormPage(c, deps, catalog, { form: topicFormFromTopic(topic), errors: {}, creating: false, version: catalog.version_hash });
  });

  const saveTopicRoute = (creating: boolean) => async (c: Context<AppEnv>) => {
    const { catalog } = await deps.parts();
    const body = (await c.req.parseBody({ all: true })) as FormBody;
    const form = topicFormFromBody(body);
    if (!creating) {
      const existing = catalog.topics.find((t) => t.id === c.req.param('id'));
      if (!existing) return badRequest(c, 'There is no such topic.', 404);
      form.id = existing.id; // an id changes only by renaming (below): subscriber files refer to it
    }
    const version = field(body, 'version');
    const listingKey = field(body, 'listing');
    const { topic, errors } = checkTopicForm(form);
    if (!topic) return topicFormPage(c, deps, catalog, { form, errors, creating, version, listingKey }, 422);
    if (creating && catalog.topics.some((t) => t.id === topic.id)) {
      return topicFormPage(
        c,
        deps,
        catalog,
        { form, errors: { id: `a topic "${topic.id}" already exists` }, creating, version, listingKey },
        409,
      );
    }
    if (field(body, 'action') === 'preview') {
      return topicFormPage(c, deps, catalog, { form, errors: {}, creating, version, listingKey, preview: topic });
    }
    try {
      await saveTopic(deps.config.subscribersDir, topic, { expectedVersion: version, create: creating });
    } catch (e) {
      if (isPaperboyError(e) && e.code === 'CONFLICT' && /changed on disk/.test(e.message)) {
        const again = creating ? '/admin/topics/new' : `/admin/topics/${topic.id}`;
        return topicFormPage(
          c,
          deps,
          catalog,
          {
            form,
            errors: {},
            creating,
            version,
            listingKey,
            banner: notice(
              'error',
              html`${STALE.replace('this file', 'the topic catalog')} <a href="${again}">Open the current version</a>.`,
            ),
          },
          409,
        );
      }
      if (isPaperboyError(e) && (e.code === 'CATALOG' || e.code === 'CONFLICT')) {
        return topicFormPage(
          c,
          deps,
          catalog,
          { form, errors: {}, creating, version, listingKey, banner: notice('error', e.message) },
          422,
        );
      }
      throw e;
    }
    deps.log.info(creating ? 'admin.topic_added' : 'admin.topic_saved', { topic: topic.id });
    return c.redirect(`/admin/topics?done=${creating ? 'added' : 'saved'}`, 303);
  };
  app.post('/admin/topics', saveTopicRoute(true));
  app.post('/admin/topics/:id', saveTopicRoute(false));

  const renamePage = async (c: Context<AppEnv>, topic: Topic, version: string, value = '', error?: string, status: 200 | 409 | 422 = 200) => {
    const followers = await (await deps.parts()).store.followers(topic.id);
    return adminPage(
      c,
      'Rename topic',
      html`<h1>Rename ${topic.name}</h1>
        <div class="card">
          <p>
            The id <code>${topic.id}</code> changes in <code>topics.yaml</code>, <code>topics.learned.json</code> and
            ${followers.length ? html`the files of ${followers.join(', ')}` : 'no subscriber file (nobody follows it)'}. Its name, terms and
            learned fit stay as they are; to change the name shown in emails, edit the topic instead.
          </p>
          <form method="post" action="/admin/topics/${topic.id}/rename">
            ${csrfInput(c)}<input type="hidden" name="version" value="${version}" />
            <label for="id">New id</label>
            <input id="id" name="id" value="${value}" required ${invalid(error ? { id: error } : {}, 'id')} />
            <p class="hint">Lower-case words joined by "-", e.g. <code>efficient-inference</code>.</p>
            ${fieldError(error ? { id: error } : {}, 'id')}
            <div class="actions"><button>Rename</button><a href="/admin/topics/${topic.id}">Cancel</a></div>
          </form>
        </div>`,
      status,
    );
  };

  app.get('/admin/topics/:id/rename', async (c) => {
    const { catalog } = await deps.parts();
    const topic = catalog.topics.find((t) => t.id === c.req.param('id'));
    if (!topic) return badRequest(c, 'There is no such topic.', 404);
    // A rename cut short is finished by the same rename: offer its new id.
    const pending = await pendingRename(deps.config.subscribersDir).catch(() => undefined);
    return renamePage(c, topic, catalog.version_hash, pending?.from === topic.id ? pending.to : '');
  });

  app.post('/admin/topics/:id/rename', async (c) => {
    const body = (await c.req.parseBody({ all: true })) as FormBody;
    const { catalog, store } = await deps.parts();
    const topic = catalog.topics.find((t) => t.id === c.req.param('id'));
    if (!topic) return badRequest(c, 'There is no such topic.', 404);
    const to = field(body, 'id').trim();
    const { config } = deps;
    try {
      await withRunLock(config.dataDir, `admin: rename topic ${topic.id} to ${to}`, config.LOCK_STALE_SECONDS * 1000, () =>
        renameTopic(config.subscribersDir, topic.id, to, {
          expectedVersion: field(body, 'version'),
          renameInSubscribers: () => store.renameTopic(topic.id, to),
          followers: () => store.followers(topic.id),
        }),
      );
    } catch (e) {
      if (!isPaperboyError(e)) throw e;
      if (e.code === 'USAGE') return renamePage(c, topic, catalog.version_hash, to, e.message.replace(/^new id "[^"]*": /, ''), 422);
      if (e.code === 'CONFLICT' && /already exists|changed on disk/.test(e.message)) {
        return renamePage(c, topic, catalog.version_hash, to, e.message.split('; ')[0]!.replace(/^.*?: /, ''), 409);
      }
      if (e.code === 'LOCKED') return badRequest(c, `Nothing was renamed: a digest run is in progress (${e.message}). Try again when it ends.`, 409);
      // Stopped partway (a follower's file it cannot change, an edit made meanwhile, another rename unfinished):
      // the record of the rename stays, and the same rename finishes it once the cause is fixed.
      const pending = await pendingRename(config.subscribersDir).catch(() => undefined);
      const again = pending
        ? html` The rename of <code>${pending.from}</code> to <code>${pending.to}</code> is half-done: fix that, then
            <a href="/admin/topics/${pending.from}/rename">rename it again</a> to finish.`
        : '';
      return adminPage(c, 'Rename stopped', html`<h1>The rename stopped</h1><div class="card"><p>${e.message}</p><p>${again}</p></div>`, 409);
    }
    deps.log.info('admin.topic_renamed', { from: topic.id, to });
    return c.redirect('/admin/topics?done=renamed', 303);
  });

  app.get('/admin/topics/:id/delete', async (c) => {
    const { catalog, store } = await deps.parts();
    const topic = catalog.topics.find((t) => t.id === c.req.param('id'));
    if (!topic) return badRequest(c, 'There is no such topic.', 404);
    const followers = await store.followers(topic.id);
    const body = followers.length
      ? html`<p>
            It is followed by ${followers.map((f, i) => html`${i ? ', ' : ''}<a href="/admin/subscribers/${f}">${f}</a>`)}. Take it out of
            their topics first, so nobody's digest loses a section without them knowing.
          </p>
          <div class="actions"><a href="/admin/topics/${topic.id}">Back to the topic</a></div>`
      : html`<p>
            This removes <code>${topic.id}</code> from <code>topics.yaml</code> (and its learned terms from
            <code>topics.learned.json</code>). Nobody follows it.
          </p>
          <form method="post" action="/admin/topics/${topic.id}/delete">
            ${csrfInput(c)}<input type="hidden" name="version" value="${catalog.version_hash}" />
            <div class="actions"><button class="danger">Delete</button><a href="/admin/topics/${topic.id}">Cancel</a></div>
          </form>`;
    return adminPage(
      c,
      'Delete topic',
      html`<h1>Delete ${topic.name}?</h1>
        <div class="card">${body}</div>`,
    );
  });

  app.post('/admin/topics/:id/delete', async (c) => {
    const body = (await c.req.parseBody({ all: true })) as FormBody;
    const { catalog, store } = await deps.parts();
    const topic = catalog.topics.find((t) => t.id === c.req.param('id'));
    if (!topic) return badRequest(c, 'There is no such topic.', 404);
    try {
      await removeTopic(deps.config.subscribersDir, topic.id, {
        expectedVersion: field(body, 'version'),
        followers: () => store.followers(topic.id),
      });
    } catch (e) {
      if (isPaperboyError(e) && e.code === 'CONFLICT') return badRequest(c, `Nothing was deleted: ${e.message}`, 409);
      if (isPaperboyError(e) && (e.code === 'CATALOG' || e.code === 'NOT_FOUND')) return badRequest(c, e.message, 422);
      throw e;
    }
    deps.log.info('admin.topic_deleted', { topic: topic.id });
    return c.redirect('/admin/topics?done=deleted', 303);
  });
}

/** Field errors for a write refused because of another file (duplicate email, existing id), else undefined. */
function conflictErrors(e: unknown, id: string): FieldErrors | undefined {
  if (!isPaperboyError(e) || e.code !== 'CONFLICT') return undefined;
  if (/already exists/.test(e.message)) return { id: `a subscriber "${id}" already exists` };
  const m = /email: (.*) is already used by (.*)$/.exec(e.message);
  if (m) return { email: `${m[1]} is already used by ${m[2]!.split(/[\\/]/).pop()}` };
  return undefined;
}

// --- Subscriber form -------------------------------------------------------------

interface SubscriberFormState {
  form: SubscriberForm;
  errors: FieldErrors;
  creating: boolean;
  version?: string;
  banner?: SafeHtml;
}

function subscriberFormPage(c: Context<AppEnv>, catalog: LoadedCatalog, s: SubscriberFormState, status: Status = 200) {
  const { form, errors } = s;
  const action = s.creating ? '/admin/subscribers' : `/admin/subscribers/${form.id}`;
  const text = (name: keyof SubscriberForm & string, label: string, type = 'text', hint?: string, extra: HtmlValue = '') =>
    html` <div>
      <label for="${name}">${label}</label>
      <input type="${type}" id="${name}" name="${name}" value="${String(form[name])}" ${invalid(errors, name)} ${extra} />
      ${hint ? html`<p class="hint">${hint}</p>` : ''}${fieldError(errors, name)}
    </div>`;
  const known = new Set(catalog.topics.map((t) => t.id));
  const strays = form.topics.filter((t) => !known.has(t));
  const body = html` <h1>${s.creating ? 'Add a subscriber' : html`Edit <code>${form.id}</code>`}</h1>
    ${s.banner ?? ''} ${Object.keys(errors).length ? notice('error', 'Please correct the fields marked below; nothing was saved.') : ''}
    <form method="post" action="${action}" class="card" novalidate>
      ${csrfInput(c)} ${s.version !== undefined ? html`<input type="hidden" name="version" value="${s.version}" />` : ''}
      <div class="grid">
        ${s.creating ? text('id', 'Id (file name)', 'text', 'Lower-case letters, digits, "-" and "_", e.g. ada', html`required maxlength="64" autocomplete="off"`) : ''}
        ${text('email', 'Email', 'email', undefined, html`required`)} ${text('name', 'Name (optional)')}
        <div>
          <label for="status">Status</label>
          <select id="status" name="status" ${invalid(errors, 'status')}>
            ${STATUSES.map((st) => html`<option value="${st}" ${form.status === st ? html`selected` : ''}>${st}</option>`)}
          </select>
          ${fieldError(errors, 'status')}
        </div>
      </div>
      <fieldset id="topics" class="plain" ${invalid(errors, 'topics')}>
        <legend><strong>Topics</strong></legend>
        <div class="topics">
          ${catalog.topics.map(
            (t) =>
              html`<label class="check"
                ><input type="checkbox" name="topics" value="${t.id}" ${form.topics.includes(t.id) ? html`checked` : ''} />
                <span>${t.name}<br /><span class="muted small">${t.description || t.id}</span></span></label
              >`,
          )}
          ${strays.map(
            (t) =>
              html`<label class="check"
                ><input type="checkbox" name="topics" value="${t}" checked /><span
                  >${t} <span class="badge unsubscribed">not in the catalog</span></span
                ></label
              >`,
          )}
        </div>
        ${fieldError(errors, 'topics')}
      </fieldset>
      <div class="grid">
        <div>
          <label for="keywords">Own keywords</label>
          <textarea id="keywords" name="keywords" ${invalid(errors, 'keywords')}>${form.keywords}</textarea>
          <p class="hint">One word or phrase per line.</p>
          ${fieldError(errors, 'keywords')}
        </div>
        <div>
          <label for="authors">Favourite authors</label>
          <textarea id="authors" name="authors" ${invalid(errors, 'authors')}>${form.authors}</textarea>
          <p class="hint">One name per line; their papers go first.</p>
          ${fieldError(errors, 'authors')}
        </div>
      </div>
      <div class="grid">
        ${text('max_papers', 'Papers in full', 'number', 'Further matches become title lines.', html`min="1" max="200"`)}
        ${text('min_upvotes', 'Minimum upvotes', 'number', undefined, html`min="0"`)}
        ${text('top_of_day', 'Top of the day', 'number', 'Also the N most upvoted papers (0 = off).', html`min="0" max="20"`)}
        ${text('timezone', 'Time zone (optional)', 'text', 'e.g. Europe/Berlin')}
        ${text('hour', 'Delivery hour (optional)', 'number', '0–23', html`min="0" max="23"`)}
      </div>
      <div class="actions"><button>${s.creating ? 'Add subscriber' : 'Save'}</button><a href="/admin">Cancel</a></div>
    </form>`;
  return adminPage(c, s.creating ? 'Add a subscriber' : `Edit ${form.id}`, body, status);
}

// --- Topic form ------------------------------------------------------------------

interface TopicFormState {
  form: TopicForm;
  errors: FieldErrors;
  creating: boolean;
  version: string;
  listingKey?: string;
  preview?: Topic;
  banner?: SafeHtml;
}

/** A trained topic files by its learned threshold and terms too: say so where the hand threshold is edited. */
function trainedHint(catalog: LoadedCatalog, id: string) {
  const fit = learnedFor(catalog.learned, id);
  if (!fit) return '';
  const now = topicFiling(catalog, catalog.topics.find((t) => t.id === id) ?? { id });
  const rule = fit.hand
    ? html`fitted while the threshold here was ${fit.hand.threshold}: changing it moves the learned one in proportion, and
        a relative floor set here replaces the learned one`
    : html`they replace the two fields here`;
  return html`<p class="hint" id="trained">
    Trained topic: ${Object.keys(fit.terms).length} learned terms apply on top of these keywords, and it files by its
    learned threshold (${now.threshold}) and relative floor (${now.relative}) from <code>topics.learned.json</code> (${rule});
    re-run <code>npm run train:topics</code> after larger edits.
  </p>`;
}

async function topicFormPage(c: Context<AppEnv>, deps: Deps, catalog: LoadedCatalog, s: TopicFormState, status: Status = 200) {
  const { form, errors } = s;
  const choices = await deps.listingChoices();
  const action = s.creating ? '/admin/topics' : `/admin/topics/${form.id}`;
  const preview = s.preview ? await topicPreview(deps, catalog, s.preview, s.listingKey) : '';
  const body = html` <h1>${s.creating ? 'Add a topic' : html`Topic <code>${form.id}</code>`}</h1>
    ${s.banner ?? ''} ${Object.keys(errors).length ? notice('error', 'Please correct the fields marked below; nothing was saved.') : ''}
    <div class="split two">
      <form method="post" action="${action}" class="card" novalidate>
        ${csrfInput(c)}<input type="hidden" name="version" value="${s.version}" />
        ${
          s.creating
            ? html`<label for="id">Id</label>
                <input type="text" id="id" name="id" value="${form.id}" ${invalid(errors, 'id')} autocomplete="off" />
                <p class="hint">
                  Lower-case words joined by "-", e.g. efficient-inference. Subscriber files refer to it; it cannot be renamed later.
                </p>
                ${fieldError(errors, 'id')}`
            : ''
        }
        <label for="name">Name</label>
        <input type="text" id="name" name="name" value="${form.name}" ${invalid(errors, 'name')} />
        ${fieldError(errors, 'name')}
        <label for="description">Description</label>
        <textarea id="description" name="description" rows="3" maxlength="300" ${invalid(errors, 'description')}>
${form.description}</textarea>
        <p class="hint">What the topic covers and where its edges are; shown beside the topic wherever subscribers pick topics.</p>
        ${fieldError(errors, 'description')}
        <label for="keywords">Keywords</label>
        <textarea id="keywords" name="keywords" rows="10" ${invalid(errors, 'keywords')}>${form.keywords}</textarea>
        <p class="hint">One term per line. A weight other than 1 goes after a bar: <code>low-rank | 0.5</code>.</p>
        ${fieldError(errors, 'keywords')}
        <label for="exclude">Exclusions</label>
        <textarea id="exclude" name="exclude" rows="3" ${invalid(errors, 'exclude')}>${form.exclude}</textarea>
        <p class="hint">One term per line; any of them vetoes the topic for a paper.</p>
        ${fieldError(errors, 'exclude')}
        <label for="threshold">Threshold (optional)</label>
        <input
          type="number"
          step="0.1"
          id="threshold"
          name="threshold"
          value="${form.threshold}"
          placeholder="${String(catalog.threshold)}"
          ${invalid(errors, 'threshold')}
        />
        ${fieldError(errors, 'threshold')} ${trainedHint(catalog, form.id)}
        <label for="relative">Relative floor (optional)</label>
        <input
          type="number"
          step="0.05"
          min="0"
          max="1"
          id="relative"
          name="relative"
          value="${form.relative}"
          placeholder="${String(catalog.relative)}"
          ${invalid(errors, 'relative')}
        />
        <p class="hint">Fraction of a paper's best topic score this topic must also reach; 0 for aspects such as benchmarks.</p>
        ${fieldError(errors, 'relative')}
        <label for="listing">Listing to try it on</label>
        <select id="listing" name="listing">
          ${choices.map((ch) => html`<option value="${ch.key}" ${ch.key === s.listingKey ? html`selected` : ''}>${ch.label}</option>`)}
        </select>
        <div class="actions">
          <button name="action" value="preview" class="secondary">Preview matches</button>
          <button name="action" value="save">Save</button>
          <a href="/admin/topics">Cancel</a>
          ${s.creating ? '' : html`<a href="/admin/topics/${form.id}/rename">Rename its id…</a>`}
          ${s.creating ? '' : html`<a href="/admin/topics/${form.id}/delete" class="danger-link">Delete this topic…</a>`}
        </div>
      </form>
      <section aria-label="Matches">
        ${preview || html`<div class="card muted">Press “Preview matches” to see which papers of the chosen listing this topic would file, before saving.</div>`}
      </section>
    </div>`;
  return adminPage(c, s.creating ? 'Add a topic' : `Topic ${form.id}`, body, status);
}

interface TopicHit {
  paper: Paper;
  score: number;
  matched: string[];
  wasFiled: boolean;
}

/** Which papers of a listing the edited topic would file: a matcher built from this topic alone. */
async function topicPreview(deps: Deps, catalog: LoadedCatalog, topic: Topic, listingKey: string | undefined): Promise<SafeHtml> {
  const choice = await deps.listingChoice(listingKey);
  if (!choice) return notice('error', 'Choose a listing from the list.');
  let papers: Paper[];
  try {
    papers = (await deps.listing(choice, deps.defaultDate(choice))).papers;
  } catch (e) {
    return notice('error', describeError(e));
  }
  // As the edited topic would be filed: a trained one's learned threshold moved by the edit.
  const threshold = topicFiling(catalog, topic).threshold;
  const saved = catalog.topics.find((t) => t.id === topic.id);
  // The whole catalog takes part, learned terms included: a topic is filed only above its threshold
  // and the relative floor set by the others.
  const withTopic = (edit: Topic) =>
    Matcher.fromCatalog({
      ...catalog,
      topics: saved ? catalog.topics.map((x) => (x.id === edit.id ? edit : x)) : [...catalog.topics, edit],
    });
  const edited = withTopic(topic);
  const unvetoed = withTopic({ ...topic, exclude: [] });
  const before = saved ? Matcher.fromCatalog(catalog) : undefined;
  const files = (m: Matcher, doc: ReturnType<typeof analyse>) => m.match(doc).some((x) => x.topic === topic.id);
  const scoreOf = (m: Matcher, doc: ReturnType<typeof analyse>) => m.scores(doc).find((x) => x.topic === topic.id);
  const filed: TopicHit[] = [];
  const near: TopicHit[] = [];
  const vetoed: TopicHit[] = [];
  const dropped: Paper[] = [];
  for (const paper of papers) {
    const doc = analyse(paper);
    const s = scoreOf(edited, doc);
    const wasFiled = !!before && files(before, doc);
    if (s && files(edited, doc)) filed.push({ paper, score: s.score, matched: s.matched, wasFiled });
    else {
      if (wasFiled) dropped.push(paper);
      if (s) near.push({ paper, score: s.score, matched: s.matched, wasFiled });
      else {
        const u = scoreOf(unvetoed, doc);
        if (u && files(unvetoed, doc)) vetoed.push({ paper, score: u.score, matched: u.matched, wasFiled });
      }
    }
  }
  filed.sort((a, b) => b.score - a.score);
  near.sort((a, b) => b.score - a.score);
  const row = (h: TopicHit, mark: boolean) =>
    html`<tr>
      <td>
        <a href="${h.paper.links.hf}" rel="noreferrer" target="_blank">${h.paper.title}</a
        >${mark && before && !h.wasFiled ? html` <span class="badge active">new</span>` : ''}
      </td>
      <td data-label="Score">${h.score.toFixed(2)}</td>
      <td data-label="Matched" class="small">${h.matched.join(', ')}</td>
    </tr>`;
  const table = (hits: TopicHit[], mark: boolean) =>
    html`<table class="list stack small">
      <thead>
        <tr>
          <th>Paper</th>
          <th>Score</th>
          <th>Matched terms</th>
        </tr>
      </thead>
      <tbody>
        ${hits.map((h) => row(h, mark))}
      </tbody>
    </table>`;
  return html`<div class="card" id="matches">
    <h2>Would file ${filed.length} of ${papers.length} papers</h2>
    <p class="muted small">
      ${choice.label} · threshold
      ${threshold} (× ${KEYWORDS_BAR} where one of its terms is in the paper's <code>ai_keywords</code>)${saved ? ` · the saved version files ${filed.filter((h) => h.wasFiled).length + dropped.length}` : ''}
    </p>
    ${filed.length ? table(filed, true) : html`<p>No paper of this listing reaches its threshold.</p>`}
    ${
      dropped.length
        ? html`<h2>No longer filed (${dropped.length})</h2>
            <ul class="small">
              ${dropped.map((p) => html`<li>${p.title}</li>`)}
            </ul>`
        : ''
    }
    ${
      vetoed.length
        ? html`<h2>Vetoed by exclusions (${vetoed.length})</h2>
            ${table(vetoed, false)}`
        : ''
    }
    ${
      near.length
        ? html`<h2>Near misses</h2>
            ${table(near.slice(0, 5), false)}`
        : ''
    }
  </div>`;
}
