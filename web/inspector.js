// The inspector: for the selected container, model or package, its state, what can be done
// with it, and "why" as one chain: container → model → package → scenario (and the Reconcile
// request a package in Error triggers), each link with the row of its decision table that gave
// it its state (from state-core; the full table one click away). Every name in the chain
// selects that item.

import { PRESETS } from './store.js';
import { nameField, formResult } from './forms.js';

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
// Status values the container table and podman know, offered so a user picks a real one rather
// than guessing a spelling; '' leaves Status absent.
const PODMAN_STATUS = ['', 'created', 'configured', 'initialized', 'running', 'paused', 'stopping', 'stopped', 'exited', 'removing', 'unknown', 'dead'];
// NodeAgent sends flags as the strings 'true' and 'false'; '' leaves the flag absent.
const FLAG = ['', 'true', 'false'];
// A model with more containers than this lists only those not running, by name.
const NAMED_MAX = 12;

function ruleTable(table, hit, caption) {
  const rows = table.rows.map((r, i) => `<tr class="${i === hit ? 'hit' : i < hit ? 'skipped' : ''}"><td>${esc(r.when)}</td><td>${esc(r.then)}</td></tr>`).join('');
  return `<table class="rules" data-table="${esc(table.name)}"><caption>${esc(caption)}</caption><tr><th scope="col">condition (first match wins)</th><th scope="col">${esc(table.name)}</th></tr>${rows}</table>`;
}

function counts(c) {
  const parts = Object.entries(c).map(([s, n]) => `<span><span class="badge" data-state="${s}">${s}</span> × ${n}</span>`);
  return `<div class="counts">${parts.join('') || '<span class="hint">none</span>'}</div>`;
}

const badge = (state) => `<span class="badge" data-state="${esc(state ?? '')}">${esc(state ?? '—')}</span>`;
/// A name that selects its item.
const go = (kind, name) => `<button type="button" class="go" data-go="${kind}" data-name="${esc(name)}">${esc(name)}</button>`;

/// One link of the chain: what, its state, the deciding row, and the whole table: shown for the
/// item selected, a button away for the others (drawn when asked: a click on the large fleet
/// redraws the inspector, and tables nobody reads cost layout).
function link(kind, name, state, table, row, open, extra = '') {
  const r = table.rows[row];
  const whole = open
    ? ruleTable(table, row, `Why ${r?.then ?? state}: first matching row marked`)
    : `<button type="button" class="more" aria-expanded="false" data-show-table="${kind}" data-hit="${row}" data-name="${esc(name)}">the whole ${esc(table.name)} table</button>`;
  return `<li class="link" data-chain="${kind}" data-name="${esc(name)}">
    <div class="link-head"><span class="kind">${kind}</span> ${open ? `<b>${esc(name)}</b>` : go(kind, name)} ${badge(state)}</div>
    <div class="row" data-row="${row + 1}">row ${row + 1} of the ${esc(table.name)} table: <i>${esc(r?.when ?? '?')}</i> → <b>${esc(r?.then ?? '?')}</b></div>
    ${extra}
    ${whole}
  </li>`;
}

function containerLink(ctx, name, open) {
  const node = nodeOf(ctx.doc, name);
  const entry = ctx.doc.nodes[node]?.[name];
  const d = ctx.core.containerState(entry?.fields ?? {});
  const fields = Object.entries(entry?.fields ?? {}).map(([k, v]) => `${k}=${v}`).join(' ') || '(no fields)';
  return link('container', name, ctx.fleet.containerState(name), ctx.tables.container, d.row, open,
    `<div class="meta">on node <b>${esc(node)}</b> · NodeAgent sent <code>${esc(fields)}</code></div>`);
}

function modelLink(ctx, name, open) {
  const why = ctx.fleet.explainModel(name);
  const containers = ctx.view.containers.filter((c) => c.model === name);
  const notRunning = containers.filter((c) => ctx.fleet.containerState(c.name) !== 'running');
  const named = containers.length <= NAMED_MAX ? containers : notRunning.slice(0, NAMED_MAX);
  const list = named.map((c) => `${go('container', c.name)} ${badge(ctx.fleet.containerState(c.name))}`).join(' ');
  const more = containers.length > NAMED_MAX ? ` <span class="hint">(${containers.length} containers; ${notRunning.length} not running${notRunning.length > NAMED_MAX ? `, ${NAMED_MAX} named` : ''})</span>` : '';
  const direct = why.current !== why.state ? `<p class="explain warn">The model was set directly to ${esc(why.current)}; its containers alone would give ${esc(why.state)}.</p>` : '';
  return link('model', name, why.current, ctx.tables.model, why.row, open,
    `<div class="meta">containers by state: ${counts(why.counts)}</div>${open && (list || more) ? `<div class="meta">containers: ${list}${more}</div>` : ''}${direct}`);
}

function packageLink(ctx, name, open) {
  const why = ctx.fleet.explainPackage(name);
  const p = ctx.view.packages.find((x) => x.name === name);
  const models = (p?.models ?? []).map((m) => `${go('model', m)} ${badge(ctx.fleet.modelState(m))}`).join(' ');
  let reconcile = '';
  if (why.current === 'error') {
    const pod = ctx.core.reconcileStatuses();
    reconcile = `<div class="notice" data-reconcile="${esc(name)}">In Error: the StateManager sends (and retries with backoff while the package stays in Error) <code>Reconcile(ReconcileRequest { scenario_name: "${esc(p?.scenario ?? '')}", current: ${esc(pod.current)}, desired: ${esc(pod.desired)} })</code> to the ActionController.${p?.scenario ? '' : ' <span class="hint">(no scenario targets this package)</span>'}</div>`;
  }
  return link('package', name, why.current, ctx.tables.package, why.row, open,
    `<div class="meta">models by state: ${counts(why.counts)}</div>${open && models ? `<div class="meta">models: ${models}</div>` : ''}${reconcile}`);
}

/// The scenario that drives a package: its stored state and the steps the transition table
/// allows from it, with their owners.
function scenarioLink(ctx, scenario) {
  const s = ctx.doc.scenarios[scenario];
  const from = s?.state ?? null;
  const next = ctx.transitions.filter((t) => t.from === from).map((t) => `→ ${esc(t.to)} <span class="hint">(${esc(t.owners.join(' or '))})</span>`).join(', ');
  const stored = from ? badge(from) : '<i>not applied yet</i>: nothing stored until ApiServer applies it (Re-apply in the scenario panel)';
  return `<li class="link" data-chain="scenario" data-name="${esc(scenario)}">
    <div class="link-head"><span class="kind">scenario</span> <button type="button" class="go" data-go="scenario" data-name="${esc(scenario)}">${esc(scenario)}</button> ${stored}</div>
    <div class="row">the transition table allows ${next || 'no step'} from here, each with its owner</div>
  </li>`;
}

function daemonSection(ctx, kind, name, here) {
  if (!ctx.attached) return '';
  const d = ctx.doc.daemon?.[kind]?.[name];
  const differ = d && d.state !== here;
  const since = d?.revision ? ` since revision ${d.revision}` : '';
  return `<div class="daemon" data-daemon-state="${esc(d?.state ?? '')}">
    <h4>The daemon (${esc(ctx.attached.url)})</h4>
    <div>stores <span class="badge" data-state="${esc(d?.state ?? 'unknown')}">${esc(d?.state ?? 'nothing')}</span>${since}${d?.source ? ` · by ${esc(d.source)}` : ''}</div>
    ${d?.why ? `<div>recorded why: <i>${esc(d.why)}</i></div>` : ''}
    ${differ ? `<p class="explain bad">State-core here derives ${esc(here)} from the containers: the daemon and this page disagree.</p>` : ''}
    <table class="rules daemon-history" id="daemon-history"><caption>its recorded history</caption><tr><td class="hint">loading…</td></tr></table>
  </div>`;
}

/// Fills the daemon's recorded history of a model or package into the inspector.
async function loadHistory(ctx, kind, name) {
  const table = $('daemon-history');
  if (!table) return;
  let rows;
  try {
    const entries = await ctx.attached.history(kind, name);
    rows = entries.reverse().map((e) => `<tr data-revision="${e.revision}"><td>${e.revision}</td><td>${esc(new Date(e.time_ns / 1e6).toLocaleTimeString())}</td><td>${esc(short(ctx, kind, e.from) ?? 'none')} → ${esc(short(ctx, kind, e.to) ?? 'removed')}</td><td>${esc(e.source)}</td><td>${esc(e.why)}</td></tr>`);
  } catch (e) {
    rows = [`<tr><td class="bad">${esc(e.message)}</td></tr>`];
  }
  if ($('daemon-history') !== table) return; // the selection moved on meanwhile
  table.innerHTML = `<caption>its recorded history (newest first)</caption><tr><th>rev</th><th>time</th><th>from → to</th><th>source</th><th>why</th></tr>${rows.join('') || '<tr><td class="hint">none recorded</td></tr>'}`;
}

function short(ctx, kind, stored) {
  if (!stored) return null;
  try {
    return ctx.core.shortState(kind, stored);
  } catch {
    return stored;
  }
}

function nodeOf(doc, container) {
  for (const [node, list] of Object.entries(doc.nodes)) if (container in list) return node;
  return null;
}

/// Draws the inspector for the selected container, model or package (`ctx.kind`, `ctx.name`).
/// `ctx.present` is false when the item is not in the document shown (after travelling back
/// before it was added): the inspector says so and offers nothing to edit.
export function renderInspector(box, ctx) {
  const { kind, name } = ctx;
  if (!kind) {
    box.innerHTML = '<p class="hint">Click a container, model or package (or search for one) to see the chain of why: container → model → package → scenario, each with the decision-table row that gave it its state.</p>';
    return;
  }
  if (!ctx.present) {
    box.innerHTML = `<p class="explain warn" data-absent="${esc(kind)}">${esc(kind)} <b>${esc(name)}</b> is not in the topology at this step of the history; step forward to see it again.</p>`;
    return;
  }
  const chain = [];
  let model = null;
  if (kind === 'container') {
    chain.push(containerLink(ctx, name, true));
    model = ctx.view.containers.find((c) => c.name === name)?.model ?? null;
    if (model && ctx.fleet.modelState(model) !== undefined) chain.push(modelLink(ctx, model, false));
    else chain.push('<li class="link"><span class="hint">in no model: no membership rule matched its name or annotations</span></li>');
  } else if (kind === 'model') {
    model = name;
    chain.push(modelLink(ctx, name, true));
  }
  const packages = kind === 'package' ? [name] : model ? packagesOf(ctx, model) : [];
  for (const p of packages) {
    chain.push(packageLink(ctx, p, kind === 'package'));
    const scn = ctx.view.packages.find((x) => x.name === p)?.scenario;
    if (scn) chain.push(scenarioLink(ctx, scn));
  }
  if (model && !packages.length) chain.push('<li class="link"><span class="hint">in no package</span></li>');
  box.innerHTML = `<h3>${esc(kind)} ${esc(name)} ${badge(stateOf(ctx, kind, name))}</h3>
    <div id="inspector-edit"></div>
    <ol class="chain" aria-label="the chain of why">${chain.join('')}</ol>
    ${kind === 'container' ? '' : daemonSection(ctx, kind, name, stateOf(ctx, kind, name))}`;
  for (const b of box.querySelectorAll('[data-go]')) b.onclick = () => ctx.select(b.dataset.go, b.dataset.name);
  for (const b of box.querySelectorAll('[data-show-table]')) {
    b.onclick = () => {
      const table = ctx.tables[b.dataset.showTable];
      const hit = Number(b.dataset.hit);
      b.insertAdjacentHTML('afterend', ruleTable(table, hit, `Why ${table.rows[hit]?.then ?? ''}: first matching row marked`));
      b.remove();
    };
  }
  const edit = $('inspector-edit');
  if (kind === 'container') editContainer(edit, name, ctx);
  else if (kind === 'model') editModel(edit, name, ctx);
  else editPackage(edit, name, ctx);
  if (ctx.attached && kind !== 'container') loadHistory(ctx, kind, name);
}

function stateOf(ctx, kind, name) {
  if (kind === 'container') return ctx.fleet.containerState(name);
  return kind === 'model' ? ctx.fleet.modelState(name) : ctx.fleet.packageState(name);
}

function packagesOf(ctx, model) {
  return Object.entries(ctx.doc.packages).filter(([, p]) => p.models.includes(model)).map(([p]) => p);
}

function editContainer(box, name, ctx) {
  const node = nodeOf(ctx.doc, name);
  const entry = ctx.doc.nodes[node]?.[name];
  if (!entry) return;
  const field = (k, options) => {
    const v = entry.fields[k] ?? '';
    if (!options) return `<label for="field-${k}">${k}</label><input id="field-${k}" name="${k}" value="${esc(v)}" size="8">`;
    const opts = options.map((o) => `<option ${o === v ? 'selected' : ''} value="${o}">${o || '(absent)'}</option>`).join('');
    return `<label for="field-${k}">${k}</label><select id="field-${k}" name="${k}">${opts}</select>`;
  };
  const other = Object.entries(entry.fields).filter(([k]) => !['Status', 'ExitCode', 'Dead', 'OOMKilled'].includes(k));
  box.innerHTML = `<div class="actions" role="group" aria-label="set the state of ${esc(name)}">set state: ${Object.keys(PRESETS).map((s) => `<button type="button" data-preset="${s}" data-state="${s}">${s}</button>`).join('')}</div>
    <form id="fields-form" class="fields" aria-label="raw NodeAgent fields">
      ${field('Status', PODMAN_STATUS)}${field('ExitCode')}${field('Dead', FLAG)}${field('OOMKilled', FLAG)}
      ${other.map(([k, v]) => `<label>${esc(k)} <input name="${esc(k)}" value="${esc(v)}" size="8"></label><span></span>`).join('')}
      <span></span><span><button class="primary">Apply raw fields</button> <button type="button" class="danger" id="remove-container">Remove container</button></span>
    </form>`;
  for (const b of box.querySelectorAll('[data-preset]')) {
    b.onclick = () => ctx.dispatch({ type: 'set-fields', node, container: name, fields: PRESETS[b.dataset.preset] });
  }
  $('fields-form').onsubmit = (e) => {
    e.preventDefault();
    ctx.dispatch({ type: 'set-fields', node, container: name, fields: Object.fromEntries(new FormData(e.target)) });
  };
  $('remove-container').onclick = () => ctx.dispatch({ type: 'remove-container', node, name });
}

function editModel(box, name, ctx) {
  const containers = ctx.view.containers.filter((c) => c.model === name);
  const inPackages = packagesOf(ctx, name);
  const nodes = Object.keys(ctx.doc.nodes);
  box.innerHTML = `<form id="add-container-form" class="inline">
      <input name="suffix" placeholder="container" size="8" required aria-label="new container's name in ${esc(name)}">
      <select name="node" aria-label="its node">${nodes.map((n) => `<option>${esc(n)}</option>`).join('')}</select>
      <select name="state" aria-label="its state">${Object.keys(PRESETS).map((s) => `<option>${s}</option>`).join('')}</select>
      <button ${nodes.length ? '' : 'disabled title="add a node first"'}>+ container</button>
    </form>
    <div class="actions">${inPackages.map((p) => `<button type="button" class="danger" data-remove-from="${esc(p)}">remove from ${esc(p)} (with its containers)</button>`).join('')}</div>`;
  const form = $('add-container-form');
  const toName = (suffix) => ctx.core.nodeAgentName(name, suffix);
  nameField(form.elements.suffix, 'container', ctx.core, toName);
  form.onsubmit = (e) => {
    e.preventDefault();
    const f = Object.fromEntries(new FormData(e.target));
    const action = { type: 'add-container', node: f.node, name: toName(f.suffix.trim()), fields: PRESETS[f.state] };
    // Pod (model) names have no underscore; if this one does, name the model explicitly.
    if (name.includes('_')) action.annotation = { 'io.pullpiri.annotations.model': name };
    formResult(form, ctx.dispatch(action));
  };
  for (const b of box.querySelectorAll('[data-remove-from]')) {
    b.onclick = () => ctx.dispatch({ type: 'remove-model', package: b.dataset.removeFrom, model: name, containers: containers.map((c) => [c.node, c.name]) });
  }
}

function editPackage(box, name, ctx) {
  box.innerHTML = `<form id="add-model-form" class="inline">
      <input name="model" placeholder="model" size="10" required aria-label="new model in ${esc(name)}"><button>+ model</button>
      ${name in ctx.doc.packages ? '<button type="button" class="danger" id="remove-package">Remove package</button>' : ''}
    </form>`;
  const form = $('add-model-form');
  nameField(form.elements.model, 'model', ctx.core);
  form.onsubmit = (e) => {
    e.preventDefault();
    const model = new FormData(e.target).get('model').trim();
    const action = name in ctx.doc.packages ? { type: 'add-model', package: name, model } : { type: 'add-package', name, models: [model] };
    formResult(form, ctx.dispatch(action));
  };
  const rm = $('remove-package');
  if (rm) rm.onclick = () => ctx.dispatch({ type: 'remove-package', name });
}
