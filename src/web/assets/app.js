// The artist web app: routes (#/...), the account (keys, registration,
// sign-in) and the statistics page. Works live in works.js.

import { call, Session, ApiProblem } from './api.js';
import { PAYLOAD_TYPES, signEnvelope, issuedAt } from './dsse.js';
import * as keys from './keys.js';
import { h, show, notice, failure, download, field, busy, when } from './ui.js';
import { registerPage, worksPage, workPage, lookupPage } from './works.js';

const state = {
  account: keys.account(),
  keyRecord: null,
  session: null,
  info: null,
};

async function registryInfo() {
  if (!state.info) state.info = await call('GET', '/v1/registry');
  return state.info;
}

function signer() {
  return keys.signer(state.keyRecord);
}

function session() {
  if (!state.session || state.session.signer.keyId !== state.keyRecord.keyId) {
    state.session = new Session(signer());
  }
  return state.session;
}

const ctx = { session, signer, registryInfo, get account() { return state.account; } };

async function loadKey() {
  state.keyRecord = null;
  if (!state.account) return;
  const all = await keys.listKeys();
  state.keyRecord = all.find((k) => k.keyId === state.account.keyId) || null;
  if (!state.keyRecord) state.account = null;
}

function setAccount(account) {
  state.account = account;
  keys.setAccount(account);
  state.session = null;
  renderNav();
}

// ---- navigation ----------------------------------------------------------------

function renderNav() {
  const nav = document.getElementById('nav');
  const signedIn = Boolean(state.account && state.keyRecord);
  const link = (href, text) => h('li', {}, h('a', { href, 'aria-current': location.hash === href ? 'page' : undefined }, text));
  nav.replaceChildren(h('ul', {},
    link('#/', signedIn ? 'Account' : 'Start'),
    signedIn ? link('#/register', 'Register works') : null,
    signedIn ? link('#/works', 'My works') : null,
    link('#/lookup', 'Look up a work'),
    link('#/stats', 'Statistics')));
  const who = document.getElementById('who');
  who.textContent = signedIn ? `Signed in as ${state.account.displayName}` : '';
}

async function route() {
  notice('');
  renderNav();
  // In-page anchors (the skip link's #main) are not routes.
  if (location.hash && !location.hash.startsWith('#/')) return;
  const path = location.hash.replace(/^#/, '') || '/';
  const needAccount = ['/register', '/works'].includes(path) || path.startsWith('/work/');
  if (needAccount && !(state.account && state.keyRecord)) {
    show(h('h1', {}, 'Sign in first'), h('p', {}, 'Create or restore your artist key on the start page.'), h('a', { href: '#/', class: 'button' }, 'Start'));
    return;
  }
  try {
    if (path === '/register') show(registerPage(ctx));
    else if (path === '/works') show(worksPage(ctx));
    else if (path.startsWith('/work/')) show(workPage(decodeURIComponent(path.slice(6)), ctx));
    else if (path === '/lookup') show(lookupPage(ctx));
    else if (path === '/stats') show(statsPage());
    else if (state.account && state.keyRecord) show(await accountPage());
    else show(await startPage());
  } catch (e) {
    failure(e, 'This page failed to load');
  }
}

// ---- start: create or restore a key, register -------------------------------

function backupBlock(pem, keyId) {
  const saved = h('p', { class: 'hint', role: 'status' }, 'Not saved yet.');
  const button = h('button', { type: 'button', id: 'download-backup', onclick: () => {
    download(`consentry-${keyId.slice(8, 20)}.key`, pem, 'application/x-pem-file');
    saved.textContent = 'Saved. Keep this file private and safe: it is the only copy of your key outside this browser.';
  } }, 'Download key backup');
  return h('div', { class: 'backup' },
    h('p', {}, 'Your key was made in this browser. Download its backup now: the browser keeps the key so that no page can read it, so this is the only moment it can be saved. The file is a standard key file: `consentry --key` (the command line) reads it too.'),
    button, saved);
}

async function startPage() {
  const nonExtractable = await keys.hasWebCryptoEd25519();
  const name = h('input', { type: 'text', name: 'display_name', required: true, maxLength: 512, autocomplete: 'name', id: 'display-name' });
  const create = h('button', { type: 'submit', id: 'create-artist' }, 'Create my key and register');
  const out = h('div', { 'aria-live': 'polite' });
  const createForm = h('form', { class: 'stack' },
    field('Your name as artist (public)', name, 'Shown with every statement you make.'), create);
  createForm.addEventListener('submit', busy(create, async () => {
    const displayName = name.value.trim();
    if (!displayName) {
      notice('Give the name you want your statements to carry.', 'error');
      name.focus();
      return;
    }
    try {
      const { record, pem } = await keys.generateKey(displayName);
      await keys.saveKey(record);
      out.replaceChildren(backupBlock(pem, record.keyId));
      await registerArtist(record, displayName);
      out.append(h('p', {}, 'You are registered. ', h('a', { href: '#/register', class: 'button' }, 'Register your works')));
    } catch (e) {
      failure(e, 'Registering failed');
    }
  }));

  const file = h('input', { type: 'file', accept: '.key,.pem,text/plain', id: 'restore-file' });
  const restoreOut = h('div', { 'aria-live': 'polite' });
  file.addEventListener('change', async () => {
    const f = file.files[0];
    if (!f) return;
    try {
      if (f.size > 4096) throw new Error('this file is too large to be a key file');
      const record = await keys.importKeyFile(await f.text(), f.name);
      await keys.saveKey(record);
      await signInWith(record, restoreOut);
    } catch (e) {
      failure(e, 'Restoring the key failed');
    }
  });

  return [
    h('h1', {}, 'Say how your art may be used'),
    h('p', {}, 'Consentry is a public registry where artists record, with their own signature, whether their works may be used to train AI models and on what terms. Dataset builders check it before training.'),
    h('p', { class: 'privacy' }, 'Your key is made and kept in this browser; your files never leave this computer. Only hashes, image fingerprints and your signed statements are sent.'),
    nonExtractable ? null : h('p', { class: 'notice error' }, 'This browser cannot keep keys unreadable to pages (no WebCrypto Ed25519); the key is stored as bytes in this browser\'s storage.'),
    h('section', { class: 'card', 'aria-labelledby': 'new-h' }, h('h2', { id: 'new-h' }, 'New here'), createForm, out),
    h('section', { class: 'card', 'aria-labelledby': 'restore-h' }, h('h2', { id: 'restore-h' }, 'I have a key'),
      h('p', {}, 'Restore a key backup from this app, or a key file made with consentry keygen.'),
      field('Key file', file), restoreOut),
  ];
}

async function registerArtist(record, displayName) {
  const payload = { version: 1, key: record.keyId, display_name: displayName, issued_at: issuedAt() };
  const { envelope } = await signEnvelope(PAYLOAD_TYPES.artist, payload, [keys.signer(record)]);
  const result = await call('POST', '/v1/artists', { body: envelope });
  state.keyRecord = record;
  setAccount({ artistId: result.artist_id, keyId: record.keyId, displayName });
  notice(`Registered as ${displayName}.`, 'ok');
}

async function signInWith(record, out) {
  const s = new Session(keys.signer(record));
  try {
    await s.signIn();
  } catch (e) {
    if (e instanceof ApiProblem && (e.status === 401 || e.slug === 'unknown-key')) {
      const name = h('input', { type: 'text', required: true, maxLength: 512, id: 'restore-name' });
      const go = h('button', { type: 'submit', id: 'register-restored' }, 'Register as a new artist with this key');
      const form = h('form', { class: 'stack' }, h('p', {}, 'The registry does not know this key yet.'), field('Your name as artist (public)', name), go);
      form.addEventListener('submit', busy(go, async () => {
        try {
          await registerArtist(record, name.value.trim());
          location.hash = '#/register';
        } catch (err) {
          failure(err, 'Registering failed');
        }
      }));
      out.replaceChildren(form);
      return;
    }
    throw e;
  }
  if (s.claims.role !== 'artist') throw new Error(`this key belongs to a ${s.claims.role}, not an artist`);
  const artist = await call('GET', `/v1/artists/${s.claims.subject}?limit=1`);
  state.keyRecord = record;
  state.session = s;
  setAccount({ artistId: artist.artist_id, keyId: record.keyId, displayName: artist.display_name });
  notice(`Signed in as ${artist.display_name}.`, 'ok');
  route();
}

// ---- account: keys ---------------------------------------------------------------

async function keyEvent(action, key, signers, extra = {}) {
  const payload = { version: 1, artist: state.account.artistId, action, key, ...extra, issued_at: issuedAt() };
  const { envelope } = await signEnvelope(PAYLOAD_TYPES.keyEvent, payload, signers);
  return session().call('POST', `/v1/artists/${state.account.artistId}/keys`, envelope);
}

async function accountPage() {
  const artist = await call('GET', `/v1/artists/${state.account.artistId}?limit=1`);
  const local = await keys.listKeys();
  const out = h('div', { 'aria-live': 'polite' });
  const rows = artist.keys.map((k) => {
    const here = local.find((l) => l.keyId === k.key);
    const actions = [];
    if (k.status === 'active' && k.key !== state.keyRecord.keyId) {
      const revoke = h('button', { type: 'button', class: 'danger', dataset: { key: k.key } }, 'Revoke');
      revoke.addEventListener('click', busy(revoke, async () => {
        try {
          await keyEvent('revoke', k.key, [signer()]);
          await route();
          notice('Key revoked.', 'ok');
        } catch (e) {
          failure(e, 'Revoking failed');
        }
      }));
      actions.push(revoke);
    }
    if (k.status === 'active' && here && k.key !== state.keyRecord.keyId) {
      const use = h('button', { type: 'button' }, 'Sign with this key');
      use.addEventListener('click', () => {
        state.keyRecord = here;
        setAccount({ ...state.account, keyId: here.keyId });
        route();
      });
      actions.push(use);
    }
    return h('tr', {},
      h('td', { class: 'mono' }, `${k.key.slice(0, 20)}…`),
      h('td', {}, k.status, k.key === state.keyRecord.keyId ? ' (this browser signs with it)' : here ? ' (also in this browser)' : ''),
      h('td', {}, when(k.added_at)),
      h('td', {}, k.revoked_at ? when(k.revoked_at) : ''),
      h('td', {}, actions));
  });

  const add = h('button', { type: 'button', id: 'add-key' }, 'Add a new key');
  add.addEventListener('click', busy(add, async () => {
    try {
      const { record, pem } = await keys.generateKey(`${state.account.displayName} (added)`);
      await keyEvent('add', record.keyId, [signer(), keys.signer(record)]);
      await keys.saveKey(record);
      out.replaceChildren(backupBlock(pem, record.keyId));
      notice('Key added.', 'ok');
    } catch (e) {
      failure(e, 'Adding a key failed');
    }
  }));
  const rotate = h('button', { type: 'button', id: 'rotate-key' }, 'Rotate: replace this browser\'s key with a new one');
  rotate.addEventListener('click', busy(rotate, async () => {
    try {
      const old = state.keyRecord;
      const { record, pem } = await keys.generateKey(`${state.account.displayName} (rotated)`);
      await keyEvent('rotate', record.keyId, [keys.signer(old), keys.signer(record)], { replaces: old.keyId });
      await keys.saveKey(record);
      state.keyRecord = record;
      setAccount({ ...state.account, keyId: record.keyId });
      await keys.deleteKey(old.keyId);
      await route();
      document.getElementById('key-out').replaceChildren(backupBlock(pem, record.keyId));
      notice('Key rotated: the old key is revoked and forgotten by this browser; back up the new one.', 'ok');
    } catch (e) {
      failure(e, 'Rotating the key failed');
    }
  }));
  const signOut = h('button', { type: 'button', id: 'sign-out' }, 'Sign out and forget the key in this browser');
  signOut.addEventListener('click', async () => {
    await keys.deleteKey(state.keyRecord.keyId);
    state.keyRecord = null;
    setAccount(null);
    route();
  });
  out.id = 'key-out';
  return [
    h('h1', {}, artist.display_name),
    h('p', {}, 'Artist id ', h('code', { id: 'artist-id' }, artist.artist_id), `, registered ${when(artist.registered_at)}.`),
    h('p', {}, h('a', { href: '#/register', class: 'button' }, 'Register works'), ' ', h('a', { href: '#/works', class: 'button' }, 'My works')),
    h('h2', {}, 'Keys'),
    h('div', { class: 'table-wrap' }, h('table', { id: 'keys-table' }, h('caption', { class: 'visually-hidden' }, 'Your keys'),
      h('thead', {}, h('tr', {}, ['Key', 'Status', 'Added', 'Revoked', 'Actions'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows))),
    h('p', { class: 'stack-row' }, add, rotate),
    out,
    h('p', {}, signOut),
  ];
}

// ---- statistics ------------------------------------------------------------------

function statsPage() {
  const img = h('img', { alt: 'Monthly registrations: all artists, senior and junior artists, with the trend before and after the cutoff', id: 'stats-chart', class: 'chart' });
  const params = {
    basis: h('select', { name: 'basis' }, h('option', { value: 'registered' }, 'registration time'), h('option', { value: 'published' }, 'declared publication date')),
    bucket: h('select', { name: 'bucket' }, ['month', 'week', 'quarter'].map((b) => h('option', { value: b }, b))),
    from: h('input', { type: 'date', name: 'from', value: '2021-01-01' }),
    to: h('input', { type: 'date', name: 'to', value: new Date().toISOString().slice(0, 10) }),
    cutoff: h('input', { type: 'date', name: 'cutoff', value: '2022-01-01' }),
    cap: h('input', { type: 'number', name: 'cap', min: '0', step: '1', value: '1', inputMode: 'numeric' }),
  };
  const links = h('p', { class: 'links' });
  const draw = (event) => {
    if (event) event.preventDefault();
    const q = new URLSearchParams();
    for (const [k, el] of Object.entries(params)) if (el.value) q.set(k, el.value);
    img.src = `/v1/stats/uploads.svg?${q}`;
    links.replaceChildren(h('a', { href: `/v1/stats/uploads?${q}` }, 'The figures (JSON)'), ' · ', h('a', { href: img.src }, 'The chart (SVG)'));
  };
  img.addEventListener('error', async () => {
    try {
      await call('GET', img.src.replace('uploads.svg', 'uploads'));
    } catch (e) {
      failure(e, 'The chart could not be drawn');
    }
  });
  const form = h('form', { class: 'stats-form' },
    field('Count uploads by', params.basis), field('Per', params.bucket), field('From', params.from), field('To', params.to),
    field('Cutoff (e.g. a model release)', params.cutoff, 'Artists whose first upload is before it are seniors, the others juniors.'),
    field('Uploads counted per artist and period, at most', params.cap, '0 counts them all.'),
    h('button', { type: 'submit' }, 'Draw'));
  form.addEventListener('submit', draw);
  draw();
  return [h('h1', {}, 'Upload trends'),
    h('p', {}, 'Registrations over time, for all artists, senior artists (first upload before the cutoff) and junior ones, with their trends and the changes at the events the chart marks, as the registry computes them from its records (spec/stats.md).'),
    form, img, links];
}

// ---- start -----------------------------------------------------------------------

window.addEventListener('hashchange', route);
window.addEventListener('unhandledrejection', (event) => failure(event.reason, 'Something failed'));
(async () => {
  try {
    await loadKey();
  } catch (e) {
    failure(e, 'Reading the stored key failed');
  }
  route();
})();
