// anneal studio: the pages' behaviour. Served as a file (the Content-Security-Policy allows
// no inline script), no libraries. Keyboard labeling is optimistic: the next example's panel
// is fetched ahead and swapped in at once; the edit is POSTed in the background and a banner
// says so if it fails.
'use strict';
(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const view = document.body.dataset.view;
  const panelView = ['example', 'mislabeled', 'uncertain'].includes(view);

  function banner(text, ok) {
    const b = $('#banner');
    b.textContent = text;
    b.className = ok ? 'ok' : 'error';
    b.hidden = !text;
  }

  // A message that outlives the reload it precedes (the page is rendered again after a bulk
  // edit, and the banner must still say what happened).
  function bannerAfterReload(text) {
    sessionStorage.setItem('anneal-banner', text);
    location.reload();
  }

  function storedBanner() {
    const text = sessionStorage.getItem('anneal-banner');
    if (text) { sessionStorage.removeItem('anneal-banner'); banner(text, true); }
  }

  // Edits reach the server in the order they were made: a commit after the edits before it,
  // an undo after the edit it undoes. The page does not wait for them.
  let edits = Promise.resolve();
  function inOrder(url, body) {
    const sent = edits.then(() => post(url, body));
    edits = sent.catch(() => {});
    return sent;
  }

  async function post(url, body) {
    const r = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body || {}),
      credentials: 'same-origin',
    });
    const text = await r.text();
    if (!r.ok) throw new Error(text || r.statusText);
    return text ? JSON.parse(text) : {};
  }

  function setStaged(n) {
    const s = $('#staged');
    if (s) { s.dataset.n = n; s.textContent = n + ' staged'; }
  }

  async function commit() {
    try {
      const o = await inOrder('/api/commit');
      setStaged(0);
      banner(o.commit ? 'committed ' + o.commit.slice(0, 12) + ': ' + o.message : 'nothing changed', true);
    } catch (e) { banner('commit failed: ' + e.message); }
  }

  async function discard() {
    try { await inOrder('/api/discard'); setStaged(0); location.reload(); } catch (e) { banner('discard failed: ' + e.message); }
  }

  async function pollBuild() {
    const note = $('#build-note');
    const r = await fetch('/api/build', { credentials: 'same-origin' });
    if (!r.ok) return;
    const s = await r.json();
    note.textContent = s.note + (s.running && s.epochs ? ' (' + s.epoch + '/' + s.epochs + ')' : '');
    note.className = s.failed ? 'error' : '';
    if (s.running) setTimeout(pollBuild, 1000);
  }

  async function rebuild() {
    try { await inOrder('/api/rebuild'); pollBuild(); } catch (e) { banner('rebuild: ' + e.message); }
  }

  function header() {
    const on = (id, f) => { const b = $(id); if (b) b.addEventListener('click', f); };
    on('#commit', commit);
    on('#discard', discard);
    on('#rebuild', rebuild);
    pollBuild();
  }

  // ---- the grid: selection and bulk labeling ----
  function grid() {
    const picks = $$('.pick');
    let last = -1;
    const count = () => { $('#selected-n').textContent = picks.filter(p => p.checked).length; };
    picks.forEach((p, i) => p.addEventListener('click', e => {
      if (e.shiftKey && last >= 0) {
        const [a, b] = [Math.min(last, i), Math.max(last, i)];
        for (let k = a; k <= b; k++) picks[k].checked = p.checked;
      }
      last = i;
      count();
    }));
    const all = $('#select-page');
    if (all) all.addEventListener('change', () => { picks.forEach(p => { p.checked = all.checked; }); count(); });
    const apply = $('#bulk-apply');
    if (apply) apply.addEventListener('click', async () => {
      const ids = picks.filter(p => p.checked).map(p => p.value);
      if (!ids.length) { banner('select examples first'); return; }
      try {
        const o = await inOrder('/api/bulk', { ids, label: $('#bulk-label').value });
        bannerAfterReload('committed: ' + o.message);
      } catch (e) { banner('bulk label failed: ' + e.message); }
    });
    $$('.play').forEach(b => b.addEventListener('click', () => new Audio(b.dataset.src).play()));
  }

  // ---- the example view: panels fetched ahead, swapped on keys ----
  const pending = new Map(); // panel URL -> Promise<html>
  const ready = new Map();   // panel URL -> html
  const undo = [];

  function warm(html) {
    const t = document.createElement('template');
    t.innerHTML = html;
    $$('img', t.content).forEach(i => { const im = new Image(); im.src = i.getAttribute('src'); });
  }

  function fetchPanel(url) {
    if (!url) return null;
    if (!pending.has(url)) {
      const p = fetch(url, { credentials: 'same-origin' })
        .then(r => r.ok ? r.text() : r.text().then(t => { throw new Error(t); }))
        .then(html => { warm(html); ready.set(url, html); return html; });
      p.catch(() => { pending.delete(url); });
      pending.set(url, p);
    }
    return pending.get(url);
  }

  function forget(url) { pending.delete(url); ready.delete(url); }
  const current = () => $('#example .panel');

  function prefetch() {
    const p = current();
    if (!p) return;
    document.documentElement.dataset.prefetched = '0';
    const next = fetchPanel(p.dataset.next);
    fetchPanel(p.dataset.prev);
    if (next) next.then(() => { document.documentElement.dataset.prefetched = '1'; }, () => {});
    else document.documentElement.dataset.prefetched = '1';
  }

  function swap(html, href) {
    $('#example').innerHTML = html;
    if (href) history.replaceState(null, '', href);
    const p = current();
    if (p) document.title = p.dataset.id + ' · anneal studio';
    bindKeys();
    prefetch();
  }

  async function go(dir) {
    const p = current();
    const url = p.dataset[dir];
    const href = p.dataset[dir + 'Href'];
    if (!url) { banner(dir === 'next' ? 'end of this view' : 'start of this view', true); return; }
    if (ready.has(url)) { swap(ready.get(url), href); return; }
    try { swap(await fetchPanel(url), href); } catch (e) { banner('could not open: ' + e.message); }
  }

  function label(value) {
    const p = current();
    if (!p) return;
    const id = p.dataset.id;
    const before = p.dataset.effective === '(none)' ? null : p.dataset.effective;
    const self = p.dataset.self;
    undo.push({ id, before, self, href: location.pathname + location.search });
    forget(self);
    const staged = $('#staged');
    setStaged(Number(staged ? staged.dataset.n : 0) + 1);
    inOrder('/api/stage', { id, label: value })
      .then(o => setStaged(o.staged))
      .catch(e => banner('not saved: ' + id + ' -> ' + value + ': ' + e.message));
    go('next');
  }

  async function undoLast() {
    const u = undo.pop();
    if (!u) { banner('nothing to undo', true); return; }
    try {
      const o = await inOrder('/api/stage', { id: u.id, label: u.before });
      setStaged(o.staged);
      forget(u.self);
      swap(await fetchPanel(u.self), u.href);
    } catch (e) { banner('undo failed: ' + e.message); }
  }

  function bindKeys() {
    $$('.panel .key').forEach(b => b.addEventListener('click', () => label(b.dataset.label)));
    const t = $('#typeahead');
    if (t) t.addEventListener('keydown', e => {
      const ok = $$('#class-list option').some(o => o.value === t.value);
      if (e.key === 'Enter' && ok) { e.preventDefault(); label(t.value); }
      if (e.key === 'Escape') t.blur();
      e.stopPropagation();
    });
  }

  function classKey(key) {
    const k = $$('.panel .key').find(b => $('kbd', b).textContent === key);
    return k ? k.dataset.label : null;
  }

  function keep() {
    const p = current();
    if (!p) return;
    const id = p.dataset.id;
    inOrder('/api/keep', { id, label: p.dataset.label })
      .catch(e => banner('not kept: ' + id + ': ' + e.message));
    go('next');
  }

  function accept() {
    const p = current();
    if (p && p.dataset.suggestion) label(p.dataset.suggestion);
  }

  const moves = { j: () => go('next'), ArrowRight: () => go('next'), ArrowLeft: () => go('prev'), u: undoLast, c: commit };
  const exampleKeys = Object.assign({ k: () => go('prev') }, moves);
  const queueKeys = {
    mislabeled: Object.assign({ k: keep, a: accept, Enter: accept }, moves),
    uncertain: Object.assign({ Enter: accept }, moves),
  };

  function onKey(e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const tag = e.target && e.target.tagName;
    if (tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA') return;
    if (view === 'grid' && e.key === 'c') { commit(); return; }
    if (!panelView || !current()) return;
    const cls = classKey(e.key);
    if (cls !== null) { e.preventDefault(); label(cls); return; }
    const f = (queueKeys[view] || exampleKeys)[e.key];
    if (f) { e.preventDefault(); f(); return; }
    const t = $('#typeahead');
    if (t && e.key.length === 1) t.focus();
  }

  header();
  storedBanner();
  if (view === 'grid') grid();
  if (panelView) { bindKeys(); prefetch(); }
  document.addEventListener('keydown', onKey);
})();
