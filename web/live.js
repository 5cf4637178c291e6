// The explorer attached to a running daemon: follows the daemon's HTTP API (served on its gRPC
// port, see docs/contract.md#http-api) and turns what it streams into explorer actions.
//
// Server-sent events, not gRPC-Web: the browser's EventSource reconnects by itself and sends
// the last complete revision it saw (Last-Event-ID), which the daemon resumes from, so a
// dropped connection loses nothing and needs no code here; and JSON needs no protobuf decoder
// in the page. No rule lives here either: the page feeds the container states it is sent to
// the wasm Fleet, which derives models and packages as the daemon does, and shows where the
// two disagree.

import { PRESETS } from './store.js';

/// The explorer document for a daemon's fleet shape (`GET /v1/fleet`): its packages, scenarios
/// and nodes as the page holds them (each container given the raw fields of its state), and
/// the model and package states the daemon holds, to compare with what state-core derives here.
export function documentOf(shape) {
  const doc = { packages: {}, scenarios: {}, nodes: {}, daemon: { model: {}, package: {} } };
  for (const [p, { models }] of Object.entries(shape.packages ?? {})) doc.packages[p] = { models: [...models] };
  for (const [s, { target, state }] of Object.entries(shape.scenarios ?? {})) doc.scenarios[s] = { target: target ?? null, state: state ?? null };
  for (const [n, list] of Object.entries(shape.nodes ?? {})) {
    doc.nodes[n] = {};
    for (const [c, { state }] of Object.entries(list)) doc.nodes[n][c] = { fields: { ...(PRESETS[state] ?? {}) } };
  }
  for (const [m, state] of Object.entries(shape.models ?? {})) doc.daemon.model[m] = { state, why: '', source: '', revision: 0 };
  for (const [p, state] of Object.entries(shape.package_states ?? {})) doc.daemon.package[p] = { state, why: '', source: '', revision: 0 };
  return doc;
}

/// The `live` action for one revision the daemon stored. `last` is the newest document; a
/// container it does not know yet is placed with a fresh fleet shape from `fleet()`.
export async function liveAction(revision, events, last, fleet) {
  const action = { type: 'live', revision, events, incremental: true };
  const unknown = events.some((e) => e.kind === 'container' && e.new && !Object.values(last.nodes).some((l) => e.name in l));
  if (unknown) {
    const shape = await fleet();
    action.placements = {};
    for (const [n, list] of Object.entries(shape.nodes)) for (const c of Object.keys(list)) action.placements[c] = n;
    action.packages = Object.fromEntries(Object.entries(shape.packages).map(([p, v]) => [p, v.models]));
    action.targets = Object.fromEntries(Object.entries(shape.scenarios).map(([s, v]) => [s, v.target]));
    action.incremental = false;
  }
  // Removals and scenario steps change the topology's shape, not only states.
  if (events.some((e) => !e.new || e.kind === 'scenario')) action.incremental = false;
  return action;
}

/// Where the daemon's model and package states (`doc.daemon`) differ from what state-core in
/// the page derives (`fleet`): `[{kind, name, daemon, here}]`.
export function disagreementsOf(doc, fleet) {
  const out = [];
  if (!doc.daemon) return out;
  for (const kind of ['model', 'package']) {
    for (const [name, d] of Object.entries(doc.daemon[kind])) {
      const here = kind === 'model' ? fleet.modelState(name) : fleet.packageState(name);
      if (here !== undefined && here !== d.state) out.push({ kind, name, daemon: d.state, here });
    }
  }
  return out;
}

/// One daemon, followed. `handlers`: `start(shape, revision)` when a snapshot is complete (on
/// attaching, and again if the daemon's store lost the history this page had not seen),
/// `revision(revision, events)` for each stored transaction, `status(text, bad)`.
export class Attachment {
  constructor(url, handlers) {
    this.url = url.replace(/\/+$/, '');
    this.handlers = handlers;
    this.pending = [];
    this.inSnapshot = false;
    // Handlers run one at a time, in arrival order: a start fetches the fleet's shape first.
    this.chain = Promise.resolve();
  }

  open() {
    const es = new EventSource(`${this.url}/v1/watch`);
    this.es = es;
    es.onopen = () => this.handlers.status(`attached to ${this.url}`, false);
    es.onerror = () => {
      if (es.readyState === EventSource.CLOSED) this.handlers.status(`cannot follow ${this.url}: is the daemon running, and started with --allow-origin ${location.origin}?`, true);
      else this.handlers.status(`lost ${this.url}; reconnecting (the stream resumes where it stopped)…`, true);
    };
    es.onmessage = (m) => this.message(JSON.parse(m.data));
  }

  message(e) {
    if (e.type === 'error') {
      this.handlers.status(`the daemon's stream failed: ${e.message}; reconnecting…`, true);
      return;
    }
    if (e.type === 'snapshot') {
      this.inSnapshot = true;
      return;
    }
    if (e.type === 'snapshot_done') {
      this.inSnapshot = false;
      this.pending = [];
      this.queue(async () => this.handlers.start(await this.fleet(), e.revision));
      return;
    }
    this.pending.push(e);
    if (e.complete) {
      const events = this.pending;
      this.pending = [];
      this.queue(() => this.handlers.revision(e.revision, events));
    }
  }

  queue(fn) {
    this.chain = this.chain.then(fn).catch((err) => this.handlers.status(err.message, true));
  }

  async json(path, init) {
    let r;
    try {
      r = await fetch(`${this.url}${path}`, init);
    } catch (e) {
      throw new Error(`${this.url}${path}: ${e.message} (is the daemon started with --allow-origin ${location.origin}?)`);
    }
    if (!r.ok) throw new Error(`${this.url}${path}: ${r.status} ${await r.text()}`);
    return r.json();
  }

  /// The fleet's shape now.
  fleet() {
    return this.json('/v1/fleet');
  }

  /// The daemon's recorded transitions of one resource, oldest first.
  history(kind, name, limit = 50) {
    const q = new URLSearchParams({ kind, name, limit: String(limit) });
    return this.json(`/v1/history?${q}`);
  }

  /// Sends a state change (`SendStateChange`); resolves to `{error_code, message, error_details}`.
  send(change) {
    return this.json('/v1/state-change', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(change),
    });
  }

  close() {
    this.es?.close();
  }
}
