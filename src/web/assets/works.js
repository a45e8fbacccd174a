// Works: hashing and fingerprinting files in workers, the consent form,
// signing and submitting statements, the artist's works, and looking up a
// file as anyone.

import { call, clockOffset, ApiProblem } from './api.js';
import { PAYLOAD_TYPES, signEnvelope, issuedAt, envelopePayload } from './dsse.js';
import { h, notice, failure, download, field, busy, shortHash, when } from './ui.js';

// ---- the categories, in words ----------------------------------------------

export const CATEGORIES = [
  ['train-ai', 'Training AI models', 'Using the work to train any AI model: classifiers, recommenders, generative models.'],
  ['train-genai', 'Training generative AI', 'Using the work to train models that generate images, text or sound (a part of "training AI models").'],
  ['ai-use', 'Input to AI tools', 'Feeding the work to a deployed model: image-to-image, style references, retrieval (RAG).'],
  ['search', 'Search engines', 'Indexing the work in search results that link back to where it is published.'],
  ['tdm', 'Text and data mining', 'Automated analysis of the work in general (the EU copyright directive\'s "TDM").'],
];

// Currencies the form offers (all are in spec/statement.md §5.5), with the
// digits of their minor unit.
const CURRENCIES = [['EUR', 2], ['USD', 2], ['GBP', 2], ['JPY', 0], ['CAD', 2], ['AUD', 2], ['CHF', 2], ['SEK', 2], ['NOK', 2], ['DKK', 2], ['PLN', 2], ['BRL', 2], ['MXN', 2], ['INR', 2], ['KRW', 0], ['CNY', 2]];

const STATEMENTS_PER_REQUEST = 500;

// ---- hashing in workers ------------------------------------------------------

let pool;

function workers() {
  if (!pool) {
    const n = Math.max(1, Math.min(4, navigator.hardwareConcurrency || 2));
    pool = Array.from({ length: n }, () => new Worker('/assets/worker.js', { type: 'module' }));
  }
  return pool;
}

/**
 * Hashes (and, with `fingerprint`, fingerprints) `files` in workers;
 * `progress(done, total)` after each. Resolves to one result per file:
 * {file, hash, codes, note} or {file, error}.
 */
export function hashFiles(files, { fingerprint = true, progress = () => {} } = {}) {
  const all = workers();
  const results = new Array(files.length);
  let next = 0;
  let done = 0;
  return new Promise((resolve) => {
    if (files.length === 0) resolve(results);
    const feed = (w) => {
      if (next >= files.length) return;
      const id = next++;
      w.postMessage({ id, file: files[id], fingerprint });
    };
    for (const w of all) {
      w.onmessage = (event) => {
        const r = event.data;
        results[r.id] = { file: files[r.id], ...r };
        done++;
        progress(done, files.length);
        if (done === files.length) resolve(results);
        else feed(w);
      };
      w.onerror = (event) => {
        event.preventDefault();
        failure(new Error(event.message || 'a hashing worker failed'), 'Hashing');
      };
      // Two files in flight per worker: one is read from disk (by the
      // browser, off the worker's thread) while the other is hashed.
      feed(w);
      feed(w);
    }
  });
}

// ---- the consent form ----------------------------------------------------------

/** The consent and terms controls; `read()` gives {consent, terms} or throws. */
export function consentForm(initial) {
  const name = `preset-${Math.random().toString(36).slice(2, 7)}`;
  const radio = (value, label, help) => h('label', { class: 'choice' },
    h('input', { type: 'radio', name, value, checked: (initial?.preset || 'opt-out') === value }),
    h('span', {}, h('strong', {}, label), h('span', { class: 'hint' }, help)));
  const presets = h('fieldset', { class: 'presets' },
    h('legend', {}, 'What may others do with these works?'),
    radio('opt-out', 'Nothing: opt out of every use', 'No AI training, no AI tools, no search indexing, no data mining.'),
    radio('opt-in', 'Everything: opt in to every use', 'Every use below is allowed (on the terms you set).'),
    radio('custom', 'Let me choose per use', 'Decide each use separately.'));
  const selects = {};
  const custom = h('fieldset', { class: 'categories', hidden: true },
    h('legend', {}, 'Each use'),
    CATEGORIES.map(([cat, label, help]) => {
      const s = h('select', { name: cat, dataset: { category: cat } },
        h('option', { value: '' }, 'Not said'),
        h('option', { value: 'allowed' }, 'Allowed'),
        h('option', { value: 'disallowed' }, 'Not allowed'));
      if (initial?.custom?.[cat]) s.value = initial.custom[cat];
      selects[cat] = s;
      return field(`${label} (${cat})`, s, help);
    }));
  const free = h('input', { type: 'checkbox', name: 'free' });
  const credit = h('input', { type: 'text', name: 'credit', maxLength: 512, autocomplete: 'name' });
  const fee = h('input', { type: 'number', name: 'fee', min: '0', step: '0.01', inputMode: 'decimal' });
  const share = h('input', { type: 'checkbox', name: 'share' });
  const minimum = h('input', { type: 'number', name: 'minimum', min: '0', step: '0.01', inputMode: 'decimal' });
  const currency = h('select', { name: 'currency' }, CURRENCIES.map(([c]) => h('option', { value: c }, c)));
  const terms = h('fieldset', { class: 'terms' },
    h('legend', {}, 'Terms for the uses you allow'),
    h('label', { class: 'check' }, free, ' Free of charge'),
    field('Credit line (attribution)', credit, 'If given, every allowed use must credit you with this line.'),
    field('Flat fee per training run', fee, 'Leave empty for none.'),
    h('label', { class: 'check' }, share, ' A share of each training run\'s royalty pool (revenue share)'),
    field('Minimum per work (revenue share)', minimum, 'Optional.'),
    field('Currency', currency));
  const sync = () => {
    const preset = presets.querySelector('input:checked').value;
    custom.hidden = preset !== 'custom';
    terms.hidden = preset === 'opt-out';
  };
  presets.addEventListener('change', sync);
  sync();

  function money(input) {
    const text = input.value.trim();
    if (!text) return null;
    const digits = CURRENCIES.find(([c]) => c === currency.value)[1];
    const value = Number(text);
    if (!Number.isFinite(value) || value <= 0) throw new Error('amounts must be positive numbers');
    const minor = Math.round(value * 10 ** digits);
    if (minor < 1 || minor > 1e15) throw new Error('that amount is out of range');
    return { amount_minor: minor, currency: currency.value };
  }

  function read() {
    const preset = presets.querySelector('input:checked').value;
    let consent = preset;
    let allows = preset === 'opt-in';
    if (preset === 'custom') {
      consent = {};
      for (const [cat] of CATEGORIES) {
        if (selects[cat].value) consent[cat] = selects[cat].value;
      }
      if (Object.keys(consent).length === 0) throw new Error('choose at least one use, or pick "Nothing" or "Everything"');
      if (consent['train-ai'] === 'disallowed' && consent['train-genai'] === 'allowed') {
        throw new Error('training generative AI is a kind of AI training: it cannot be allowed while AI training is not');
      }
      allows = Object.values(consent).includes('allowed')
        || (consent['train-ai'] === 'allowed' && !consent['train-genai']);
    }
    const list = [];
    if (allows) {
      if (free.checked) list.push({ kind: 'free' });
      const line = credit.value.trim();
      if (line) list.push({ kind: 'attribution', credit: line });
      const amount = money(fee);
      if (amount) list.push({ kind: 'flat-fee', amount });
      if (share.checked) {
        const min = money(minimum);
        list.push(min ? { kind: 'revenue-share', minimum: min } : { kind: 'revenue-share' });
      }
      if (free.checked && (amount || share.checked)) throw new Error('"free of charge" cannot go with a fee or a revenue share');
    }
    return { consent, terms: list };
  }

  return { element: h('div', { class: 'consent-form' }, presets, custom, terms), read };
}

/** The form's {consent, terms}, or null after saying what is wrong. */
function readOrSay(form) {
  try {
    return form.read();
  } catch (e) {
    notice(e.message, 'error');
    return null;
  }
}

/** Consent in words: "train-ai: not allowed, search: allowed". */
export function consentWords(consent) {
  if (consent === 'opt-out') return 'opted out of every use';
  if (consent === 'opt-in') return 'opted in to every use';
  if (!consent || typeof consent !== 'object') return 'unknown';
  const words = { allowed: 'allowed', disallowed: 'not allowed', unknown: 'not said' };
  return Object.entries(consent).map(([k, v]) => `${k}: ${words[v] || v}`).join(', ');
}

export function termsWords(terms) {
  if (!terms || terms.length === 0) return 'no terms';
  const money = (m) => `${(m.amount_minor / 10 ** (CURRENCIES.find(([c]) => c === m.currency)?.[1] ?? 2)).toString()} ${m.currency}`;
  return terms.map((t) => {
    switch (t.kind) {
      case 'free': return 'free';
      case 'attribution': return `credit "${t.credit}"`;
      case 'flat-fee': return `flat fee ${money(t.amount)}`;
      case 'revenue-share': return t.minimum ? `revenue share (minimum ${money(t.minimum)})` : 'revenue share';
      default: return t.kind;
    }
  }).join(', ');
}

function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

const MEDIA_TYPE = /^[A-Za-z0-9!#$&^_.+-]{1,127}\/[A-Za-z0-9!#$&^_.+-]{1,127}$/;

// ---- statements ----------------------------------------------------------------

/** This artist's current statement about `hash` (history entry), or null. */
async function currentOf(hash, artistId) {
  try {
    const view = await call('GET', `/v1/works/${hash}`);
    return view.history.find((e) => e.status === 'current' && e.artist_id === artistId) || null;
  } catch (e) {
    if (e instanceof ApiProblem && e.status === 404) return null;
    throw e;
  }
}

/** Runs `f` over `items` with at most `n` at a time. */
async function limited(items, n, f) {
  const out = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i], i);
    }
  }));
  return out;
}

/**
 * Signs one statement per work and submits them in batches. `works` are
 * Work objects (spec/statement.md §5.2). Resolves to the accepted entries.
 */
export async function submitStatements(session, signer, works, consent, terms, progress = () => {}) {
  const envelopes = [];
  for (const work of works) {
    // Let the page breathe between batches of signatures.
    if (envelopes.length % 100 === 99) await new Promise((r) => setTimeout(r));
    const payload = { version: 1, key: signer.keyId, works: [work], consent, issued_at: issuedAt(clockOffset()) };
    if (terms.length) payload.terms = terms;
    envelopes.push((await signEnvelope(PAYLOAD_TYPES.statement, payload, [signer])).envelope);
  }
  const accepted = [];
  for (let i = 0; i < envelopes.length; i += STATEMENTS_PER_REQUEST) {
    const batch = envelopes.slice(i, i + STATEMENTS_PER_REQUEST);
    const result = await session.call('POST', '/v1/statements', { statements: batch });
    accepted.push(...result.accepted);
    progress(Math.min(i + batch.length, envelopes.length), envelopes.length);
  }
  return accepted;
}

// ---- pages ---------------------------------------------------------------------

function progressBar(label) {
  const bar = h('progress', { max: 1, value: 0 });
  const text = h('span', { class: 'progress-text' }, '');
  const wrap = h('div', { class: 'progress', role: 'group', 'aria-label': label }, bar, text);
  return {
    element: wrap,
    set(done, total, what) {
      bar.max = total || 1;
      bar.value = done;
      text.textContent = `${done} of ${total} ${what}`;
    },
  };
}

/** A drop zone with a file and a folder picker; `onFiles(File[])`. */
export function dropZone(onFiles, { multiple = true, folder = true, label = 'Drop files here' } = {}) {
  const files = h('input', { type: 'file', multiple, id: 'pick-files', class: 'visually-hidden' });
  const dir = h('input', { type: 'file', multiple: true, webkitdirectory: true, id: 'pick-folder', class: 'visually-hidden' });
  const take = (list) => {
    const chosen = [...list].filter((f) => f.size > 0 || f.name);
    if (chosen.length) onFiles(chosen);
  };
  files.addEventListener('change', () => take(files.files));
  dir.addEventListener('change', () => take(dir.files));
  const zone = h('div', { class: 'dropzone', tabIndex: 0, role: 'button', 'aria-label': `${label}, or press Enter to choose files` },
    h('p', {}, label),
    h('p', {}, h('label', { for: 'pick-files', class: 'button' }, multiple ? 'Choose files' : 'Choose a file'),
      folder ? h('label', { for: 'pick-folder', class: 'button' }, 'Choose a folder') : null),
    files, folder ? dir : null);
  zone.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); files.click(); }
  });
  zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over'); });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', async (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    const items = [...(e.dataTransfer.items || [])];
    const entries = items.map((i) => i.webkitGetAsEntry && i.webkitGetAsEntry()).filter(Boolean);
    if (entries.length) take(await readEntries(entries));
    else take(e.dataTransfer.files);
  });
  return zone;
}

async function readEntries(entries) {
  const out = [];
  const walk = async (entry) => {
    if (entry.isFile) {
      out.push(await new Promise((res, rej) => entry.file(res, rej)));
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((res, rej) => reader.readEntries(res, rej));
        if (!batch.length) break;
        for (const e of batch) await walk(e);
      }
    }
  };
  for (const e of entries) await walk(e);
  return out;
}

/** The "Register works" page. */
export function registerPage(ctx) {
  const { session, signer, account } = ctx;
  let hashed = [];
  const progress = progressBar('Hashing progress');
  const table = h('tbody');
  const summary = h('p', { class: 'summary', role: 'status' });
  const form = consentForm();
  const titles = h('input', { type: 'checkbox', checked: true, name: 'titles' });
  const submit = h('button', { type: 'submit', disabled: true, id: 'submit-works' }, 'Sign and register');
  const result = h('div', { class: 'result', 'aria-live': 'polite' });

  const onFiles = async (files) => {
    notice('');
    result.replaceChildren();
    submit.disabled = true;
    table.replaceChildren();
    summary.textContent = `Hashing ${files.length} files on this computer…`;
    const started = performance.now();
    hashed = await hashFiles(files, { progress: (d, t) => progress.set(d, t, 'files hashed') });
    const seconds = (performance.now() - started) / 1000;
    const unique = new Map();
    const rows = document.createDocumentFragment();
    for (const r of hashed) {
      const row = h('tr', {},
        h('td', {}, r.file.webkitRelativePath || r.file.name),
        h('td', { class: 'mono' }, r.hash ? shortHash(r.hash) : '—'),
        h('td', {}, r.error ? r.error : r.codes ? `${r.codes.length} image code${r.codes.length > 1 ? 's' : ''}` : (r.note || 'not an image')));
      rows.append(row);
      if (r.hash && !unique.has(r.hash)) unique.set(r.hash, r);
    }
    table.append(rows);
    const failed = hashed.filter((r) => r.error).length;
    summary.textContent = `${unique.size} works from ${files.length} files (${(files.length / Math.max(seconds, 0.001)).toFixed(1)} files/s)`
      + `${failed ? `; ${failed} could not be read` : ''}. Nothing has been sent yet.`;
    hashed = [...unique.values()];
    submit.disabled = hashed.length === 0;
  };

  const doSubmit = busy(submit, async () => {
    const chosen = readOrSay(form);
    if (!chosen) return;
    try {
      summary.textContent = 'Checking what the registry already holds from you…';
      const current = await limited(hashed, 8, (r) => currentOf(r.hash, account.artistId));
      const wanted = canonical({ c: chosen.consent, t: chosen.terms });
      const todo = [];
      let unchanged = 0;
      hashed.forEach((r, i) => {
        const cur = current[i];
        if (cur && canonical({ c: cur.declared, t: cur.terms || [] }) === wanted) {
          unchanged++;
          return;
        }
        const work = { hash: r.hash };
        if (MEDIA_TYPE.test(r.file.type || '')) work.media_type = r.file.type;
        if (titles.checked) work.title = r.file.name.replace(/\.[^.]*$/, '').slice(0, 512);
        if (r.codes && r.codes.length) work.fingerprints = r.codes.slice(0, 8).map((value) => ({ algorithm: 'iscc-image-v0', value }));
        todo.push(work);
      });
      if (todo.length === 0) {
        summary.textContent = `Nothing to record: your current statements already say this for all ${unchanged} works.`;
        notice('');
        return;
      }
      const sent = progressBar('Submitting');
      result.replaceChildren(sent.element);
      const accepted = await submitStatements(session(), signer(), todo, chosen.consent, chosen.terms,
        (d, t) => sent.set(d, t, 'statements sent'));
      const created = accepted.filter((a) => a.status === 'created');
      const receipts = created.filter((a) => a.receipt).map((a) => ({ seq: a.seq, receipt: a.receipt }));
      summary.textContent = `Registered: ${created.length} statements recorded, ${accepted.length - created.length} already recorded, ${unchanged} unchanged.`;
      result.replaceChildren(
        h('p', {}, 'Each statement is now an entry of the registry\'s public log. Keep the receipts: each proves its statement is in the log.'),
        h('button', { type: 'button', id: 'download-receipts', onclick: () => download('consentry-receipts.json', JSON.stringify(receipts, null, 2)) }, `Download ${receipts.length} receipts`),
        h('a', { href: '#/works', class: 'button' }, 'See my works'));
      notice('Works registered.', 'ok');
    } catch (e) {
      failure(e, 'Registering the works failed');
      summary.textContent = 'Nothing was recorded from the batch that failed.';
    }
  });
  submit.addEventListener('click', doSubmit);

  return [
    h('h1', {}, 'Register works'),
    h('p', { class: 'privacy' }, 'Your files never leave this computer. The page computes each file\'s BLAKE3 hash and, for images, its ISCC image codes (so resized copies are recognised); only those, with your signed statement, are sent to the registry.'),
    dropZone(onFiles),
    progress.element,
    summary,
    h('div', { class: 'table-wrap' }, h('table', {}, h('caption', { class: 'visually-hidden' }, 'Files'), h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'File'), h('th', { scope: 'col' }, 'Hash'), h('th', { scope: 'col' }, 'Fingerprint'))), table)),
    h('form', { class: 'stack', onsubmit: doSubmit },
      form.element,
      h('label', { class: 'check' }, titles, ' Use the file names as titles (public)'),
      submit),
    result,
  ];
}

/** The artist's works, a page at a time, with consent changes. */
export function worksPage(ctx) {
  const { session, signer, account } = ctx;
  const list = h('tbody');
  const status = h('p', { role: 'status' }, 'Loading your works…');
  const more = h('button', { type: 'button', hidden: true }, 'Load more');
  const selectAll = h('input', { type: 'checkbox', 'aria-label': 'Select all works shown' });
  const form = consentForm({ preset: 'opt-out' });
  const apply = h('button', { type: 'button', id: 'apply-consent' }, 'Sign and apply to the selected works');
  const applied = h('p', { role: 'status' });
  let after = null;
  const rows = new Map();

  async function loadPage() {
    try {
      const q = after ? `?limit=100&after=${after}` : '?limit=100';
      const artist = await call('GET', `/v1/artists/${account.artistId}${q}`);
      const views = await limited(artist.works.items, 8, (hash) => call('GET', `/v1/works/${hash}`));
      views.forEach((view) => addRow(view));
      after = artist.works.next_after;
      more.hidden = !after;
      status.textContent = `${rows.size} works${after ? ' (more to load)' : ''}.`;
    } catch (e) {
      failure(e, 'Loading your works failed');
      status.textContent = 'Could not load your works.';
    }
  }

  function addRow(view) {
    const mine = view.history.find((e) => e.status === 'current' && e.artist_id === account.artistId);
    const title = mine?.work?.title || '';
    const box = h('input', { type: 'checkbox', value: view.hash, 'aria-label': `Select ${title || view.hash}` });
    const row = h('tr', {},
      h('td', {}, box),
      h('td', {}, h('a', { href: `#/work/${view.hash}` }, title || shortHash(view.hash))),
      h('td', { dataset: { label: 'Your consent' } }, consentWords(mine ? mine.declared : view.consent)),
      h('td', { dataset: { label: 'Terms' } }, mine ? termsWords(mine.terms) : ''),
      h('td', { dataset: { label: 'Dispute' } }, view.disputed ? h('strong', { class: 'disputed' }, 'disputed') : 'none'),
      h('td', { dataset: { label: 'Statements' } }, String(view.history.filter((e) => e.artist_id === account.artistId).length)));
    rows.set(view.hash, { row, box, mine });
    list.append(row);
  }

  selectAll.addEventListener('change', () => {
    for (const { box } of rows.values()) box.checked = selectAll.checked;
  });
  more.addEventListener('click', busy(more, loadPage));
  apply.addEventListener('click', busy(apply, async () => {
    const chosen = [...rows.values()].filter((r) => r.box.checked && r.mine);
    if (chosen.length === 0) {
      notice('Select at least one work first.', 'error');
      return;
    }
    const c = readOrSay(form);
    if (!c) return;
    try {
      const accepted = await submitStatements(session(), signer(), chosen.map((r) => r.mine.work), c.consent, c.terms);
      applied.textContent = `${accepted.filter((a) => a.status === 'created').length} new statements recorded; the old ones stay in each work's history.`;
      notice('Consent changed.', 'ok');
      list.replaceChildren();
      rows.clear();
      after = null;
      await loadPage();
    } catch (e) {
      failure(e, 'Changing consent failed');
    }
  }));
  loadPage();
  return [
    h('h1', {}, 'My works'),
    status,
    h('div', { class: 'table-wrap' }, h('table', { id: 'works-table' },
      h('caption', { class: 'visually-hidden' }, 'Your works'),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, selectAll), h('th', { scope: 'col' }, 'Work'), h('th', { scope: 'col' }, 'Your consent'), h('th', { scope: 'col' }, 'Terms'), h('th', { scope: 'col' }, 'Dispute'), h('th', { scope: 'col' }, 'Statements'))),
      list)),
    more,
    h('section', { class: 'stack', 'aria-labelledby': 'change-h' },
      h('h2', { id: 'change-h' }, 'Change consent for the selected works'),
      h('p', {}, 'A new signed statement supersedes your current one; the history keeps every statement.'),
      form.element, apply, applied),
  ];
}

/** What the registry says about one work: consent, claimants, history. */
export function workView(view, { verifierKey } = {}) {
  const history = view.history.map((e) => {
    const proof = `/v1/log/proof/inclusion?index=${e.seq}`;
    return h('li', { class: 'history-entry' },
      h('p', {}, h('strong', {}, e.display_name), ` (${e.status}) — issued ${when(e.issued_at)}, received ${when(e.received_at)}`),
      h('p', {}, consentWords(e.declared), '; ', termsWords(e.terms)),
      e.work && e.work.title ? h('p', {}, 'Title: ', h('cite', {}, e.work.title)) : null,
      h('p', { class: 'links' },
        h('a', { href: proof, rel: 'noopener' }, 'Inclusion proof'), ' · ',
        h('a', { href: `/v1/log/receipts/${e.seq}`, download: `consentry-receipt-${e.seq}.tlog-proof`, class: 'receipt-link' }, 'Receipt'), ' · ',
        h('a', { href: `/v1/documents/${e.statement_id}` }, 'Signed document')),
      h('details', {}, h('summary', {}, 'Signed envelope'), h('pre', { class: 'envelope' }, JSON.stringify(e.envelope, null, 2)),
        h('pre', { class: 'payload' }, JSON.stringify(envelopePayload(e.envelope), null, 2))));
  });
  return h('section', { class: 'work' },
    h('p', { class: 'mono' }, view.hash),
    h('p', {}, h('strong', {}, 'Effective consent: '), consentWords(view.consent)),
    view.disputed ? h('p', { class: 'disputed' }, 'Disputed: more than one artist claims this work.') : null,
    h('h3', {}, 'Claimants'),
    h('ul', {}, view.claimants.map((c) => h('li', {}, h('strong', {}, c.display_name), ` — ${consentWords(c.consent)}; ${termsWords(c.terms)}`))),
    h('h3', {}, 'History'),
    h('ol', { class: 'history' }, history),
    verifierKey ? h('p', { class: 'hint' }, 'Check a receipt offline: ', h('code', {}, `consentry verify-proof RECEIPT --verifier-key '${verifierKey}'`)) : null);
}

/** One work's page (from "My works"). */
export function workPage(hash, ctx) {
  const body = h('div', {}, h('p', { role: 'status' }, 'Loading…'));
  (async () => {
    try {
      const [view, info] = await Promise.all([call('GET', `/v1/works/${hash}`), ctx.registryInfo()]);
      body.replaceChildren(workView(view, { verifierKey: info.log.verifier_key }));
    } catch (e) {
      failure(e, 'Loading the work failed');
      body.replaceChildren(h('p', {}, 'Could not load this work.'));
    }
  })();
  return [h('h1', {}, 'Work'), body, h('p', {}, h('a', { href: '#/works' }, 'Back to my works'))];
}

/** "Look up a work": anyone, no account. */
export function lookupPage(ctx) {
  const out = h('div', { class: 'lookup-result', 'aria-live': 'polite' });
  const onFiles = async ([file]) => {
    notice('');
    out.replaceChildren(h('p', { role: 'status' }, `Hashing ${file.name} on this computer…`));
    try {
      const [r] = await hashFiles([file], { fingerprint: true });
      if (r.error) throw new Error(r.error);
      const info = await ctx.registryInfo();
      const lines = [h('p', {}, 'File: ', file.name), h('p', { class: 'mono' }, r.hash)];
      let exact = null;
      try {
        exact = await call('GET', `/v1/works/${r.hash}`);
      } catch (e) {
        if (!(e instanceof ApiProblem && e.status === 404)) throw e;
      }
      if (exact) {
        out.replaceChildren(...lines, h('h2', { id: 'match-kind' }, 'Exact match: these very bytes are registered'), workView(exact, { verifierKey: info.log.verifier_key }));
        return;
      }
      if (!r.codes || r.codes.length === 0) {
        out.replaceChildren(...lines, h('h2', { id: 'match-kind' }, 'Not registered'),
          h('p', {}, r.note || 'No statement names these bytes, and the file is not an image the page can fingerprint, so near copies cannot be looked for.'));
        return;
      }
      const near = await call('GET', `/v1/near?codes=${encodeURIComponent(r.codes.join(','))}`);
      if (near.matched.length === 0) {
        out.replaceChildren(...lines, h('h2', { id: 'match-kind' }, 'Not registered'),
          h('p', {}, `No registered work has these bytes, and none looks like this image (ISCC image codes within ${near.matching.max_distance} of ${near.matching.bits} bits).`));
        return;
      }
      const views = await limited(near.matched, 4, (m) => call('GET', `/v1/works/${m.hash}`));
      out.replaceChildren(...lines,
        h('h2', { id: 'match-kind' }, 'Near match: a registered work looks like this image'),
        h('p', {}, `These bytes are not registered, but ${near.matched.length === 1 ? 'a registered work\'s image code is' : `${near.matched.length} registered works' image codes are`} within ${near.matching.max_distance} bits of this image's: most likely a resized or re-encoded copy. A dataset check would answer with their consent.`),
        ...views.map((v, i) => h('div', { class: 'near' }, h('h3', {}, `Differs in ${near.matched[i].distance} of ${near.matching.bits} bits`), workView(v, { verifierKey: info.log.verifier_key }))));
    } catch (e) {
      failure(e, 'The lookup failed');
      out.replaceChildren();
    }
  };
  return [
    h('h1', {}, 'Look up a work'),
    h('p', {}, 'Drop an image or any file to see what the registry says about it: its consent, who claims it, and every signed statement. No account needed; the file stays on this computer.'),
    dropZone(onFiles, { multiple: false, folder: false, label: 'Drop a file here' }),
    out,
  ];
}
