// The funnel explorer (docs/api.md, "The funnel explorer page"): plain JS and SVG, served by
// `frocket serve` from the binary. It only talks to the API: the schema suggests columns and
// values, the query runs with ?stream=true for a live progress bar, and the answer is drawn.
'use strict';

const $ = (id) => document.getElementById(id);
const SVG = 'http://www.w3.org/2000/svg';
const COLORS = ['#2563eb', '#16a34a', '#ea580c', '#9333ea', '#0891b2', '#db2777', '#ca8a04', '#4b5563'];
const OPS = {
  INT: ['==', '!=', '>', '>=', '<', '<='],
  FLOAT: ['==', '!=', '>', '>=', '<', '<='],
  BOOL: ['==', '!='],
  STRING: ['==', '!=', 'contains', 'not contains', 'regex'],
};
const state = { schema: null, dataset: null, running: false };

function token() { return localStorage.getItem('frocketToken') || ''; }

async function api(path, opts = {}) {
  const headers = Object.assign({ Accept: 'application/json' }, opts.headers || {});
  const t = token();
  if (t) headers.Authorization = 'Bearer ' + t;
  const r = await fetch(path, Object.assign({}, opts, { headers }));
  if (r.status === 401) $('token-box').hidden = false;
  return r;
}

function el(tag, attrs = {}, text) {
  const e = tag.startsWith('svg:') ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function showErrors(body, status) {
  const box = $('errors');
  box.textContent = '';
  const errors = (body && body.errors) || [{ kind: 'HTTP_' + status, message: (body && body.errorMessage) || 'request failed' }];
  for (const e of errors) {
    const line = el('div', { class: 'error', 'data-kind': e.kind });
    if (e.path !== undefined) line.append(el('code', {}, e.path || '(query)'), ' ');
    line.append(e.message + ' [' + e.kind + ']');
    box.append(line);
  }
}

async function loadDatasets() {
  const r = await api('/datasets');
  const body = await r.json().catch(() => null);
  if (!r.ok) return showErrors(body, r.status);
  const sel = $('dataset');
  sel.textContent = '';
  if (body.length === 0) {
    $('dataset-info').textContent = 'No datasets registered yet (POST /datasets/register).';
    return;
  }
  for (const d of body) sel.append(el('option', { value: d.id.name }, d.id.name));
  await selectDataset(sel.value);
}

function columns() {
  return Object.values(state.schema.columns).sort((a, b) => a.name.localeCompare(b.name));
}

function topValues(col) {
  const c = state.schema.columns[col];
  if (!c) return [];
  if (c.coltype === 'BOOL') return ['true', 'false'];
  const top = c.colattrs.catTopValues || {};
  return Object.entries(top).sort((a, b) => b[1] - a[1]).map(([v]) => v);
}

async function selectDataset(name) {
  state.dataset = name;
  const r = await api('/datasets/' + encodeURIComponent(name) + '/schema?full=true');
  const body = await r.json().catch(() => null);
  if (!r.ok) return showErrors(body, r.status);
  state.schema = body;
  const cols = columns();
  $('dataset-info').textContent = cols.length + ' columns; users by ' + body.groupIdColumn + ', time by ' + body.timestampColumn;
  const bd = $('breakdown');
  bd.textContent = '';
  bd.append(el('option', { value: '' }, '(none)'));
  for (const c of cols.filter((c) => c.coltype !== 'FLOAT')) bd.append(el('option', { value: c.name }, c.name));
  $('steps').textContent = '';
  const firstString = cols.find((c) => c.coltype === 'STRING' && c.name !== body.groupIdColumn) || cols[0];
  addStep(firstString && firstString.name);
}

function fillOps(li, col) {
  const c = state.schema.columns[col];
  const ops = OPS[c ? c.coltype : 'STRING'];
  const sel = li.querySelector('.op');
  sel.textContent = '';
  for (const o of ops) sel.append(el('option', { value: o }, o));
  const list = li.querySelector('datalist');
  list.textContent = '';
  for (const v of topValues(col)) list.append(el('option', { value: v }));
}

let stepIds = 0;
function addStep(col) {
  const li = el('li', { class: 'step' });
  const row = el('span', { class: 'step-row' });
  const colSel = el('select', { class: 'col', 'aria-label': 'column' });
  for (const c of columns()) colSel.append(el('option', { value: c.name }, c.name));
  if (col) colSel.value = col;
  const listId = 'values-' + stepIds++;
  const value = el('input', { class: 'value', list: listId, 'aria-label': 'value', placeholder: 'value' });
  const remove = el('button', { type: 'button', class: 'remove', 'aria-label': 'remove step' }, '×');
  row.append(colSel, el('select', { class: 'op', 'aria-label': 'operator' }), value, el('datalist', { id: listId }), remove);
  li.append(row);
  colSel.addEventListener('change', () => fillOps(li, colSel.value));
  remove.addEventListener('click', () => li.remove());
  $('steps').append(li);
  fillOps(li, colSel.value);
  return li;
}

function typed(col, raw) {
  const c = state.schema.columns[col];
  switch (c && c.coltype) {
    case 'INT':
    case 'FLOAT': return raw.trim() === '' ? raw : Number(raw);
    case 'BOOL': return raw.trim().toLowerCase() === 'true';
    default: return raw;
  }
}

function buildQuery() {
  const sequence = [...document.querySelectorAll('#steps li')].map((li) => {
    const col = li.querySelector('.col').value;
    return { filter: [col, li.querySelector('.op').value, typed(col, li.querySelector('.value').value)] };
  });
  const funnel = { sequence, stepTimings: true };
  const w = $('window').value.trim();
  if (w !== '') funnel.maxDuration = Number(w);
  const bd = $('breakdown').value;
  if (bd) funnel.breakdown = { column: bd, top: Number($('breakdown-top').value) || 5 };
  return { funnel };
}

function showQuery() {
  $('query-json').textContent = JSON.stringify(buildQuery(), null, 2);
  $('query-box').hidden = false;
}

async function copyQuery() {
  const text = JSON.stringify(buildQuery(), null, 2);
  try {
    await navigator.clipboard.writeText(text);
    $('copy-status').textContent = 'copied';
  } catch (_) {
    const range = document.createRange();
    range.selectNodeContents($('query-json'));
    getSelection().removeAllRanges();
    getSelection().addRange(range);
    $('copy-status').textContent = 'selected: press Ctrl+C';
  }
}

function setProgress(done, total, retries) {
  const p = $('progress');
  p.hidden = false;
  p.max = Math.max(total, 1);
  p.value = done;
  $('progress-text').textContent = done + ' / ' + total + ' parts' + (retries ? ', ' + retries + ' retries' : '');
}

async function run() {
  if (state.running || !state.dataset) return;
  state.running = true;
  $('errors').textContent = '';
  $('result').dataset.state = 'running';
  setProgress(0, 0, 0);
  const query = buildQuery();
  showQuery();
  try {
    const r = await api('/datasets/' + encodeURIComponent(state.dataset) + '/query?stream=true', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(query),
    });
    if (!r.ok) {
      showErrors(await r.json().catch(() => null), r.status);
      $('result').dataset.state = 'error';
      return;
    }
    const reader = r.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    let last = null;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (line.stage) {
          if (line.total !== undefined) setProgress(line.done, line.total, line.retries);
        } else {
          last = line;
        }
      }
    }
    if (last && last.success) {
      draw(last, query);
      $('result').dataset.state = 'done';
    } else {
      showErrors(last, last && last.status);
      $('result').dataset.state = 'error';
    }
  } catch (e) {
    showErrors({ errors: [{ kind: 'NETWORK', message: String(e) }] });
    $('result').dataset.state = 'error';
  } finally {
    state.running = false;
  }
}

function pct(a, b) { return b > 0 ? (100 * a / b).toFixed(1) + '%' : '–'; }

// A duration in timestamp units: integers as they are, else 3 decimals; "~" when sketched.
function dur(summary, stat) {
  if (!summary || summary[stat] === null || summary[stat] === undefined) return '–';
  const x = summary[stat];
  const text = Number.isInteger(x) ? String(x) : x.toFixed(3);
  return (summary.exact === false && stat.startsWith('p') ? '~' : '') + text;
}

function stepLabel(step) {
  const f = step.filter;
  return f[0] + ' ' + f[1] + ' ' + JSON.stringify(f[2]);
}

function draw(result, query) {
  const steps = result.funnel.sequence;
  const counts = steps.map((s) => s.matchingGroups);
  const max = Math.max(...counts, 1);
  const W = 960, H = 320, top = 30, base = 250, gap = 24;
  const bw = Math.min(160, (W - gap * (steps.length + 1)) / steps.length);
  const svg = el('svg:svg', { id: 'funnel-svg', viewBox: '0 0 ' + W + ' ' + H, width: '100%', role: 'img' });
  svg.append(el('svg:title', {}, 'Funnel: users reaching each step'));
  const tbody = $('funnel-table').querySelector('tbody');
  tbody.textContent = '';
  steps.forEach((s, i) => {
    const x = gap + i * (bw + gap);
    const h = Math.max(1, (base - top) * counts[i] / max);
    const fromPrev = i === 0 ? '100.0%' : pct(counts[i], counts[i - 1]);
    const fromFirst = pct(counts[i], counts[0]);
    const tm = s.timings || null;
    const g = el('svg:g', { class: 'step', 'data-step': i, 'data-count': counts[i], 'data-conv-prev': fromPrev, 'data-conv-first': fromFirst,
      'data-p50-prev': tm ? dur(tm.fromPrevious, 'p50') : '', 'data-p90-prev': tm ? dur(tm.fromPrevious, 'p90') : '' });
    g.append(el('svg:rect', { x, y: base - h, width: bw, height: h, rx: 3, fill: COLORS[0], 'fill-opacity': 1 - 0.12 * i }));
    g.append(el('svg:text', { class: 'count', x: x + bw / 2, y: base - h - 6, 'text-anchor': 'middle' }, counts[i].toLocaleString('en-US')));
    g.append(el('svg:text', { class: 'label', x: x + bw / 2, y: base + 16, 'text-anchor': 'middle' }, (i + 1) + '. ' + stepLabel(query.funnel.sequence[i]).slice(0, 28)));
    g.append(el('svg:text', { class: 'conv', x: x + bw / 2, y: base + 32, 'text-anchor': 'middle' }, i === 0 ? 'start' : fromPrev + ' of previous'));
    g.append(el('svg:text', { class: 'conv', x: x + bw / 2, y: base + 46, 'text-anchor': 'middle' }, fromFirst + ' overall'));
    if (tm) {
      g.append(el('svg:text', { class: 'timing', x: x + bw / 2, y: base + 62, 'text-anchor': 'middle' },
        'time p50 ' + dur(tm.fromPrevious, 'p50') + ' · p90 ' + dur(tm.fromPrevious, 'p90')));
    }
    svg.append(g);
    const tr = el('tr');
    tr.append(el('td', {}, (i + 1) + '. ' + stepLabel(query.funnel.sequence[i])), el('td', {}, String(counts[i])), el('td', {}, i === 0 ? '' : fromPrev), el('td', {}, fromFirst),
      el('td', {}, tm ? dur(tm.fromPrevious, 'p50') : ''), el('td', {}, tm ? dur(tm.fromFirst, 'p50') : ''));
    tbody.append(tr);
  });
  $('funnel-chart').textContent = '';
  $('funnel-chart').append(svg);
  $('funnel-title').hidden = false;
  $('funnel-table').hidden = false;
  drawBreakdown(result.funnel.breakdown, steps.length);
  const st = result.stats || {};
  const w = st.worker || {};
  $('result-stats').textContent = 'Scanned ' + (w.scannedRows || 0).toLocaleString('en-US') + ' rows of ' +
    (w.scannedGroups || 0).toLocaleString('en-US') + ' users in ' + (st.totalTime !== undefined ? st.totalTime.toFixed(3) + ' s' : '?') +
    '; ' + (result.query ? result.query.matchingGroups : '?') + ' users matched the query.';
}

// The breakdown (funnel.breakdown): users per value at each step, as grouped bars.
function drawBreakdown(bd, nSteps) {
  const box = $('breakdown-chart');
  box.textContent = '';
  if (!bd) {
    $('breakdown-title').hidden = true;
    return;
  }
  const rows = bd.values;
  const label = (v) => (v.value === null ? '(null)' : String(v.value));
  const max = Math.max(1, ...rows.flatMap((v) => v.users));
  const W = 960, H = 280, top = 20, base = 230, gap = 28;
  const gw = (W - gap * (nSteps + 1)) / nSteps;
  const bw = Math.max(4, Math.min(40, gw / Math.max(rows.length, 1)));
  const svg = el('svg:svg', { id: 'breakdown-svg', viewBox: '0 0 ' + W + ' ' + H, width: '100%', role: 'img' });
  svg.append(el('svg:title', {}, 'Users per ' + bd.column + ' value at each step'));
  for (let i = 0; i < nSteps; i++) {
    const x0 = gap + i * (gw + gap);
    rows.forEach((v, j) => {
      const c = v.users[i];
      const h = Math.max(c > 0 ? 1 : 0, (base - top) * c / max);
      const g = el('svg:g', { class: 'bar', 'data-step': i, 'data-value': label(v), 'data-count': c });
      g.append(el('svg:rect', { x: x0 + j * bw, y: base - h, width: bw - 2, height: h, fill: COLORS[j % COLORS.length] }));
      g.append(el('svg:title', {}, label(v) + ': ' + c + ' users (' + pct(c, v.users[0]) + ' of its first step)'));
      svg.append(g);
    });
    svg.append(el('svg:text', { x: x0 + gw / 2, y: base + 16, 'text-anchor': 'middle' }, 'step ' + (i + 1)));
  }
  const legend = el('div', { class: 'legend' });
  rows.forEach((v, j) => {
    const sw = el('i');
    sw.style.background = COLORS[j % COLORS.length];
    const item = el('span', { 'data-value': label(v) });
    item.append(sw, label(v) + ' — ' + pct(v.users[nSteps - 1], v.users[0]) + ' convert');
    legend.append(item);
  });
  $('breakdown-title').hidden = false;
  $('breakdown-title').textContent = 'Breakdown by ' + bd.column + ' (each user by the value of its first step' +
    (bd.approximate ? '; approximate' : '') + ')';
  box.append(legend, svg);
}

document.addEventListener('DOMContentLoaded', () => {
  $('token').value = token();
  $('token-save').addEventListener('click', () => {
    localStorage.setItem('frocketToken', $('token').value.trim());
    $('token-box').hidden = true;
    loadDatasets();
  });
  $('dataset').addEventListener('change', (e) => selectDataset(e.target.value));
  $('add-step').addEventListener('click', () => addStep());
  $('run').addEventListener('click', run);
  $('show-query').addEventListener('click', showQuery);
  $('copy-query').addEventListener('click', copyQuery);
  loadDatasets();
});
