// The explorer page: wires the document history (store.js), the wasm Fleet (engine.js) and
// the views (topology.js, graph.js, and the panels below) together.
//
// Every state shown comes from state-core through wasm: container states from the container
// table, model and package states from the cascade planner, "why" rows from the decision
// tables, scenario steps from the transition table. This file only decides what to draw.

import init, * as core from './pkg/state_wasm.js';
import { History, emptyDoc, encodeSession, decodeSession } from './store.js';
import { sync, summary } from './engine.js';
import { Topology } from './topology.js';
import { drawScenarioGraph } from './graph.js';
import { renderInspector as drawInspector } from './inspector.js';
import { Attachment, documentOf } from './live.js';

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
// Actions that replace the whole document: the fleet is rebuilt rather than diffed, and their
// plan (everything is new) is not shown as a cascade.
const FRESH = new Set(['demo', 'generate', 'load', 'attach']);
// What an attached page does by itself; anything else is the user's, refused while attached.
const LIVE = new Set(['attach', 'live']);
// The log is redrawn on every action; this many entries keep that cheap in a long session, and
// the slider still reaches the earlier ones.
const LOG_SHOWN = 200;
// The URL is rewritten once the clicks pause this long: a burst (dragging the history slider)
// deflates the session once, and the address bar is current before a user reaches for it.
const HASH_DELAY_MS = 400;

try {
  await init({ module_or_path: new URL('./pkg/state_wasm_bg.wasm', import.meta.url) });
} catch (e) {
  $('status').textContent = `could not load state-core (web/pkg/state_wasm_bg.wasm): ${e.message}. Build and serve the page with: cargo xtask web`;
  throw e;
}

const TRANSITIONS = core.scenarioTransitions();
const TABLES = core.tables();
// Applying a Scenario artifact is what creates a scenario: the table's transition from absent
// gives the state that request asks for and its owner (idle, ApiServer).
const CREATE = TRANSITIONS.find((t) => t.from == null);

let fleet = new core.Fleet();
let shown = emptyDoc(); // the document the fleet reflects
let view = null; // the last full fleet view: membership only (its states go stale)
const hist = new History(core);
const ui = { kind: null, name: null, scenario: null, by: 'package' };
const timings = [];
let lastPlan = null;
let writtenHash = '';
// The daemon this page follows (live.js), or null.
let attached = null;
let disagreements = [];

const topology = new Topology($('topology'), (kind, name) => select(kind, name), core.nodeAgentSuffix);

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
    topology.render(view, doc, ui.by);
  }
  if (!quiet) topology.highlight(plan);
  markDisagreements(doc);
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
  if (attached && !LIVE.has(action.type)) {
    const e = new Error('attached to a daemon: this page shows its fleet and does not change it (scenario steps can be sent with "send changes")');
    status(e.message, true);
    return e;
  }
  const t0 = performance.now();
  let entry;
  try {
    entry = LIVE.has(action.type) && action.type === 'live' ? hist.append(action) : hist.push(action);
  } catch (e) {
    status(`refused: ${e.message}`, true);
    return e;
  }
  const fresh = FRESH.has(action.type);
  if (entry !== hist.entries[hist.cursor - 1]) {
    // Appended while the user looks at the past: only the log and slider move.
    renderLog();
    return null;
  }
  const plan = show(entry.doc, { incremental: action.type === 'set-fields' || (action.type === 'live' && action.incremental), fresh, quiet: fresh, entry });
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

function renderInspector() {
  drawInspector($('inspector'), {
    kind: ui.kind, name: ui.name, fleet, view, doc: shown, core, tables: TABLES, dispatch, select,
    attached,
  });
}

/// Where the daemon and state-core here disagree on a model's or package's state: each one
/// outlined in the topology and named above it. It would be a bug worth seeing (or a state the
/// daemon was told directly, which the page cannot know from containers).
function markDisagreements(doc) {
  for (const el of document.querySelectorAll('[data-disagree]')) delete el.dataset.disagree;
  disagreements = [];
  if (!doc.daemon) return;
  for (const kind of ['model', 'package']) {
    for (const [name, d] of Object.entries(doc.daemon[kind])) {
      const mine = kind === 'model' ? fleet.modelState(name) : fleet.packageState(name);
      if (mine === undefined || mine === d.state) continue;
      disagreements.push({ kind, name, daemon: d.state, here: mine });
      const el = document.querySelector(`[data-kind="${kind}"][data-name="${CSS.escape(name)}"]`);
      if (el) el.dataset.disagree = 'true';
    }
  }
  if (disagreements.length) {
    const n = $('notice');
    n.className = 'notice';
    const list = disagreements.slice(0, 4).map((d) => `${d.kind} ${d.name}: daemon ${d.daemon}, state-core here ${d.here}`).join('; ');
    n.insertAdjacentHTML('beforeend', `<div data-disagreements="${disagreements.length}">≠ The daemon and this page disagree on ${disagreements.length}: ${esc(list)}</div>`);
  }
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
  $('btn-reapply-scenario').disabled = !s;
  const explain = $('scenario-explain');
  if (!s) explain.textContent = 'No scenario. Import artifact YAML or add one below.';
  else if (explain.textContent.startsWith('No scenario')) explain.textContent = '';
}

/// A step clicked in the graph: current_state is the stored state (a compare-and-set).
function stepScenario(to, owners) {
  sendScenario({ to, source: $('scenario-source').value || owners[0] || '' });
}

/// What Pullpiri's ApiServer sends each time the scenario's artifact is applied again (also
/// after a completed lifecycle): the creating request, with current_state "" (no precondition).
/// Whether it is accepted from the stored state is state-core's decision.
function reapplyScenario() {
  sendScenario({ to: CREATE.to, source: CREATE.owners[0], current: '' });
}

/// Sends a scenario step as an action (so it is in the history, the log and the URL) and shows
/// state-core's answer.
function sendScenario(step) {
  const name = ui.scenario;
  const strict = $('scenario-strict').checked;
  const box = $('scenario-explain');
  if (attached) return sendToDaemon(name, step, box);
  const err = dispatch({ type: 'scenario', name, strict, ...step });
  if (err) {
    box.className = 'explain bad';
    box.innerHTML = `<b>${esc(err.code ?? 'refused')}</b>: ${esc(err.message)}`;
  } else {
    const note = hist.entries[hist.cursor - 1].note;
    box.className = note.includes('non-owner') ? 'explain warn' : 'explain';
    box.textContent = `SUCCESS: ${note}`;
  }
}

/// A scenario step sent to the attached daemon (only with "send changes" on, and only from the
/// present): its answer is shown, and the change itself arrives through the stream.
async function sendToDaemon(name, step, box) {
  const refuse = (text) => {
    box.className = 'explain bad';
    box.textContent = text;
  };
  if (!$('attach-send').checked) return refuse('read-only: turn on "send changes" to send this step to the daemon');
  if (hist.cursor !== hist.entries.length) return refuse('this is the past: go to the latest step to send changes');
  const current = step.current ?? (shown.scenarios[name]?.state ?? '');
  try {
    const a = await attached.send({ kind: 'scenario', name, from: current, to: step.to, source: step.source });
    box.className = a.error_code === 'ERROR_CODE_SUCCESS' ? 'explain' : 'explain bad';
    box.textContent = `${a.error_code}: ${a.error_details || a.message}`;
  } catch (e) {
    refuse(e.message);
  }
}

// ---- attached to a daemon -------------------------------------------------------------------

/// Follows the daemon at `url`: its fleet replaces the document, and each revision it stores
/// becomes an entry in the log (time travel goes over them).
function attach(url) {
  detach();
  const target = url.trim();
  if (!/^https?:\/\//.test(target)) {
    status(`not a daemon URL: ${JSON.stringify(target)} (expected http://host:port)`, true);
    return;
  }
  const a = new Attachment(target, {
    start: (shape, revision) => {
      if (attached !== a) return;
      Object.assign(ui, { kind: null, name: null });
      hist.replace(emptyDoc(), [], 0);
      dispatch({ type: 'attach', url: a.url, revision, doc: documentOf(shape) });
    },
    revision: async (revision, events) => {
      if (attached !== a) return;
      const action = { type: 'live', revision, events, incremental: true };
      const last = hist.entries.length ? hist.entries[hist.entries.length - 1].doc : hist.base;
      const unknown = events.some((e) => e.kind === 'container' && e.new && !Object.values(last.nodes).some((l) => e.name in l));
      if (unknown) {
        // A container the page has not seen: where it runs comes from a fresh shape.
        const shape = await a.fleet();
        action.placements = {};
        for (const [n, list] of Object.entries(shape.nodes)) for (const c of Object.keys(list)) action.placements[c] = n;
        action.packages = Object.fromEntries(Object.entries(shape.packages).map(([p, v]) => [p, v.models]));
        action.targets = Object.fromEntries(Object.entries(shape.scenarios).map(([s, v]) => [s, v.target]));
        action.incremental = false;
      }
      if (events.some((e) => !e.new || e.kind === 'scenario')) action.incremental = false;
      attached.lastRevision = revision;
      dispatch(action);
    },
    status: (text, bad) => {
      $('attach-status').textContent = text;
      $('attach-status').className = bad ? 'bad' : 'ok';
    },
  });
  attached = a;
  document.body.classList.add('attached');
  $('btn-attach').textContent = 'Detach';
  $('attach-url').value = target;
  status(`attaching to ${target}…`);
  a.open();
}

function detach() {
  if (!attached) return;
  attached.close();
  attached = null;
  document.body.classList.remove('attached');
  $('btn-attach').textContent = 'Attach';
  $('attach-status').textContent = '';
}

function time(ms) {
  const d = new Date(ms);
  const two = (n) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

function renderLog() {
  const first = Math.max(0, hist.entries.length - LOG_SHOWN);
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
  hashTimer = setTimeout(() => { writeHash(); }, HASH_DELAY_MS);
}

async function writeHash() {
  clearTimeout(hashTimer);
  // An attached session is the daemon's, not replayable from a URL.
  if (attached) return location.href;
  const fragment = await encodeSession({ ...hist.session(), ui: { ...ui } });
  writtenHash = '#' + fragment;
  if (location.hash !== writtenHash) window.history.replaceState(null, '', writtenHash);
  return location.href;
}

async function readHash() {
  const session = await decodeSession(location.hash);
  if (!session) return false;
  writtenHash = location.hash;
  Object.assign(ui, { kind: null, name: null, scenario: null, by: 'package' }, session.ui ?? {});
  resetTo(session.base ?? emptyDoc(), session.actions ?? [], session.cursor);
  markGroupBy();
  return true;
}

window.addEventListener('hashchange', () => {
  if (location.hash && location.hash !== writtenHash) readHash().catch((e) => status(`bad URL: ${e.message}`, true));
});

// ---- toolbar --------------------------------------------------------------------------------

$('form-attach').onsubmit = (e) => {
  e.preventDefault();
  if (attached) {
    detach();
    status('detached: the page is a local explorer again');
  } else attach($('attach-url').value);
};
$('btn-reset').onclick = () => {
  detach();
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
$('btn-reapply-scenario').onclick = () => ui.scenario && reapplyScenario();
$('scenario-select').onchange = (e) => {
  ui.scenario = e.target.value;
  $('scenario-explain').textContent = '';
  renderScenarios();
  scheduleHash();
};
for (const b of document.querySelectorAll('[data-group-by]')) {
  b.onclick = () => {
    ui.by = b.dataset.groupBy;
    markGroupBy();
    view = fleet.view(); // the last full view's states are stale after in-place updates
    topology.render(view, shown, ui.by);
    topology.select(ui.kind, ui.name);
    scheduleHash();
  };
}
function markGroupBy() {
  for (const b of document.querySelectorAll('[data-group-by]')) b.classList.toggle('on', b.dataset.groupBy === ui.by);
}
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

const attachTo = new URLSearchParams(location.search).get('attach');
try {
  if (attachTo) {
    resetTo(emptyDoc(), []);
    attach(attachTo);
  } else if (!(await readHash())) resetTo(emptyDoc(), [{ type: 'demo' }]);
} catch (e) {
  status(`could not read the URL: ${e.message}`, true);
  resetTo(emptyDoc(), [{ type: 'demo' }]);
}
markGroupBy();
status(`ready: state-core rules via WebAssembly · ${fleet.containerCount()} containers`);

/// Hooks for the browser test (and the curious, from the console).
window.__explorer = {
  ready: true,
  core,
  dispatch,
  travel,
  importText,
  attach,
  detach,
  timings,
  get attached() { return attached ? { url: attached.url, revision: attached.lastRevision ?? null } : null; },
  get disagreements() { return disagreements; },
  shareUrl: writeHash,
  get cursor() { return hist.cursor; },
  get steps() { return hist.entries.length; },
  get lastPlan() { return lastPlan; },
  get doc() { return shown; },
  signature: () => topology.signature(),
  state: (kind, name) => document.querySelector(`[data-kind="${kind}"][data-name="${CSS.escape(name)}"]`)?.dataset.state ?? null,
};
