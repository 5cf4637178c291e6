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
import { renderInspector as drawInspector } from './inspector.js';
import { Attachment, documentOf, liveAction, disagreementsOf } from './live.js';
import { Search } from './search.js';
import { renderLog as drawLog, wireLog } from './log.js';
import { renderNotice, warn, intro, showDisagreements } from './notice.js';
import { importDialog, jsonErrorLine } from './importer.js';
import { nameField, formResult } from './forms.js';
import { focusKey, restoreFocus } from './focus.js';
import { ScenarioPanel } from './scenario-panel.js';

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
// Actions that replace the whole document: the fleet is rebuilt rather than diffed, and their
// plan (everything is new) is not shown as a cascade.
const FRESH = new Set(['demo', 'generate', 'load', 'attach']);
// What an attached page does by itself; anything else is the user's, refused while attached.
const LIVE = new Set(['attach', 'live']);
// Node chips shown before the rest fold behind a "+N more" button (the large fleet has 20).
const NODE_CHIPS_SHOWN = 8;
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

let fleet = new core.Fleet();
let shown = emptyDoc(); // the document the fleet reflects
let view = null; // the last full fleet view: membership only (its states go stale)
const hist = new History(core);
const ui = { kind: null, name: null, scenario: null, by: 'package', nodesOpen: false };
const timings = [];
let lastPlan = null;
let writtenHash = '';
// An address holding a session that could not be read is left as it is (so it can be copied
// and reported) until the user changes something.
let keepAddress = false;
// The daemon this page follows (live.js), or null.
let attached = null;
let disagreements = [];

const topology = new Topology($('topology'), (kind, name) => select(kind, name), core.nodeAgentSuffix);
const scenarioPanel = new ScenarioPanel({
  ui,
  hist,
  transitions: TRANSITIONS,
  dispatch: (action) => dispatch(action),
  doc: () => shown,
  attached: () => attached,
});
const search = new Search({
  source: () => ({ view, doc: shown }),
  stateOf: (kind, name) => (kind === 'container' ? fleet.containerState(name) : kind === 'model' ? fleet.modelState(name) : kind === 'package' ? fleet.packageState(name) : undefined),
  pick: (kind, name) => goTo(kind, name),
  filter: (mode) => topology.setFilter(mode),
});

// ---- applying documents -------------------------------------------------------------------

/// Brings the fleet and every view to `doc`. `incremental`: the change only edited container
/// fields, so the topology can be patched in place.
function show(doc, { incremental = false, fresh = false, quiet = false, entry = null } = {}) {
  const focus = focusKey();
  if (fresh) {
    fleet.free();
    fleet = new core.Fleet();
    shown = emptyDoc();
    $('scenario-explain').textContent = ''; // the answer was about the previous fleet
  }
  const plan = sync(fleet, shown, doc);
  shown = doc;
  if (entry) entry.summary = quiet ? '' : summary(plan);
  if (!(incremental && view && topology.update(plan))) {
    view = fleet.view();
    topology.render(view, doc, ui.by);
    search.invalidate();
  }
  if (!quiet) topology.highlight(plan);
  topology.select(present(ui.kind, ui.name) ? ui.kind : null, ui.name);
  lastPlan = quiet ? null : plan;
  renderNotice(plan, quiet);
  disagreements = disagreementsOf(doc, fleet);
  showDisagreements(disagreements);
  renderInspector();
  if (!incremental) renderNodes(); // field edits change no node's container list
  renderScenarios();
  renderLog();
  scheduleHash();
  restoreFocus(focus);
  return plan;
}

/// Whether `kind` `name` is drawn for the document shown (the inspector follows the document:
/// after travelling back before something was added, it says so rather than showing a ghost).
/// Membership comes from the Fleet's last full view, which every change of membership renews.
function present(kind, name) {
  if (kind === 'container') return fleet.containerState(name) !== undefined;
  if (kind === 'model') return view.packages.some((p) => p.models.includes(name)) || view.containers.some((c) => c.model === name);
  if (kind === 'package') return view.packages.some((p) => p.name === name);
  return false;
}

/// Applies one action; returns the error if the action was refused.
function dispatch(action) {
  const refused = (e) => {
    hist.refuse(action, `${e.code ? `${e.code}: ` : ''}${e.message}`);
    status(`refused: ${e.message}`, true);
    renderLog();
    return e;
  };
  if (attached && !LIVE.has(action.type)) {
    return refused(new Error('attached to a daemon: this page shows its fleet and does not change it (scenario steps can be sent with "send changes")'));
  }
  const t0 = performance.now();
  let entry;
  try {
    entry = action.type === 'live' ? hist.append(action) : hist.push(action);
  } catch (e) {
    return refused(e);
  }
  if (!LIVE.has(action.type)) keepAddress = false;
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
  keepAddress = false;
  // Crossing only container-field edits changes states, not the topology's shape.
  const [lo, hi] = c < hist.cursor ? [c, hist.cursor] : [hist.cursor, c];
  const incremental = hist.entries.slice(lo, hi).every((e) => e.action.type === 'set-fields');
  hist.cursor = c;
  show(hist.doc, { incremental });
}

/// Replaces the session and shows it. Each entry's "what changed" is worked out again by
/// stepping the Fleet through the entries (a shared URL carries only the actions).
function resetTo(base, actions, cursor, refused) {
  const dropped = hist.replace(base, actions, cursor, refused);
  replaySummaries();
  show(hist.doc, { fresh: true, quiet: true });
  if (dropped.length) status(`dropped on replay: ${dropped.join('; ')}`, true);
}

/// Gives every entry of the history its summary, by stepping a scratch Fleet through them.
function replaySummaries() {
  let scratch = new core.Fleet();
  let at = hist.base;
  sync(scratch, emptyDoc(), at);
  for (const e of hist.entries) {
    if (FRESH.has(e.action.type)) {
      // A whole new document, as show() does it: a fresh Fleet, nothing cascaded.
      scratch.free();
      scratch = new core.Fleet();
      sync(scratch, emptyDoc(), e.doc);
      e.summary = '';
    } else e.summary = summary(sync(scratch, at, e.doc));
    at = e.doc;
  }
  scratch.free();
}

/// Brings back a timeline that was set aside (from the event log).
function restore(i) {
  if (attached) return;
  const focus = focusKey();
  hist.restore(i);
  keepAddress = false;
  show(hist.doc, { fresh: true, quiet: true });
  status('restored a timeline that was set aside; the one it replaced is kept as a branch');
  restoreFocus(focus);
}

// ---- panels ---------------------------------------------------------------------------------

function status(text, bad = false) {
  const s = $('status');
  s.textContent = text;
  s.style.color = bad ? '#a4282a' : '';
}

function renderInspector() {
  drawInspector($('inspector'), {
    kind: ui.kind, name: ui.name, present: present(ui.kind, ui.name), fleet, view, doc: shown, core,
    tables: TABLES, transitions: TRANSITIONS, dispatch, select, attached,
  });
}

function select(kind, name) {
  if (kind === 'scenario') {
    ui.scenario = name;
    $('scenario-explain').textContent = '';
    renderScenarios();
    scheduleHash();
    return;
  }
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

/// The node chips; past NODE_CHIPS_SHOWN the rest fold behind a "+N more" button, so many
/// nodes do not push the topology down.
function renderNodes() {
  const nodes = Object.entries(shown.nodes);
  const html = nodes.map(([n, list], i) =>
    `<span class="node-chip${i >= NODE_CHIPS_SHOWN && !ui.nodesOpen ? ' more-hidden' : ''}" data-node="${esc(n)}">${esc(n)} <small>(${Object.keys(list).length})</small><button title="remove node ${esc(n)} and its containers" aria-label="remove node ${esc(n)} and its containers" data-remove-node="${esc(n)}">×</button></span>`);
  $('nodes').innerHTML = html.join('') || '<span class="hint">none</span>';
  $('nodes-more-slot').innerHTML = nodes.length > NODE_CHIPS_SHOWN
    ? `<button type="button" id="nodes-more" aria-expanded="${ui.nodesOpen}" aria-controls="nodes">${ui.nodesOpen ? 'fewer' : `+${nodes.length - NODE_CHIPS_SHOWN} more`}</button>`
    : '';
  for (const b of $('nodes').querySelectorAll('[data-remove-node]')) b.onclick = () => dispatch({ type: 'remove-node', name: b.dataset.removeNode });
  const more = $('nodes-more');
  if (more) {
    more.onclick = () => {
      ui.nodesOpen = !ui.nodesOpen;
      renderNodes();
      $('nodes-more').focus();
    };
  }
}

/// Goes to a search match: selects it (a node: shows the topology by node) and scrolls to it.
function goTo(kind, name) {
  if (kind === 'node') {
    if (ui.by !== 'node') setGroupBy('node');
    const card = $('topology').querySelector(`[data-node-card="${CSS.escape(name)}"]`);
    const first = card?.querySelector('[data-pick]');
    if (first) topology.reveal(first.dataset.pick, first.dataset.name);
    else card?.scrollIntoView({ block: 'center' });
    status(`node ${name}: ${Object.keys(shown.nodes[name] ?? {}).length} containers`);
    return;
  }
  select(kind, name);
  if (topology.pickOf(kind, name)?.closest('.filtered')) {
    // A match the filter hides: the filter goes, so the match can be shown.
    $('filter-errors').checked = $('filter-not-running').checked = false;
    topology.setFilter(null);
  }
  if (!topology.reveal(kind, name) && ui.by === 'node' && kind === 'package') {
    setGroupBy('package');
    topology.reveal(kind, name);
  }
}

function renderScenarios() {
  scenarioPanel.render();
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
      if (!hist.entries.some((e) => LIVE.has(e.action.type))) hist.setAside(`attached to ${a.url}`);
      hist.replace(emptyDoc(), [], 0);
      dispatch({ type: 'attach', url: a.url, revision, doc: documentOf(shape) });
    },
    revision: async (revision, events) => {
      if (attached !== a) return;
      const last = hist.entries.length ? hist.entries[hist.entries.length - 1].doc : hist.base;
      const action = await liveAction(revision, events, last, () => a.fleet());
      if (attached !== a) return;
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

function renderLog() {
  drawLog(hist, { restorable: !attached });
}

// ---- shareable URL --------------------------------------------------------------------------

let hashTimer = null;
function scheduleHash() {
  clearTimeout(hashTimer);
  hashTimer = setTimeout(() => { writeHash(); }, HASH_DELAY_MS);
}

async function writeHash({ force = false } = {}) {
  clearTimeout(hashTimer);
  // An attached session is the daemon's, not replayable from a URL.
  if (attached || (keepAddress && !force)) return location.href;
  keepAddress = false;
  const fragment = await encodeSession({ ...hist.session(), ui: { ...ui } });
  writtenHash = '#' + fragment;
  if (location.hash !== writtenHash) window.history.replaceState(null, '', writtenHash);
  return location.href;
}

/// Loads the session in the address. Throws when there is one that cannot be read; returns
/// false when there is none.
async function readHash() {
  const session = await decodeSession(location.hash);
  if (!session) return false;
  writtenHash = location.hash;
  Object.assign(ui, { kind: null, name: null, scenario: null, by: 'package' }, session.ui ?? {});
  resetTo(session.base ?? emptyDoc(), session.actions ?? [], session.cursor, session.refused ?? []);
  markGroupBy();
  return true;
}

/// An address whose session cannot be read: said in the notice and the footer, and the address
/// is left alone until the user changes something (so it can be copied and reported).
function badAddress(e) {
  keepAddress = true;
  writtenHash = location.hash;
  const text = `This address could not be opened: ${e.message}. The address is left as it is; what you see is the demo topology.`;
  warn(`<div data-bad-url>⚠ ${esc(text)}</div>`);
  status(text, true);
}

window.addEventListener('hashchange', () => {
  if (!location.hash || location.hash === writtenHash) return;
  readHash().catch((e) => {
    if (!hist.entries.length) resetTo(emptyDoc(), [{ type: 'demo' }]);
    badAddress(e);
  });
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
  hist.setAside('Reset');
  keepAddress = false;
  resetTo(emptyDoc(), [{ type: 'demo' }]);
  if (hist.branches.length) status('reset to the demo; the session before is kept: Restore it from the event log');
};
$('btn-generate').onclick = () => dispatch({ type: 'generate', packages: 100, models: 10, containers: 10, nodes: 20 });
$('btn-export').onclick = () => {
  const blob = new Blob([JSON.stringify(shown, null, 2)], { type: 'application/json' });
  const a = Object.assign(document.createElement('a'), { href: URL.createObjectURL(blob), download: 'explorer.json' });
  a.click();
  URL.revokeObjectURL(a.href);
};
$('btn-share').onclick = async () => {
  const url = await writeHash({ force: true });
  try {
    await navigator.clipboard.writeText(url);
    status(`shareable URL copied (${url.length} characters)`);
  } catch {
    status(`shareable URL is in the address bar (${url.length} characters)`);
  }
};
importDialog((text, node, mode) => importText(text, node, mode));

/// Imports artifact YAML or explorer JSON (a document, or a whole exported session), added to
/// the topology (`mode` 'add') or replacing it ('replace'). Returns null or the `Error` (with
/// `problems: [{line, message}]` where lines are known).
function importText(text, node, mode = 'add') {
  const t = text.trim();
  if (t.startsWith('{')) {
    let json;
    try {
      json = JSON.parse(t);
    } catch (e) {
      const err = new Error(`not valid JSON: ${e.message}`);
      err.problems = [{ line: jsonErrorLine(t, e), message: err.message }];
      status(err.message, true);
      return err;
    }
    if (Array.isArray(json.actions)) {
      // A whole session replaces this one, which is kept as a branch.
      hist.setAside('a session was imported');
      resetTo(json.base ?? emptyDoc(), json.actions, json.cursor, json.refused ?? []);
      return null;
    }
    return dispatch({ type: 'load', doc: json, merge: mode !== 'replace' });
  }
  return dispatch({ type: 'import-yaml', text, node: node || 'node1', replace: mode === 'replace' });
}

nameField($('form-add-node').elements.name, 'node', core);
nameField($('form-add-package').elements.name, 'package', core);
nameField($('form-add-package').elements.models, 'model', core, undefined, { list: true });
nameField($('form-add-scenario').elements.name, 'scenario', core);
nameField($('form-add-scenario').elements.target, 'package', core);
$('form-add-node').onsubmit = (e) => {
  e.preventDefault();
  if (formResult(e.target, dispatch({ type: 'add-node', name: e.target.name.value.trim() }))) e.target.reset();
};
$('form-add-package').onsubmit = (e) => {
  e.preventDefault();
  const models = e.target.models.value.split(/[\s,]+/).filter(Boolean);
  if (formResult(e.target, dispatch({ type: 'add-package', name: e.target.name.value.trim(), models }))) e.target.reset();
};
$('form-add-scenario').onsubmit = (e) => {
  e.preventDefault();
  const name = e.target.name.value.trim();
  if (formResult(e.target, dispatch({ type: 'add-scenario', name, target: e.target.target.value.trim() }))) {
    ui.scenario = name;
    e.target.reset();
    renderScenarios();
  }
};
$('btn-remove-scenario').onclick = () => ui.scenario && dispatch({ type: 'remove-scenario', name: ui.scenario });
$('btn-reapply-scenario').onclick = () => ui.scenario && scenarioPanel.reapply();
$('scenario-select').onchange = (e) => {
  ui.scenario = e.target.value;
  $('scenario-explain').textContent = '';
  renderScenarios();
  scheduleHash();
};
for (const b of document.querySelectorAll('[data-group-by]')) b.onclick = () => setGroupBy(b.dataset.groupBy);
function setGroupBy(by) {
  ui.by = by;
  markGroupBy();
  view = fleet.view(); // the last full view's states are stale after in-place updates
  topology.render(view, shown, ui.by);
  topology.select(present(ui.kind, ui.name) ? ui.kind : null, ui.name);
  scheduleHash();
}
function markGroupBy() {
  for (const b of document.querySelectorAll('[data-group-by]')) {
    b.classList.toggle('on', b.dataset.groupBy === ui.by);
    b.setAttribute('aria-pressed', String(b.dataset.groupBy === ui.by));
  }
}
// Panels fold to their heads; on a narrow screen the event log and the scenario panel start
// folded, so the topology and the inspector come first.
for (const b of document.querySelectorAll('button.collapse')) {
  b.onclick = () => {
    const panel = b.closest('.panel');
    const folded = panel.classList.toggle('collapsed');
    b.setAttribute('aria-expanded', String(!folded));
  };
}
if (window.matchMedia('(max-width: 800px)').matches) {
  for (const id of ['history-panel', 'scenario-panel']) $(id).querySelector('button.collapse').click();
}
intro();
$('btn-first').onclick = () => travel(0);
$('btn-back').onclick = () => travel(hist.cursor - 1);
$('btn-forward').onclick = () => travel(hist.cursor + 1);
$('btn-last').onclick = () => travel(hist.entries.length);
$('history-slider').oninput = (e) => travel(Number(e.target.value));
wireLog({ travel, restore });
// Everything in the notice is a button to the item it names.
$('notice').addEventListener('click', (e) => {
  const b = e.target.closest('[data-go]');
  if (b) select(b.dataset.go, b.dataset.name);
});
$('legend').innerHTML = ['running', 'created', 'paused', 'exited', 'degraded', 'dead', 'error', 'unknown']
  .map((s) => `<span class="badge" data-state="${s}">${s}</span>`).join('');

// ---- start ------------------------------------------------------------------------------------

const attachTo = new URLSearchParams(location.search).get('attach');
let badUrl = null;
try {
  if (attachTo) {
    resetTo(emptyDoc(), []);
    attach(attachTo);
  } else if (!(await readHash())) resetTo(emptyDoc(), [{ type: 'demo' }]);
} catch (e) {
  badUrl = e;
  resetTo(emptyDoc(), [{ type: 'demo' }]);
}
markGroupBy();
status(`ready: state-core rules via WebAssembly · ${fleet.containerCount()} containers`);
if (badUrl) badAddress(badUrl);

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
  restore,
  goTo,
  get branches() { return hist.branches.map((b) => ({ why: b.why, steps: b.entries.length })); },
  get entries() { return hist.entries.map((e) => ({ note: e.note, summary: e.summary ?? '', refused: (e.refused ?? []).map((r) => r.note) })); },
  get selection() { return { kind: ui.kind, name: ui.name }; },
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
