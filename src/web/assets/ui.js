// DOM helpers. Text always goes in as text (textContent), never as markup:
// names, titles and credit lines from the registry cannot inject anything.

import { explain } from './api.js';

/** An element: h('p', {class: 'x', onclick: f}, 'text', child, ...). */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** Replaces the main area's content and moves focus to its heading. */
export function show(...children) {
  const main = document.getElementById('main');
  main.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  const heading = main.querySelector('h1, h2');
  if (heading) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: false });
  }
}

/** A message in the page's live region (announced by screen readers). */
export function notice(text, kind = 'info') {
  const region = document.getElementById('notice');
  region.className = `notice ${kind}`;
  region.textContent = text;
  region.hidden = !text;
}

/** Shows an error in words; never fails silently. */
export function failure(err, context) {
  console.error(context, err);
  notice(`${context ? `${context}: ` : ''}${explain(err)}`, 'error');
}

/** Offers `text` as a file to save. */
export function download(name, text, type = 'application/json') {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** A labelled field: the label's `for` names the control. */
export function field(label, control, help) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  const hint = help ? h('p', { class: 'hint', id: `${id}-hint` }, help) : null;
  if (hint) control.setAttribute('aria-describedby', hint.id);
  return h('div', { class: 'field' }, h('label', { for: id }, label), control, hint);
}

/** Runs an async action from a button, disabling it meanwhile. */
export function busy(button, action) {
  return async (event) => {
    if (event) event.preventDefault();
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    try {
      await action();
    } finally {
      button.disabled = false;
      button.removeAttribute('aria-busy');
    }
  };
}

export function shortHash(hash) {
  return `${hash.slice(0, 15)}…${hash.slice(-6)}`;
}

export function when(ts) {
  const d = new Date(ts);
  return Number.isNaN(d.getTime()) ? ts : d.toLocaleString();
}
