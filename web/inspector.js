// The inspector: for the selected container, model or package, its state, what can be done
// with it, and "why": its decision table from state-core with the deciding row marked.

import { PRESETS } from './store.js';

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
// Status values the container table and podman know, offered so a user picks a real one rather
// than guessing a spelling; '' leaves Status absent.
const PODMAN_STATUS = ['', 'created', 'configured', 'initialized', 'running', 'paused', 'stopping', 'stopped', 'exited', 'removing', 'unknown', 'dead'];
// NodeAgent sends flags as the strings 'true' and 'false'; '' leaves the flag absent.
const FLAG = ['', 'true', 'false'];

function ruleTable(table, hit, caption) {
  const rows = table.rows.map((r, i) => `<tr class="${i === hit ? 'hit' : i < hit ? 'skipped' : ''}"><td>${esc(r.when)}</td><td>${esc(r.then)}</td></tr>`).join('');
  return `<table class="rules" data-table="${esc(table.name)}"><caption>${esc(caption)}</caption><tr><th>condition (first match wins)</th><th>${esc(table.name)}</th></tr>${rows}</table>`;
}

function counts(c) {
  const parts = Object.entries(c).map(([s, n]) => `<span><span class="badge" data-state="${s}">${s}</span> × ${n}</span>`);
  return `<div class="counts">${parts.join('') || '<span class="hint">none</span>'}</div>`;
}

/// Attached to a daemon: what it stores for this model or package at the step shown, the
/// reason it recorded, whether state-core here agrees, and its recorded history (fetched).
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
export function renderInspector(box, ctx) {
  const { kind, name } = ctx;
  if (!kind) {
    box.innerHTML = '<p class="hint">Click a container to set its state or edit its raw NodeAgent fields; click a model or package to see which decision-table row gave it its state.</p>';
    return;
  }
  if (kind === 'container') return renderContainer(box, name, ctx);
  if (kind === 'model') return renderModel(box, name, ctx);
  return renderPackage(box, name, ctx);
}

function renderContainer(box, name, ctx) {
  const node = nodeOf(ctx.doc, name);
  const entry = ctx.doc.nodes[node]?.[name];
  if (!entry) return;
  const state = ctx.fleet.containerState(name);
  const d = ctx.core.containerState(entry.fields);
  const model = ctx.view.containers.find((c) => c.name === name)?.model;
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
    ${ruleTable(ctx.tables.container, d.row, `Why ${d.state}: the container-state table on these fields`)}`;
  for (const b of box.querySelectorAll('[data-preset]')) {
    b.onclick = () => ctx.dispatch({ type: 'set-fields', node, container: name, fields: PRESETS[b.dataset.preset] });
  }
  $('fields-form').onsubmit = (e) => {
    e.preventDefault();
    ctx.dispatch({ type: 'set-fields', node, container: name, fields: Object.fromEntries(new FormData(e.target)) });
  };
  $('remove-container').onclick = () => ctx.dispatch({ type: 'remove-container', node, name });
  const go = box.querySelector('[data-go-model]');
  if (go) go.onclick = (e) => { e.preventDefault(); ctx.select('model', go.dataset.goModel); };
}

function renderModel(box, name, ctx) {
  const why = ctx.fleet.explainModel(name);
  const containers = ctx.view.containers.filter((c) => c.model === name);
  const inPackages = Object.entries(ctx.doc.packages).filter(([, p]) => p.models.includes(name)).map(([p]) => p);
  const nodes = Object.keys(ctx.doc.nodes);
  const direct = why.current !== why.state ? `<p class="explain warn">The model was set directly to ${why.current}; its containers alone would give ${why.state}.</p>` : '';
  box.innerHTML = `<h3>model ${esc(name)} <span class="badge" data-state="${why.current}">${why.current}</span></h3>
    <div class="meta">packages: ${inPackages.map((p) => `<a href="#" data-go-package="${esc(p)}">${esc(p)}</a>`).join(', ') || '<i>none</i>'} · ${containers.length} containers</div>
    <div>containers by state: ${counts(why.counts)}</div>
    ${ruleTable(ctx.tables.model, why.row, `Why ${why.state}: row ${why.row + 1} of the model table`)}${direct}
    ${daemonSection(ctx, 'model', name, why.current)}
    <form id="add-container-form" class="inline">
      <input name="suffix" placeholder="container" size="8" required>
      <select name="node">${nodes.map((n) => `<option>${esc(n)}</option>`).join('')}</select>
      <select name="state">${Object.keys(PRESETS).map((s) => `<option>${s}</option>`).join('')}</select>
      <button ${nodes.length ? '' : 'disabled title="add a node first"'}>+ container</button>
    </form>
    <div class="actions">${inPackages.map((p) => `<button class="danger" data-remove-from="${esc(p)}">remove from ${esc(p)} (with its containers)</button>`).join('')}</div>`;
  if (ctx.attached) loadHistory(ctx, 'model', name);
  $('add-container-form').onsubmit = (e) => {
    e.preventDefault();
    const f = Object.fromEntries(new FormData(e.target));
    const action = { type: 'add-container', node: f.node, name: ctx.core.nodeAgentName(name, f.suffix.trim()), fields: PRESETS[f.state] };
    // Pod (model) names have no underscore; if this one does, name the model explicitly.
    if (name.includes('_')) action.annotation = { 'io.pullpiri.annotations.model': name };
    ctx.dispatch(action);
  };
  for (const b of box.querySelectorAll('[data-remove-from]')) {
    b.onclick = () => ctx.dispatch({ type: 'remove-model', package: b.dataset.removeFrom, model: name, containers: containers.map((c) => [c.node, c.name]) });
  }
  for (const a of box.querySelectorAll('[data-go-package]')) a.onclick = (e) => { e.preventDefault(); ctx.select('package', a.dataset.goPackage); };
}

function renderPackage(box, name, ctx) {
  const why = ctx.fleet.explainPackage(name);
  const p = ctx.view.packages.find((x) => x.name === name);
  const scenario = p?.scenario;
  let reconcile = '';
  if (why.current === 'error') {
    const pod = ctx.core.reconcileStatuses();
    reconcile = `<div class="notice" data-reconcile="${esc(name)}">In Error: the StateManager sends (and retries with backoff while the package stays in Error) <code>Reconcile(ReconcileRequest { scenario_name: "${esc(scenario ?? '')}", current: ${esc(pod.current)}, desired: ${esc(pod.desired)} })</code> to the ActionController.</div>`;
  }
  box.innerHTML = `<h3>package ${esc(name)} <span class="badge" data-state="${why.current}">${why.current}</span></h3>
    <div class="meta">scenario: ${esc(scenario ?? 'none')} · models: ${(p?.models ?? []).map((m) => `<a href="#" data-go-model="${esc(m)}">${esc(m)}</a>`).join(', ') || '<i>none</i>'}</div>
    <div>models by state: ${counts(why.counts)}</div>
    ${ruleTable(ctx.tables.package, why.row, `Why ${why.state}: row ${why.row + 1} of the package table`)}${reconcile}
    ${daemonSection(ctx, 'package', name, why.current)}
    <form id="add-model-form" class="inline">
      <input name="model" placeholder="model" size="10" required><button>+ model</button>
      ${name in ctx.doc.packages ? '<button type="button" class="danger" id="remove-package">Remove package</button>' : ''}
    </form>`;
  if (ctx.attached) loadHistory(ctx, 'package', name);
  $('add-model-form').onsubmit = (e) => {
    e.preventDefault();
    const model = new FormData(e.target).get('model').trim();
    if (!(name in ctx.doc.packages)) {
      ctx.dispatch({ type: 'add-package', name, models: [model] });
    } else ctx.dispatch({ type: 'add-model', package: name, model });
  };
  const rm = $('remove-package');
  if (rm) rm.onclick = () => ctx.dispatch({ type: 'remove-package', name });
  for (const a of box.querySelectorAll('[data-go-model]')) a.onclick = (e) => { e.preventDefault(); ctx.select('model', a.dataset.goModel); };
}
