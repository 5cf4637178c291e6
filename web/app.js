// The explorer page: wires the document history (store.js), the wasm Fleet (engine.js) and
// the views (topology.js, graph.js, and the panels below) together.
//
// Every state shown comes from state-core through wasm: container states from the container
// table, model and package states from the cascade planner, "why" rows from the decision
// tables, scenario steps from the transition table. This file only decides what to draw.

import init, * as core from './pkg/state_wasm.js';
import { History, PRESETS, emptyDoc, encodeSession, decodeSession } from './store.js';
import { sync, summary } from './engine.js';
import { Topology } from './topology.js';
import { drawScenarioGraph } from './graph.js';

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const PODMAN_STATUS = ['', 'created', 'configured', 'initialized', 'running', 'paused', 'stopping', 'stopped', 'exited', 'removing', 'unknown', 'dead'];
const FLAG = ['', 'true', 'false'];
const FRESH = new Set(['demo', 'generate', 'load']);

await init({ module_or_path: new URL('./pkg/state_wasm_bg.wasm', import.meta.url) });

const TRANSITIONS = core.scenarioTransitions();
const TABLES = core.tables();

let fleet = new core.Fleet();
let shown = emptyDoc(); // the document the fleet reflects
let view = null; // the last full fleet view (membership; states are read live)
const hist = new History(core);
const ui = { kind: null, name: null, scenario: null };
const timings = [];
let lastPlan = null;
let writtenHash = '';

const topology = new Topology($('topology'), (kind, name) => select(kind, name));

// ---- applying documents -------------------------------------------------------------------

/// Brings the fleet and every view to `doc`. `incremental`: the change only edited container
/// fields, so the topology can be patched in place.
function show(doc, { incremental = false, fresh = false, quiet = false, entry = null } = {}) {
  if (fresh) {
    fleet.free();
    fleet = new core.Fleet();
    shown = emptyDoc();
  }
  const plan = sync(fleet, shown, doc);
  shown = doc;
  if (entry) entry.summary = quiet ? '' : summary(plan);
  if (!(incremental && view && topology.update(plan))) {
    view = fleet.view();
    topology.render(view, doc);
  }
  if (!quiet) topology.highlight(plan);
  if (ui.kind && !exists(ui.kind, ui.name)) ui.kind = ui.name = null;
  topology.select(ui.kind, ui.name);
  lastPlan = quiet ? null : plan;
  renderNotice(plan, quiet);
  renderInspector();
  if (!incremental) renderNodes(); // field edits change no node's container list
  renderScenarios();
  renderLog();
  scheduleHash();
  return plan;
}

function exists(kind, name) {
  if (kind === 'container') return fleet.containerState(name) !== undefined;
  if (kind === 'model') return fleet.modelState(name) !== undefined;
  if (kind === 'package') return fleet.packageState(name) !== undefined;
  return false;
}

/// Applies one action; returns the error if the action was refused.
function dispatch(action) {
  const t0 = performance.now();
  let entry;
  try {
    entry = hist.push(action);
  } catch (e) {
    status(`refused: ${e.message}`, true);
    return e;
  }
  const fresh = FRESH.has(action.type);
  const plan = show(entry.doc, { incremental: action.type === 'set-fields', fresh, quiet: fresh, entry });
  const t1 = performance.now();
  // Style and layout would run before the next paint anyway; forcing them here measures them.
  void document.body.offsetHeight;
  const t2 = performance.now();
  const containers = fleet.containerCount();
  requestAnimationFrame(() => {
    const t = { action: action.type, ms: t2 - t0, scriptMs: t1 - t0, wasmMs: plan.wasmMs, frameMs: performance.now() - t0, containers };
    timings.push(t);
    status(`${action.type}: click to updated view ${t.ms.toFixed(1)} ms (script ${t.scriptMs.toFixed(1)} ms, of which state-core ${t.wasmMs.toFixed(2)} ms; style and layout ${(t.ms - t.scriptMs).toFixed(1)} ms) · next frame at ${t.frameMs.toFixed(1)} ms · ${containers} containers`);
  });
  return null;
}

function travel(cursor) {
  const c = Math.max(0, Math.min(cursor, hist.entries.length));
  if (c === hist.cursor) return;
  // Crossing only container-field edits changes states, not the topology's shape.
  const [lo, hi] = c < hist.cursor ? [c, hist.cursor] : [hist.cursor, c];
  const incremental = hist.entries.slice(lo, hi).every((e) => e.action.type === 'set-fields');
  hist.cursor = c;
  show(hist.doc, { incremental });
}

function resetTo(base, actions, cursor) {
  const dropped = hist.replace(base, actions, cursor);
  show(hist.doc, { fresh: true, quiet: true });
  if (dropped.length) status(`dropped on replay: ${dropped.join('; ')}`, true);
}

// ---- panels ---------------------------------------------------------------------------------

function status(text, bad = false) {
  const s = $('status');
  s.textContent = text;
  s.style.color = bad ? '#a4282a' : '';
}

function renderNotice(plan, quiet) {
  // The bar keeps its size whatever it says, so updating it never moves the topology.
  const n = $('notice');
  if (quiet || (!plan.reconciles.length && !plan.models.size && !plan.packages.size && !plan.skipped.length && !plan.containers.size)) {
    n.className = 'notice idle';
    n.textContent = 'What a change cascades to, and any Reconcile request it triggers, shows here.';
    return;
  }
  n.className = plan.reconciles.length ? 'notice' : 'notice ok';
  const lines = [];
  for (const r of plan.reconciles) {
    const req = r.request;
    lines.push(`<div data-reconcile="${esc(r.package)}">⚠ Package <b>${esc(r.package)}</b> entered <b>Error</b> → StateManager sends to the ActionController: `
      + `<code>Reconcile(ReconcileRequest { scenario_name: "${esc(req.scenario_name)}", current: ${req.current}, desired: ${req.desired} })</code>`
      + (r.scenario ? '' : ' <span class="hint">(no scenario targets this package)</span>') + '</div>');
  }
  const s = summary({ ...plan, reconciles: [] });
  if (s) lines.push(`<div>Cascade: ${esc(s)}</div>`);
  else if (plan.containers.size) {
    const c = [...plan.containers].slice(0, 4).map(([n, st]) => `${n} → ${st}`).join(', ');
    lines.push(`<div>Containers: ${esc(c)}; no model or package changed state.</div>`);
  }
  n.innerHTML = lines.join('');
}

function ruleTable(table, hit, caption) {
  const rows = table.rows.map((r, i) => `<tr class="${i === hit ? 'hit' : i < hit ? 'skipped' : ''}"><td>${esc(r.when)}</td><td>${esc(r.then)}</td></tr>`).join('');
  return `<table class="rules" data-table="${esc(table.name)}"><caption>${esc(caption)}</caption><tr><th>condition (first match wins)</th><th>${esc(table.name)}</th></tr>${rows}</table>`;
}

function counts(c) {
  const parts = Object.entries(c).map(([s, n]) => `<span><span class="badge" data-state="${s}">${s}</span> × ${n}</span>`);
  return `<div class="counts">${parts.join('') || '<span class="hint">none</span>'}</div>`;
}

function nodeOf(container) {
  for (const [node, list] of Object.entries(shown.nodes)) if (container in list) return node;
  return null;
}

function renderInspector() {
  const box = $('inspector');
  const { kind, name } = ui;
  if (!kind) {
    box.innerHTML = '<p class="hint">Click a container to set its state or edit its raw NodeAgent fields; click a model or package to see which decision-table row gave it its state.</p>';
    return;
  }
  if (kind === 'container') return renderContainer(box, name);
  if (kind === 'model') return renderModel(box, name);
  return renderPackage(box, name);
}

function renderContainer(box, name) {
  const node = nodeOf(name);
  const entry = shown.nodes[node]?.[name];
  if (!entry) return;
  const state = fleet.containerState(name);
  const d = core.containerState(entry.fields);
  const model = view.containers.find((c) => c.name === name)?.model;
  const field = (k, options) => {
    const v = entry.fields[k] ?? '';
    if (!options) return `<label>${k}</label><input name="${k}" value="${esc(v)}" size="8">`;
    const opts = options.map((o) => `<option ${o === v ? 'selected' : ''} value="${o}">${o || '(absent)'}</option>`).join('');
    return `<label>${k}</label><select name="${k}">${opts}</select>`;
  };
  const other = Object.entries(entry.fields).filter(([k]) => !['Status', 'ExitCode', 'Dead', 'OOMKilled'].includes(k));
  box.innerHTML = `<h3>container ${esc(name)} <span class="badge" data-state="${state}">${state}</span></h3>
    <div class="meta">on node <b>${esc(node)}</b> · model ${model ? `<a href="#" data-go-model="${esc(model)}">${esc(model)}</a>` : '<i>none (no membership rule matched)</i>'}</div>
    <div class="actions">set state: ${Object.keys(PRESETS).map((s) => `<button data-preset="${s}" data-state="${s}">${s}</button>`).join('')}</div>
    <form id="fields-form" class="fields">
      ${field('Status', PODMAN_STATUS)}${field('ExitCode')}${field('Dead', FLAG)}${field('OOMKilled', FLAG)}
      ${other.map(([k, v]) => `<label>${esc(k)}</label><input name="${esc(k)}" value="${esc(v)}" size="8">`).join('')}
      <span></span><span><button class="primary">Apply raw fields</button> <button type="button" class="danger" id="remove-container">Remove container</button></span>
    </form>
    ${ruleTable(TABLES.container, d.row, `Why ${d.state}: the container-state table on these fields`)}`;
  for (const b of box.querySelectorAll('[data-preset]')) {
    b.onclick = () => dispatch({ type: 'set-fields', node, container: name, fields: PRESETS[b.dataset.preset] });
  }
  $('fields-form').onsubmit = (e) => {
    e.preventDefault();
    dispatch({ type: 'set-fields', node, container: name, fields: Object.fromEntries(new FormData(e.target)) });
  };
  $('remove-container').onclick = () => dispatch({ type: 'remove-container', node, name });
  const go = box.querySelector('[data-go-model]');
  if (go) go.onclick = (e) => { e.preventDefault(); select('model', go.dataset.goModel); };
}

function renderModel(box, name) {
  const why = fleet.explainModel(name);
  const containers = view.containers.filter((c) => c.model === name);
  const inPackages = Object.entries(shown.packages).filter(([, p]) => p.models.includes(name)).map(([p]) => p);
  const nodes = Object.keys(shown.nodes);
  const direct = why.current !== why.state ? `<p class="explain warn">The model was set directly to ${why.current}; its containers alone would give ${why.state}.</p>` : '';
  box.innerHTML = `<h3>model ${esc(name)} <span class="badge" data-state="${why.current}">${why.current}</span></h3>
    <div class="meta">packages: ${inPackages.map((p) => `<a href="#" data-go-package="${esc(p)}">${esc(p)}</a>`).join(', ') || '<i>none</i>'} · ${containers.length} containers</div>
    <div>containers by state: ${counts(why.counts)}</div>
    ${ruleTable(TABLES.model, why.row, `Why ${why.state}: row ${why.row + 1} of the model table`)}${direct}
    <form id="add-container-form" class="inline">
      <input name="suffix" placeholder="container" size="8" required>
      <select name="node">${nodes.map((n) => `<option>${esc(n)}</option>`).join('')}</select>
      <select name="state">${Object.keys(PRESETS).map((s) => `<option>${s}</option>`).join('')}</select>
      <button ${nodes.length ? '' : 'disabled title="add a node first"'}>+ container</button>
    </form>
    <div class="actions">${inPackages.map((p) => `<button class="danger" data-remove-from="${esc(p)}">remove from ${esc(p)} (with its containers)</button>`).join('')}</div>`;
  $('add-container-form').onsubmit = (e) => {
    e.preventDefault();
    const f = Object.fromEntries(new FormData(e.target));
    const action = { type: 'add-container', node: f.node, name: `${name}_${f.suffix.trim()}`, fields: PRESETS[f.state] };
    // Pod (model) names have no underscore; if this one does, name the model explicitly.
    if (name.includes('_')) action.annotation = { 'io.pullpiri.annotations.model': name };
    dispatch(action);
  };
  for (const b of box.querySelectorAll('[data-remove-from]')) {
    b.onclick = () => dispatch({ type: 'remove-model', package: b.dataset.removeFrom, model: name, containers: containers.map((c) => [c.node, c.name]) });
  }
  for (const a of box.querySelectorAll('[data-go-package]')) a.onclick = (e) => { e.preventDefault(); select('package', a.dataset.goPackage); };
}

function renderPackage(box, name) {
  const why = fleet.explainPackage(name);
  const p = view.packages.find((x) => x.name === name);
  const scenario = p?.scenario;
  const reconcile = why.current === 'error'
    ? `<div class="notice" data-reconcile="${esc(name)}">In Error: the StateManager sends (and retries with backoff while the package stays in Error) <code>Reconcile(ReconcileRequest { scenario_name: "${esc(scenario ?? '')}", current: FAILED, desired: RUNNING })</code> to the ActionController.</div>`
    : '';
  box.innerHTML = `<h3>package ${esc(name)} <span class="badge" data-state="${why.current}">${why.current}</span></h3>
    <div class="meta">scenario: ${esc(scenario ?? 'none')} · models: ${(p?.models ?? []).map((m) => `<a href="#" data-go-model="${esc(m)}">${esc(m)}</a>`).join(', ') || '<i>none</i>'}</div>
    <div>models by state: ${counts(why.counts)}</div>
    ${ruleTable(TABLES.package, why.row, `Why ${why.state}: row ${why.row + 1} of the package table`)}${reconcile}
    <form id="add-model-form" class="inline">
      <input name="model" placeholder="model" size="10" required><button>+ model</button>
      ${name in shown.packages ? '<button type="button" class="danger" id="remove-package">Remove package</button>' : ''}
    </form>`;
  $('add-model-form').onsubmit = (e) => {
    e.preventDefault();
    const model = new FormData(e.target).get('model').trim();
    if (!(name in shown.packages)) {
      dispatch({ type: 'add-package', name, models: [model] });
    } else dispatch({ type: 'add-model', package: name, model });
  };
  const rm = $('remove-package');
  if (rm) rm.onclick = () => dispatch({ type: 'remove-package', name });
  for (const a of box.querySelectorAll('[data-go-model]')) a.onclick = (e) => { e.preventDefault(); select('model', a.dataset.goModel); };
}

function select(kind, name) {
  ui.kind = kind;
  ui.name = name;
  topology.select(kind, name);
  if (kind === 'package') {
    const scn = view.packages.find((p) => p.name === name)?.scenario;
    if (scn) ui.scenario = scn;
    renderScenarios();
  }
  renderInspector();
  scheduleHash();
}

function renderNodes() {
  const html = Object.entries(shown.nodes).map(([n, list]) =>
    `<span class="node-chip" data-node="${esc(n)}">${esc(n)} <small>(${Object.keys(list).length})</small><button title="remove node ${esc(n)} and its containers" data-remove-node="${esc(n)}">×</button></span>`);
  $('nodes').innerHTML = html.join('') || '<span class="hint">none</span>';
  for (const b of $('nodes').querySelectorAll('[data-remove-node]')) b.onclick = () => dispatch({ type: 'remove-node', name: b.dataset.removeNode });
}

function renderScenarios() {
  const names = Object.keys(shown.scenarios).sort();
  if (!names.includes(ui.scenario)) ui.scenario = names[0] ?? null;
  const sel = $('scenario-select');
  sel.innerHTML = names.map((n) => `<option ${n === ui.scenario ? 'selected' : ''}>${esc(n)}</option>`).join('') || '<option value="">(no scenarios)</option>';
  const s = ui.scenario ? shown.scenarios[ui.scenario] : null;
  drawScenarioGraph($('scenario-graph'), TRANSITIONS, s ? s.state : undefined, (to, owners) => stepScenario(to, owners));
  if (!s) $('scenario-explain').textContent = 'No scenario. Import artifact YAML or add one below.';
}

function stepScenario(to, owners) {
  const name = ui.scenario;
  const source = $('scenario-source').value || owners[0] || '';
  const strict = $('scenario-strict').checked;
  const box = $('scenario-explain');
  const err = dispatch({ type: 'scenario', name, to, source, strict });
  if (err) {
    box.className = 'explain bad';
    box.innerHTML = `<b>${esc(err.code ?? 'refused')}</b>: ${esc(err.message)}`;
  } else {
    const note = hist.entries[hist.cursor - 1].note;
    box.className = note.includes('non-owner') ? 'explain warn' : 'explain';
    box.textContent = `SUCCESS: ${note}`;
  }
}

function time(ms) {
  const d = new Date(ms);
  const two = (n) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

function renderLog() {
  const LIMIT = 200;
  const first = Math.max(0, hist.entries.length - LIMIT);
  const items = [`<li data-step="0" class="${hist.cursor === 0 ? 'current' : ''}"><time>—</time>start (empty)</li>`];
  if (first > 0) items.push(`<li class="hint">… ${first} earlier events</li>`);
  for (let i = first; i < hist.entries.length; i++) {
    const e = hist.entries[i];
    const cls = i + 1 === hist.cursor ? 'current' : i + 1 > hist.cursor ? 'future' : '';
    items.push(`<li data-step="${i + 1}" class="${cls}"><time>${time(e.action.at)}</time>${esc(e.note)}${e.summary ? `<span class="sum">${esc(e.summary)}</span>` : ''}</li>`);
  }
  const log = $('log');
  log.innerHTML = items.join('');
  // Scrolling reads layout; doing it in the next frame keeps the update itself layout-free.
  requestAnimationFrame(() => {
    const cur = log.querySelector('.current');
    if (cur && (cur.offsetTop < log.scrollTop || cur.offsetTop > log.scrollTop + log.clientHeight - 24)) {
      log.scrollTop = cur.offsetTop - log.clientHeight / 2;
    }
  });
  $('history-pos').textContent = `step ${hist.cursor} of ${hist.entries.length}`;
  const slider = $('history-slider');
  slider.max = hist.entries.length;
  slider.value = hist.cursor;
}

// ---- shareable URL --------------------------------------------------------------------------

let hashTimer = null;
function scheduleHash() {
  clearTimeout(hashTimer);
  hashTimer = setTimeout(() => { writeHash(); }, 400);
}

async function writeHash() {
  clearTimeout(hashTimer);
  const fragment = await encodeSession({ ...hist.session(), ui: { ...ui } });
  writtenHash = '#' + fragment;
  if (location.hash !== writtenHash) window.history.replaceState(null, '', writtenHash);
  return location.href;
}

async function readHash() {
  const session = await decodeSession(location.hash);
  if (!session) return false;
  writtenHash = location.hash;
  Object.assign(ui, { kind: null, name: null, scenario: null }, session.ui ?? {});
  resetTo(session.base ?? emptyDoc(), session.actions ?? [], session.cursor);
  return true;
}

window.addEventListener('hashchange', () => {
  if (location.hash && location.hash !== writtenHash) readHash().catch((e) => status(`bad URL: ${e.message}`, true));
});

// ---- toolbar --------------------------------------------------------------------------------

$('btn-reset').onclick = () => {
  Object.assign(ui, { kind: null, name: null, scenario: null });
  resetTo(emptyDoc(), [{ type: 'demo' }]);
};
$('btn-generate').onclick = () => dispatch({ type: 'generate', packages: 100, models: 10, containers: 10, nodes: 20 });
$('btn-export').onclick = () => {
  const blob = new Blob([JSON.stringify(shown, null, 2)], { type: 'application/json' });
  const a = Object.assign(document.createElement('a'), { href: URL.createObjectURL(blob), download: 'explorer.json' });
  a.click();
  URL.revokeObjectURL(a.href);
};
$('btn-share').onclick = async () => {
  const url = await writeHash();
  try {
    await navigator.clipboard.writeText(url);
    status(`shareable URL copied (${url.length} characters)`);
  } catch {
    status(`shareable URL is in the address bar (${url.length} characters)`);
  }
};
$('btn-import').onclick = () => $('import-dialog').showModal();
$('import-file').onchange = async (e) => {
  const f = e.target.files[0];
  if (f) $('import-text').value = await f.text();
};
$('import-helloworld').onclick = async () => {
  const r = await fetch('examples/helloworld.yaml');
  $('import-text').value = r.ok ? await r.text() : `# could not fetch examples/helloworld.yaml (${r.status})`;
};
$('import-form').onsubmit = (e) => {
  if (e.submitter?.value !== 'import') return;
  importText($('import-text').value, $('import-node').value.trim());
};

/// Imports artifact YAML or explorer JSON (a document, or a whole exported session).
function importText(text, node) {
  const t = text.trim();
  if (t.startsWith('{')) {
    let json;
    try {
      json = JSON.parse(t);
    } catch (e) {
      status(`not valid JSON: ${e.message}`, true);
      return e;
    }
    if (Array.isArray(json.actions)) {
      resetTo(json.base ?? emptyDoc(), json.actions, json.cursor);
      return null;
    }
    return dispatch({ type: 'load', doc: json });
  }
  return dispatch({ type: 'import-yaml', text, node: node || 'node1' });
}

$('form-add-node').onsubmit = (e) => {
  e.preventDefault();
  if (!dispatch({ type: 'add-node', name: e.target.name.value.trim() })) e.target.reset();
};
$('form-add-package').onsubmit = (e) => {
  e.preventDefault();
  const models = e.target.models.value.split(/[\s,]+/).filter(Boolean);
  if (!dispatch({ type: 'add-package', name: e.target.name.value.trim(), models })) e.target.reset();
};
$('form-add-scenario').onsubmit = (e) => {
  e.preventDefault();
  const name = e.target.name.value.trim();
  if (!dispatch({ type: 'add-scenario', name, target: e.target.target.value.trim() })) {
    ui.scenario = name;
    e.target.reset();
    renderScenarios();
  }
};
$('btn-remove-scenario').onclick = () => ui.scenario && dispatch({ type: 'remove-scenario', name: ui.scenario });
$('scenario-select').onchange = (e) => {
  ui.scenario = e.target.value;
  $('scenario-explain').textContent = '';
  renderScenarios();
  scheduleHash();
};
$('btn-first').onclick = () => travel(0);
$('btn-back').onclick = () => travel(hist.cursor - 1);
$('btn-forward').onclick = () => travel(hist.cursor + 1);
$('btn-last').onclick = () => travel(hist.entries.length);
$('history-slider').oninput = (e) => travel(Number(e.target.value));
$('log').onclick = (e) => {
  const li = e.target.closest('[data-step]');
  if (li) travel(Number(li.dataset.step));
};
$('legend').innerHTML = ['running', 'created', 'paused', 'exited', 'degraded', 'dead', 'error', 'unknown']
  .map((s) => `<span class="badge" data-state="${s}">${s}</span>`).join('');

// ---- start ------------------------------------------------------------------------------------

try {
  if (!(await readHash())) resetTo(emptyDoc(), [{ type: 'demo' }]);
} catch (e) {
  status(`could not read the URL: ${e.message}`, true);
  resetTo(emptyDoc(), [{ type: 'demo' }]);
}
status(`ready: state-core rules via WebAssembly · ${fleet.containerCount()} containers`);

/// Hooks for the browser test (and the curious, from the console).
window.__explorer = {
  ready: true,
  core,
  dispatch,
  travel,
  importText,
  timings,
  shareUrl: writeHash,
  get cursor() { return hist.cursor; },
  get steps() { return hist.entries.length; },
  get lastPlan() { return lastPlan; },
  get doc() { return shown; },
  signature: () => topology.signature(),
  state: (kind, name) => document.querySelector(`[data-kind="${kind}"][data-name="${CSS.escape(name)}"]`)?.dataset.state ?? null,
};
