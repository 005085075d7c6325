// sscagent fleet console: hash routes over the console's JSON API, live through
// server-sent events. Data goes into the page as text only (no innerHTML).
'use strict';

const $ = (sel) => document.querySelector(sel);
let csrf = '';
let stream = null;
const table = { q: '', presence: '', health: '', rollout: '', sort: 'id', desc: false, page: 0, size: 50 };

function el(tag, attrs, ...kids) {
  const svg = ['svg', 'polyline', 'text', 'line'].includes(tag);
  const e = svg ? document.createElementNS('http://www.w3.org/2000/svg', tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v);
  }
  for (const k of kids.flat()) if (k !== undefined && k !== null) e.append(k instanceof Node ? k : String(k));
  return e;
}

async function api(method, url, body) {
  const opt = { method, headers: { 'X-CSRF-Token': csrf } };
  if (body !== undefined) { opt.headers['Content-Type'] = 'application/json'; opt.body = JSON.stringify(body); }
  const r = await fetch(url, opt);
  const j = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(j.error || r.statusText);
  return j;
}

// listen shows the view at url now and after every change, until the route changes.
function listen(url, render) {
  if (stream) stream.close();
  stream = new EventSource(url + (url.includes('?') ? '&' : '?') + 'stream=1');
  stream.onmessage = (e) => { $('#status').textContent = ''; render(JSON.parse(e.data)); };
  stream.onerror = () => { $('#status').textContent = 'connection to the console lost; retrying'; };
}

function ago(t) {
  if (!t) return '-';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(t)) / 1000));
  return s < 120 ? s + 's ago' : s < 7200 ? Math.round(s / 60) + 'm ago' : Math.round(s / 3600) + 'h ago';
}

function configCell(r) {
  let s = 'v' + r.committed;
  if (r.rollout && !(r.rollout === 'committed' && r.version === r.committed)) s += ' (' + (r.rollout === 'pending' ? 'v' + r.desired : 'v' + r.version) + ' ' + r.rollout + ')';
  return el('span', { class: r.rollout || '' }, s);
}

function presenceCell(r) {
  let s = r.presence;
  if (r.reason) s += ' (' + r.reason + ')';
  if (r.staleDeath) s += ' (stale will ignored)';
  return el('span', { class: r.presence }, s);
}

function view(...kids) { const v = $('#view'); v.replaceChildren(...kids); return v; }

function select(name, values) {
  return el('select', { id: name, onchange: (e) => { table[name] = e.target.value; table.page = 0; showTable(); } },
    values.map((v) => el('option', { value: v, selected: table[name] === v }, v || 'any ' + name)));
}

function showTable() {
  let timer = null;
  const q = el('input', { id: 'q', type: 'search', placeholder: 'id, glob (KIOSK-35*), site, software, problem', size: 40, value: table.q,
    oninput: (e) => { clearTimeout(timer); timer = setTimeout(() => { table.q = e.target.value; table.page = 0; open(); }, 250); } });
  const summary = el('span', { id: 'summary', class: 'muted' });
  const pager = el('span', { class: 'pager' },
    el('button', { type: 'button', id: 'prev', onclick: () => { if (table.page > 0) { table.page--; open(); } } }, '‹ prev'),
    el('span', { id: 'pageno' }), el('button', { type: 'button', id: 'next', onclick: () => { table.page++; open(); } }, 'next ›'));
  const cols = [['id', 'Terminal'], ['presence', 'Presence'], ['epoch', 'Epoch'], ['software', 'Software'], ['site', 'Site'],
    ['config', 'Config'], ['health', 'Health'], ['queue', 'Queue'], ['lastSeen', 'Last seen']];
  const head = el('tr', {}, cols.map(([k, label]) => el('th', { class: 'sort', 'data-key': k, onclick: () => {
    table.desc = table.sort === k ? !table.desc : false; table.sort = k; table.page = 0; open(); } },
  label + (table.sort === k ? (table.desc ? ' ▼' : ' ▲') : ''))));
  const body = el('tbody', { id: 'rows' });
  view(el('h1', {}, 'Terminals'),
    el('div', { class: 'controls' }, q, select('presence', ['', 'online', 'offline', 'unknown']),
      select('health', ['', 'ok', 'degraded', 'unknown']),
      select('rollout', ['', 'pending', 'applying', 'gating', 'committed', 'rejected', 'rolled-back', 'rollback-failed']), pager, summary),
    el('table', { id: 'terminals' }, el('thead', {}, head), body));
  function open() {
    const p = new URLSearchParams({ q: table.q, presence: table.presence, health: table.health, rollout: table.rollout,
      sort: table.sort, desc: table.desc ? 1 : 0, page: table.page, size: table.size });
    head.querySelectorAll('th').forEach((th) => {
      const k = th.dataset.key; th.textContent = cols.find((c) => c[0] === k)[1] + (table.sort === k ? (table.desc ? ' ▼' : ' ▲') : '');
    });
    listen('/api/terminals?' + p, (pg) => {
      const pages = Math.max(1, Math.ceil(pg.matched / pg.size));
      $('#pageno').textContent = ' page ' + (pg.page + 1) + ' of ' + pages + ' ';
      $('#next').disabled = pg.page + 1 >= pages; $('#prev').disabled = pg.page === 0;
      summary.textContent = pg.matched + ' of ' + pg.total + ' terminals · ' + (pg.counts.online || 0) + ' online · ' +
        (pg.counts.offline || 0) + ' offline · ' + (pg.counts.unknown || 0) + ' unknown' + (pg.synced ? '' : ' · loading…');
      body.replaceChildren(...pg.rows.map((r) => el('tr', { 'data-id': r.id },
        el('td', {}, el('a', { href: '#/t/' + encodeURIComponent(r.id) }, r.id)), el('td', { class: 'presence' }, presenceCell(r)),
        el('td', {}, r.epoch), el('td', {}, r.software || '-'), el('td', {}, r.site || ''), el('td', {}, configCell(r)),
        el('td', {}, el('span', { class: r.health }, r.health + (r.stale ? ' (stale)' : '')), r.problems ? el('div', { class: 'muted' }, r.problems.join('; ')) : null),
        el('td', {}, r.queue === undefined ? '-' : r.queue), el('td', {}, ago(r.lastSeen)))));
    });
  }
  open();
}

// chart draws CPU % and queue depth of the telemetry history as two lines.
function chart(hist) {
  const W = 480, H = 120, n = hist.length;
  const svg = el('svg', { class: 'chart', width: W, height: H, viewBox: `0 0 ${W} ${H}` });
  if (n < 2) { svg.append(el('text', { x: 10, y: 20 }, 'not enough samples yet')); return svg; }
  const t0 = Date.parse(hist[0].t), t1 = Date.parse(hist[n - 1].t) || t0 + 1;
  const line = (key, cls) => {
    const top = Math.max(1, ...hist.map((s) => s[key] || 0));
    const pts = hist.map((s) => [((Date.parse(s.t) - t0) / (t1 - t0 || 1)) * (W - 20) + 10, H - 15 - ((s[key] || 0) / top) * (H - 30)]);
    svg.append(el('polyline', { class: cls, points: pts.map((p) => p.map((v) => v.toFixed(1)).join(',')).join(' ') }));
    return top;
  };
  const cpu = line('cpu', 'cpu'), q = line('queue', 'queue');
  svg.append(el('text', { x: 10, y: 11 }, `cpu max ${cpu.toFixed(1)} % · queue max ${q} · ${n} samples over ${Math.round((t1 - t0) / 1000)} s`));
  return svg;
}

function dl(pairs) {
  return el('dl', {}, pairs.filter((p) => p[1] !== undefined && p[1] !== '').flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
}

function showTerminal(id) {
  const out = el('div', { id: 'terminal' });
  const name = el('input', { id: 'cmd-name', placeholder: 'command', size: 14 });
  const args = el('input', { id: 'cmd-args', placeholder: 'args (JSON)', size: 24 });
  const run = async (n, a) => {
    try { await api('POST', '/api/terminals/' + encodeURIComponent(id) + '/commands', { name: n, args: a ? JSON.parse(a) : undefined }); } catch (e) { $('#status').textContent = e.message; }
  };
  const cmds = el('div', { class: 'controls' }, ['ping', 'diagnostics', 'config.status', 'queue.stats'].map((n) =>
    el('button', { type: 'button', 'data-cmd': n, onclick: () => run(n) }, n)), name, args,
  el('button', { type: 'button', onclick: () => run(name.value, args.value) }, 'run'));
  view(el('h1', {}, el('a', { href: '#/' }, 'Terminals'), ' / ', id), out, el('h2', {}, 'Commands'), cmds, el('div', { id: 'commands' }));
  listen('/api/terminals/' + encodeURIComponent(id), (d) => {
    if (d.error) { out.replaceChildren(el('p', { class: 'error' }, d.error)); return; }
    const s = d.state || {}, reg = s.terminal || {}, sw = s.software || {}, tm = d.telemetry || {};
    out.replaceChildren(
      dl([['presence', presenceCell(d)], ['epoch', d.epoch], ['health', d.health + (d.problems ? ': ' + d.problems.join('; ') : '')],
        ['last seen', ago(d.lastSeen)], ['manufacturer', reg.manufacturer], ['model', reg.model], ['institution', reg.institution],
        ['credit code', reg.creditCode], ['region', reg.region], ['site', reg.site], ['device type', reg.deviceType],
        ['card modes', (reg.cardModes || []).join(', ')], ['software', sw.version ? `${sw.version} (${sw.commit}, ${sw.go})` : undefined],
        ['platform', s.platform ? `${s.platform.channelNo} (${s.platform.profile})` : undefined], ['started', s.startedAt], ['boot', s.boot],
        ['config', configCell(d)], ['desired', d.desiredDoc ? `v${d.desiredDoc.version} by ${d.desiredDoc.issuedBy}` : undefined],
        ['queue', tm.queue ? `${tm.queue.depth} (oldest ${Math.round(tm.queue.oldestAgeSeconds)} s, quarantined ${tm.queue.quarantined})` : undefined]]),
      el('h2', {}, 'Telemetry ', el('span', { class: 'legend-cpu' }, '— cpu %'), ' ', el('span', { class: 'legend-queue' }, '— queue depth')), chart(d.history),
      el('h2', {}, 'Recent events'),
      d.events.length ? el('table', { id: 'events' }, d.events.map((e) => el('tr', {}, el('td', {}, e.time), el('td', {}, e.kind),
        el('td', {}, e.ok ? 'ok' : 'not ok'), el('td', {}, e.code || ''), el('td', {}, e.data ? JSON.stringify(e.data) : '')))) : el('p', { class: 'muted' }, 'none received'));
    $('#commands').replaceChildren(...d.commands.map((c) => el('div', { class: 'command' },
      el('strong', {}, c.name), ' ', el('span', { class: 'cmd-status ' + c.status }, c.status), ' ',
      el('span', { class: 'muted' }, (c.by ? 'by ' + c.by + ' ' : '') + (c.id || '')),
      c.error ? el('p', { class: 'error' }, c.error) : null,
      c.result ? el('pre', { class: 'result' }, JSON.stringify(c.result, null, 2)) : null)));
  });
}

function showRollouts() {
  const targets = el('input', { id: 'targets', size: 40, placeholder: 'ids or globs: KIOSK-35* GATE-0001' });
  const doc = el('textarea', { id: 'doc', placeholder: 'log:\n  level: debug\n' });
  const file = el('input', { type: 'file', accept: '.yaml,.yml,text/yaml', onchange: async (e) => { doc.value = await e.target.files[0].text(); } });
  const batch = el('input', { id: 'batch', type: 'number', min: 0, value: 0, size: 5 });
  const err = el('p', { class: 'error', id: 'rollout-error' });
  const form = el('form', { id: 'rollout-form', onsubmit: async (e) => {
    e.preventDefault(); err.textContent = '';
    try {
      const r = await api('POST', '/api/rollouts', { targets: targets.value, doc: doc.value, batch: Number(batch.value) });
      location.hash = '#/r/' + r.id;
    } catch (x) { err.textContent = x.message; }
  } }, el('p', {}, el('label', {}, 'Targets ', targets)), el('p', {}, 'Configuration overlay (YAML) ', file), doc,
  el('p', {}, el('label', {}, 'Batch size (0: all at once) ', batch), ' ', el('button', { type: 'submit' }, 'Push configuration')), err);
  const list = el('tbody', { id: 'rollouts' });
  view(el('h1', {}, 'Rollouts'), form, el('h2', {}, 'Recent rollouts'), el('table', {}, list));
  listen('/api/rollouts', (rs) => list.replaceChildren(...rs.map((r) => el('tr', {},
    el('td', {}, el('a', { href: '#/r/' + r.id }, r.id)), el('td', {}, r.by), el('td', { class: r.state }, r.state),
    el('td', {}, r.targets.join(' ')), el('td', {}, Object.entries(r.counts).map(([k, v]) => k + ' ' + v).join(', ')), el('td', {}, r.started)))));
}

function showRollout(id) {
  const out = el('div', { id: 'rollout' });
  view(el('h1', {}, el('a', { href: '#/rollouts' }, 'Rollouts'), ' / ', id), out);
  listen('/api/rollouts/' + encodeURIComponent(id), (r) => {
    if (r.error) { out.replaceChildren(el('p', { class: 'error' }, r.error)); return; }
    out.replaceChildren(
      dl([['state', el('span', { id: 'rollout-state', class: r.state }, r.state + (r.reason ? ': ' + r.reason : ''))], ['by', r.by],
        ['targets', r.targets.join(' ')], ['batch', r.batch], ['sha256', r.sha256], ['started', r.started], ['ended', r.ended],
        ['terminals', el('span', { id: 'rollout-counts' }, Object.entries(r.counts).map(([k, v]) => v + ' ' + k).join(', '))]]),
      r.state === 'running' ? el('button', { type: 'button', id: 'stop', onclick: () => api('POST', '/api/rollouts/' + encodeURIComponent(id) + '/stop').catch((e) => { $('#status').textContent = e.message; }) }, 'Stop rollout') : '',
      el('pre', {}, r.doc),
      el('table', { id: 'rollout-terminals' }, r.terminals.map((t) => el('tr', { 'data-id': t.id },
        el('td', {}, el('a', { href: '#/t/' + encodeURIComponent(t.id) }, t.id)), el('td', { class: t.status }, t.status),
        el('td', {}, t.version ? 'v' + t.version : ''), el('td', {}, (t.reason || '') + (t.problems ? ' ' + t.problems.map((p) => (p.path ? p.path + ': ' : '') + p.reason).join('; ') : ''))))));
  });
}

function route() {
  const h = decodeURIComponent(location.hash.slice(1) || '/');
  if (h.startsWith('/t/')) showTerminal(h.slice(3));
  else if (h.startsWith('/r/')) showRollout(h.slice(3));
  else if (h === '/rollouts') showRollouts();
  else showTable();
}

function loggedIn(s) {
  csrf = s.csrf;
  $('#login').hidden = true; $('#nav').hidden = false;
  $('#who').textContent = s.manager;
  route();
}

$('#login-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const r = await fetch('/login', { method: 'POST', body: new URLSearchParams({ token: $('#token').value }) });
  const j = await r.json().catch(() => ({}));
  $('#token').value = '';
  if (r.ok) loggedIn(j); else $('#login-error').textContent = j.error || r.statusText;
});
$('#logout').addEventListener('click', async () => {
  await api('POST', '/logout').catch(() => {});
  location.reload();
});
window.addEventListener('hashchange', () => { if (csrf) route(); });
fetch('/api/session').then(async (r) => {
  if (r.ok) loggedIn(await r.json()); else { $('#login').hidden = false; $('#token').focus(); }
});
