// Keeps the wasm Fleet (state-core's cascade planner) in step with the explorer document.
//
// `sync(fleet, from, to)` turns the difference between two documents into Fleet events (a
// package artifact put or removed, a scenario target, a node's container list) and merges the
// plans they return: what changed, and the reconcile requests a package entering Error
// triggers. Documents share unchanged parts, so the difference is found by reference.

export function emptyPlan() {
  return {
    containers: new Map(), // name -> new state
    containerDeletes: new Set(),
    models: new Map(), // name -> { old, new }
    modelDeletes: new Set(),
    packages: new Map(),
    packageDeletes: new Set(),
    scenarios: new Map(),
    reconciles: [],
    skipped: [],
    wasmMs: 0,
  };
}

function mergeUpdates(into, updates) {
  for (const u of updates) {
    const prev = into.get(u.name);
    into.set(u.name, { old: prev ? prev.old : u.old, new: u.new });
  }
}

function merge(acc, plan) {
  for (const c of plan.containers) {
    acc.containers.set(c.name, c.state);
    acc.containerDeletes.delete(c.name);
  }
  for (const c of plan.containerDeletes) {
    acc.containerDeletes.add(c);
    acc.containers.delete(c);
  }
  mergeUpdates(acc.models, plan.models);
  for (const m of plan.modelDeletes) {
    acc.modelDeletes.add(m);
    acc.models.delete(m);
  }
  mergeUpdates(acc.packages, plan.packages);
  for (const p of plan.packageDeletes) acc.packageDeletes.add(p);
  acc.reconciles.push(...plan.reconciles);
  acc.skipped.push(...plan.skipped);
}

const keys = (a, b) => new Set([...Object.keys(a), ...Object.keys(b)]);
const entry = (name, c) => ({ name, fields: c.fields, annotation: c.annotation ?? {} });

// A click edits one container and a time-travel step a few; past a handful, state-wasm
// rebuilding the node's list once per change costs more than sending the whole list once.
const FEW_CHANGES = 8;
// Up to six updates read at a glance in the event log, so they are named in full; a longer
// list is cut to LIST_SHOWN.
const LIST_MAX = 6;
// Two short of LIST_MAX, so "… and N more" always stands for at least three names.
const LIST_SHOWN = 4;

/// Applies the difference `from -> to` to `fleet` and returns the merged plan.
export function sync(fleet, from, to) {
  const acc = emptyPlan();
  const t0 = performance.now();
  const run = (plan) => merge(acc, plan);
  if (from.packages !== to.packages) {
    for (const p of keys(from.packages, to.packages)) {
      const a = from.packages[p];
      const b = to.packages[p];
      if (a === b) continue;
      run(b ? fleet.putPackage(p, b.models) : fleet.removePackage(p));
    }
  }
  if (from.scenarios !== to.scenarios) {
    for (const s of keys(from.scenarios, to.scenarios)) {
      const a = from.scenarios[s];
      const b = to.scenarios[s];
      if (a === b) continue;
      if (!b) run(fleet.removeScenario(s));
      else if (!a || a.target !== b.target) run(fleet.putScenario(s, b.target ?? undefined));
      // Scenario states are decided by state-core's transition table when an action is
      // taken (see store.js) and kept in the document.
      if ((a?.state ?? null) !== (b?.state ?? null)) {
        acc.scenarios.set(s, { old: a?.state ?? null, new: b?.state ?? null });
      }
    }
  }
  if (from.nodes !== to.nodes) {
    for (const n of keys(from.nodes, to.nodes)) {
      const a = from.nodes[n];
      const b = to.nodes[n];
      if (a === b) continue;
      if (!b || !a) {
        run(fleet.reportNode(n, Object.entries(b ?? {}).map(([c, v]) => entry(c, v))));
        continue;
      }
      const changed = [];
      const removed = [];
      for (const c in b) if (a[c] !== b[c]) changed.push(c);
      for (const c in a) if (!(c in b)) removed.push(c);
      if (changed.length + removed.length <= FEW_CHANGES) {
        // A node's new list replaces its old one; for a few changes, state-wasm rebuilds the
        // list from the fleet instead of us sending every entry across.
        for (const c of changed) run(fleet.setContainer(n, entry(c, b[c])));
        for (const c of removed) run(fleet.removeContainer(n, c));
      } else {
        run(fleet.reportNode(n, Object.entries(b).map(([c, v]) => entry(c, v))));
      }
    }
  }
  acc.wasmMs = performance.now() - t0;
  for (const m of [acc.models, acc.packages, acc.scenarios]) {
    for (const [k, v] of m) if (v.old === v.new) m.delete(k);
  }
  return acc;
}

/// A one-line summary of a plan, for the event log.
export function summary(plan) {
  const parts = [];
  const list = (m) => {
    const all = [...m].map(([n, u]) => `${n} ${u.old ?? '(new)'}→${u.new}`);
    return all.length > LIST_MAX
      ? `${all.slice(0, LIST_SHOWN).join(', ')} … and ${all.length - LIST_SHOWN} more`
      : all.join(', ');
  };
  // A removal is named as one, never as a move to a state.
  const removed = (m) => new Map([...m].filter(([, u]) => u.new == null));
  const kept = (m) => new Map([...m].filter(([, u]) => u.new != null));
  const names = (set) => {
    const all = [...set];
    return all.length > LIST_MAX ? `${all.slice(0, LIST_SHOWN).join(', ')} … and ${all.length - LIST_SHOWN} more` : all.join(', ');
  };
  if (kept(plan.models).size) parts.push(`models: ${list(kept(plan.models))}`);
  const modelsGone = new Set([...plan.modelDeletes, ...removed(plan.models).keys()]);
  if (modelsGone.size) parts.push(`models removed: ${names(modelsGone)}`);
  if (kept(plan.packages).size) parts.push(`packages: ${list(kept(plan.packages))}`);
  const packagesGone = new Set([...plan.packageDeletes, ...removed(plan.packages).keys()]);
  if (packagesGone.size) parts.push(`packages removed: ${names(packagesGone)}`);
  if (kept(plan.scenarios).size) parts.push(`scenarios: ${list(kept(plan.scenarios))}`);
  if (removed(plan.scenarios).size) parts.push(`scenarios removed: ${names(removed(plan.scenarios).keys())}`);
  if (plan.containerDeletes.size) parts.push(`containers removed: ${names(plan.containerDeletes)}`);
  for (const r of plan.reconciles) {
    const req = r.request;
    parts.push(`Reconcile(${req.scenario_name || '—'}, ${req.current}→${req.desired}) for ${r.package}`);
  }
  if (plan.skipped.length) parts.push(`skipped: ${plan.skipped.map((s) => s.error).join('; ')}`);
  return parts.join(' · ');
}
