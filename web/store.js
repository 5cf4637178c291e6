// The explorer's document and the actions that change it. No DOM here.
//
// A document is plain JSON, never mutated (each action returns a new one that shares every
// unchanged part with the old), so history is a list of documents, time travel is picking one,
// and finding what changed between two is a reference comparison.
//
//   doc = {
//     packages:  { [name]: { models: [modelName] } },            // Package artifacts
//     scenarios: { [name]: { target: pkg | null, state: s | null } },
//     nodes:     { [name]: { [container]: { fields: {Status, ExitCode, Dead, OOMKilled, ...},
//                                            annotation?: {...} } } },
//   }
//
// Only raw inputs live here. Every derived state (container, model, package) comes from
// state-core through the wasm Fleet; scenario steps are decided by state-core too.

export const emptyDoc = () => ({ packages: {}, scenarios: {}, nodes: {} });

/// The raw NodeAgent fields that make a container reach each state. What the container state
/// then *is* is decided by state-core's container table, not by this list.
export const PRESETS = {
  created: { Status: 'created' },
  running: { Status: 'running' },
  paused: { Status: 'paused' },
  exited: { Status: 'exited', ExitCode: '0' },
  dead: { Status: 'dead', Dead: 'true' },
  unknown: {},
};

// Small enough to read at a glance, with packages spread over two nodes, models of one and of
// two containers, and scenarios at rest (idle) and mid-lifecycle (waiting). The container names
// are literal data, as a user would type them.
const DEMO = {
  packages: {
    infotainment: { models: ['navi', 'media'] },
    adas: { models: ['lane', 'camera'] },
  },
  scenarios: {
    'infotainment-scn': { target: 'infotainment', state: 'idle' },
    'adas-scn': { target: 'adas', state: 'waiting' },
  },
  nodes: {
    HPC: {
      navi_app: { fields: { Status: 'running' } },
      navi_db: { fields: { Status: 'running' } },
      lane_detector: { fields: { Status: 'running' } },
    },
    ZONE1: {
      media_player: { fields: { Status: 'running' } },
      camera_stream: { fields: { Status: 'running' } },
      camera_recorder: { fields: { Status: 'running' } },
    },
  },
};

const pad = (n, w) => String(n).padStart(w, '0');

/// A fleet of `packages` x `models` x `containers`, spread round-robin over `nodes`, each
/// package with a scenario. `agentName(model, container)` is state-core's NodeAgent naming
/// (wasm `nodeAgentName`), passed in like `core` to `reduce`: this module loads before wasm is
/// initialised. The defaults are the "Large fleet" button's: 10,000 containers, the size the
/// browser test times clicks on.
export function generateFleet({ packages = 100, models = 10, containers = 10, nodes = 20 }, agentName) {
  const doc = emptyDoc();
  const nodeNames = Array.from({ length: nodes }, (_, i) => `node-${pad(i, 2)}`);
  for (const n of nodeNames) doc.nodes[n] = {};
  let k = 0;
  for (let p = 0; p < packages; p++) {
    const pkg = `pkg-${pad(p, 3)}`;
    const ms = [];
    for (let m = 0; m < models; m++) {
      const model = `${pkg}-m${m}`;
      ms.push(model);
      for (let c = 0; c < containers; c++) {
        doc.nodes[nodeNames[k++ % nodes]][agentName(model, `c${c}`)] = { fields: { Status: 'running' } };
      }
    }
    doc.packages[pkg] = { models: ms };
    doc.scenarios[`scn-${pad(p, 3)}`] = { target: pkg, state: 'idle' };
  }
  return doc;
}

function fail(message) {
  throw new Error(message);
}

function without(obj, key) {
  const out = { ...obj };
  delete out[key];
  return out;
}

function findContainer(doc, name) {
  for (const [node, list] of Object.entries(doc.nodes)) if (name in list) return node;
  return null;
}

function cleanFields(fields) {
  const out = {};
  for (const [k, v] of Object.entries(fields ?? {})) {
    const t = String(v ?? '').trim();
    if (t !== '') out[k] = t;
  }
  return out;
}

/// Checks a document read from JSON (or a URL) and returns it in canonical shape.
export function normalise(raw) {
  if (!raw || typeof raw !== 'object') fail('not an explorer document: expected an object');
  const doc = emptyDoc();
  for (const [name, p] of Object.entries(raw.packages ?? {})) {
    doc.packages[name] = { models: [...(p?.models ?? [])].map(String) };
  }
  for (const [name, s] of Object.entries(raw.scenarios ?? {})) {
    doc.scenarios[name] = { target: s?.target ?? null, state: s?.state ?? null };
  }
  for (const [node, list] of Object.entries(raw.nodes ?? {})) {
    doc.nodes[node] = {};
    for (const [c, v] of Object.entries(list ?? {})) {
      const entry = { fields: cleanFields(v?.fields) };
      if (v?.annotation && Object.keys(v.annotation).length) entry.annotation = { ...v.annotation };
      doc.nodes[node][c] = entry;
    }
  }
  return doc;
}

/// Applies one action. Returns `[doc, note]`; `note` is a line for the event log. Throws an
/// `Error` (often one from state-core, through wasm) when the action is refused.
export function reduce(doc, action, core) {
  const check = (kind, name) => core.validateName(kind, name);
  switch (action.type) {
    case 'demo':
      return [normalise(DEMO), 'loaded the demo topology'];
    case 'generate': {
      const d = generateFleet(action, core.nodeAgentName);
      const count = Object.values(d.nodes).reduce((n, l) => n + Object.keys(l).length, 0);
      return [d, `generated ${Object.keys(d.packages).length} packages, ${count} containers`];
    }
    case 'load': {
      const d = normalise(action.doc);
      for (const [p, { models }] of Object.entries(d.packages)) {
        check('package', p);
        for (const m of models) check('model', m);
      }
      for (const [s, { target }] of Object.entries(d.scenarios)) {
        check('scenario', s);
        if (target) check('package', target);
      }
      for (const [n, list] of Object.entries(d.nodes)) {
        check('node', n);
        for (const c of Object.keys(list)) check('container', c);
      }
      if (action.merge) return [merge(doc, d), 'added an explorer JSON document to the topology'];
      return [d, 'loaded an explorer JSON document (replacing the topology)'];
    }
    case 'import-yaml':
      return importYaml(doc, action, core);
    case 'attach': {
      const d = normalise(action.doc);
      d.daemon = action.doc.daemon ?? { model: {}, package: {} };
      return [d, `attached to ${action.url} at revision ${action.revision}`];
    }
    case 'live':
      return applyLive(doc, action, core);
    case 'set-fields': {
      const list = doc.nodes[action.node] ?? fail(`no node ${action.node}`);
      const old = list[action.container] ?? fail(`no container ${action.container} on ${action.node}`);
      const fields = cleanFields(action.fields);
      const next = { ...old, fields };
      const shown = Object.entries(fields).map(([k, v]) => `${k}=${v}`).join(' ') || '(no fields)';
      return [
        { ...doc, nodes: { ...doc.nodes, [action.node]: { ...list, [action.container]: next } } },
        `${action.container}: ${shown}`,
      ];
    }
    case 'add-package': {
      check('package', action.name);
      if (action.name in doc.packages) fail(`package ${action.name} already exists`);
      for (const m of action.models ?? []) check('model', m);
      return [
        { ...doc, packages: { ...doc.packages, [action.name]: { models: [...(action.models ?? [])] } } },
        `added package ${action.name}`,
      ];
    }
    case 'remove-package': {
      if (!(action.name in doc.packages)) fail(`no package ${action.name}`);
      return [{ ...doc, packages: without(doc.packages, action.name) }, `removed package ${action.name}`];
    }
    case 'add-model': {
      const p = doc.packages[action.package] ?? fail(`no package ${action.package}`);
      check('model', action.model);
      if (p.models.includes(action.model)) fail(`${action.package} already lists ${action.model}`);
      return [
        { ...doc, packages: { ...doc.packages, [action.package]: { models: [...p.models, action.model] } } },
        `added model ${action.model} to ${action.package}`,
      ];
    }
    case 'remove-model': {
      const p = doc.packages[action.package] ?? fail(`no package ${action.package}`);
      let nodes = doc.nodes;
      for (const [node, c] of action.containers ?? []) {
        if (nodes[node] && c in nodes[node]) nodes = { ...nodes, [node]: without(nodes[node], c) };
      }
      return [
        {
          ...doc,
          nodes,
          packages: {
            ...doc.packages,
            [action.package]: { models: p.models.filter((m) => m !== action.model) },
          },
        },
        `removed model ${action.model} from ${action.package}`,
      ];
    }
    case 'add-container': {
      check('container', action.name);
      check('node', action.node);
      const where = findContainer(doc, action.name);
      if (where) fail(`container ${action.name} already exists on ${where}`);
      const entry = { fields: cleanFields(action.fields) };
      if (action.annotation) entry.annotation = { ...action.annotation };
      const list = doc.nodes[action.node] ?? {};
      return [
        { ...doc, nodes: { ...doc.nodes, [action.node]: { ...list, [action.name]: entry } } },
        `added container ${action.name} on ${action.node}`,
      ];
    }
    case 'remove-container': {
      const list = doc.nodes[action.node] ?? fail(`no node ${action.node}`);
      if (!(action.name in list)) fail(`no container ${action.name} on ${action.node}`);
      return [
        { ...doc, nodes: { ...doc.nodes, [action.node]: without(list, action.name) } },
        `removed container ${action.name} from ${action.node}`,
      ];
    }
    case 'add-node': {
      check('node', action.name);
      if (action.name in doc.nodes) fail(`node ${action.name} already exists`);
      return [{ ...doc, nodes: { ...doc.nodes, [action.name]: {} } }, `added node ${action.name}`];
    }
    case 'remove-node': {
      const list = doc.nodes[action.name] ?? fail(`no node ${action.name}`);
      return [
        { ...doc, nodes: without(doc.nodes, action.name) },
        `removed node ${action.name} and its ${Object.keys(list).length} containers`,
      ];
    }
    case 'add-scenario': {
      check('scenario', action.name);
      if (action.name in doc.scenarios) fail(`scenario ${action.name} already exists`);
      if (action.target) check('package', action.target);
      return [
        {
          ...doc,
          scenarios: { ...doc.scenarios, [action.name]: { target: action.target || null, state: null } },
        },
        `added scenario ${action.name}`,
      ];
    }
    case 'remove-scenario': {
      if (!(action.name in doc.scenarios)) fail(`no scenario ${action.name}`);
      return [{ ...doc, scenarios: without(doc.scenarios, action.name) }, `removed scenario ${action.name}`];
    }
    case 'scenario': {
      // `current`: the request's current_state. Absent (every step clicked in the graph): the
      // stored state, so the step is a compare-and-set; `''`: no precondition (a re-apply).
      const s = doc.scenarios[action.name] ?? fail(`no scenario ${action.name}`);
      const stored = s.state ?? '';
      const current = action.current ?? stored;
      const r = core.decideScenario(action.name, stored, current, action.to, action.source, !!action.strict);
      const from = s.state ?? '(absent)';
      let note = `${action.name}: ${from} -> ${r.target} by ${action.source || '(no source)'}`;
      if (action.current === '') note += ' (re-applied: current_state "", no precondition)';
      if (r.outcome === 'noop') note += ' (no-op: already stored)';
      if (r.wrongOwner) note += `; accepted from a non-owner (owner: ${r.wrongOwner.join(', ')}), logged as a warning`;
      return [
        { ...doc, scenarios: { ...doc.scenarios, [action.name]: { ...s, state: r.target } } },
        note,
      ];
    }
    default:
      return fail(`unknown action ${action.type}`);
  }
}

/// A document with `extra` added: its packages, scenarios and containers replace those of the
/// same name, everything else stays.
function merge(doc, extra) {
  const nodes = { ...doc.nodes };
  for (const [n, list] of Object.entries(extra.nodes)) nodes[n] = { ...(nodes[n] ?? {}), ...list };
  return {
    packages: { ...doc.packages, ...extra.packages },
    scenarios: { ...doc.scenarios, ...extra.scenarios },
    nodes,
  };
}

/// Artifact YAML added to the document, or (`action.replace`) replacing it. A file with a bad
/// document is refused whole, with an `Error` whose `problems` say where
/// (`[{document, line, message}]`, from state-artifact): importing half a file would leave
/// a topology the user did not write.
/// A line for the event log naming an action that was refused (it changed nothing).
export function describe(action) {
  switch (action.type) {
    case 'scenario':
      return `scenario step ${action.name}: → ${action.to} by ${action.source || '(no source)'}${action.current === '' ? ' (re-apply, current_state "")' : ''}`;
    case 'set-fields':
      return `set ${action.container} on ${action.node}`;
    case 'import-yaml':
      return action.replace ? 'import (replace)' : 'import (add)';
    default:
      return `${action.type.replace(/-/g, ' ')}${action.name ? ` ${action.name}` : ''}`;
  }
}

function importYaml(current, action, core) {
  const doc = action.replace ? emptyDoc() : current;
  const { artifacts, errors, problems } = core.parseArtifacts(action.text);
  if (errors.length || !artifacts.length) {
    const e = new Error(errors.length ? `${errors.length} document(s) could not be read: ${errors.join('; ')}` : 'no artifact in the text: nothing to import');
    e.problems = problems;
    throw e;
  }
  const packages = { ...doc.packages };
  const scenarios = { ...doc.scenarios };
  const nodes = { ...doc.nodes };
  const modelNode = {};
  for (const a of artifacts) {
    if (a.kind !== 'Package') continue;
    packages[a.name] = { models: a.models.map((m) => m.name) };
    for (const m of a.models) if (m.node) modelNode[m.name] = m.node;
  }
  const fallbackNode = action.node || Object.keys(nodes)[0] || 'node1';
  for (const a of artifacts) {
    if (a.kind === 'Scenario') {
      scenarios[a.name] = { target: a.target ?? null, state: scenarios[a.name]?.state ?? null };
    } else if (a.kind === 'Model') {
      const node = modelNode[a.name] ?? fallbackNode;
      core.validateName('node', node);
      for (const c of a.containers) {
        const name = core.nodeAgentName(a.name, c);
        core.validateName('container', name);
        if (findContainer({ nodes }, name)) continue;
        nodes[node] = { ...(nodes[node] ?? {}), [name]: { fields: { Status: 'running' } } };
      }
    }
  }
  for (const m of Object.keys(modelNode)) {
    // A listed model with no Model document still shows its node.
    if (!(modelNode[m] in nodes)) nodes[modelNode[m]] = {};
  }
  const kinds = artifacts.map((a) => `${a.kind}/${a.name}`).join(', ');
  return [{ packages, scenarios, nodes }, `imported ${kinds} (${action.replace ? 'replacing the topology' : 'added to the topology'})`];
}

/// A revision the attached daemon stored (live.js). Container and scenario states go into the
/// document, so the wasm Fleet derives models and packages from them as the daemon does; the
/// model and package states the daemon holds go into `doc.daemon`, to compare. Containers the
/// page did not know yet are placed with `action.placements` (container -> node) and package
/// artifacts updated from `action.packages`, both from a fresh fleet shape.
function applyLive(doc, action, core) {
  const short = (kind, s) => (s ? core.shortState(kind, s) : null);
  let { nodes, scenarios, packages } = doc;
  const daemon = { model: { ...doc.daemon?.model }, package: { ...doc.daemon?.package } };
  for (const [p, models] of Object.entries(action.packages ?? {})) {
    if (JSON.stringify(packages[p]?.models) !== JSON.stringify(models)) packages = { ...packages, [p]: { models } };
  }
  const notes = [];
  for (const e of action.events) {
    const from = short(e.kind, e.old) ?? 'none';
    const to = short(e.kind, e.new);
    if (e.kind === 'container') {
      const node = findContainer({ nodes }, e.name) ?? action.placements?.[e.name];
      if (!node) {
        notes.push(`${e.name} → ${to ?? 'removed'} (on no node this page knows)`);
        continue;
      }
      const list = { ...(nodes[node] ?? {}) };
      if (to) list[e.name] = { ...list[e.name], fields: { ...(PRESETS[to] ?? {}) } };
      else delete list[e.name];
      nodes = { ...nodes, [node]: list };
      notes.push(`${e.name} ${from} → ${to ?? 'removed'}`);
    } else if (e.kind === 'scenario') {
      const s = scenarios[e.name] ?? { target: action.targets?.[e.name] ?? null, state: null };
      scenarios = { ...scenarios, [e.name]: { ...s, state: to } };
      notes.push(`scenario ${e.name} ${from} → ${to ?? 'removed'}`);
    } else {
      if (to) daemon[e.kind][e.name] = { state: to, why: e.why, source: e.source, revision: action.revision };
      else delete daemon[e.kind][e.name];
      notes.push(`${e.kind} ${e.name} ${from} → ${to ?? 'removed'}${e.why ? ` (${e.why})` : ''}`);
    }
  }
  const by = action.events.find((e) => e.source)?.source;
  return [{ ...doc, packages, nodes, scenarios, daemon }, `revision ${action.revision}${by ? ` by ${by}` : ''}: ${notes.join('; ')}`];
}

// ---- history ----------------------------------------------------------------------------

// How many set-aside timelines are kept (each restorable from the event log); older ones go.
const BRANCHES_KEPT = 10;

/// The session: a base document, the actions applied to it (each with its timestamp), and the
/// cursor (how many of them are in effect). Everything else is derived by replaying.
///
/// Nothing is lost silently: an action taken in the past, a Reset or a replacing load sets the
/// whole timeline it replaces aside as a branch (`branches`), which `restore` brings back
/// (swapping it with the timeline then current). A refused action changes no document; it is
/// kept on the entry it was tried at (`entry.refused`, or `startRefused` before the first).
export class History {
  constructor(core) {
    this.core = core;
    this.base = emptyDoc();
    this.entries = []; // { action, doc, note, summary?, refused? }
    this.cursor = 0; // entries[0..cursor] are in effect
    this.startRefused = [];
    this.branches = []; // { base, entries, cursor, startRefused, why, at }
  }

  get doc() {
    return this.cursor === 0 ? this.base : this.entries[this.cursor - 1].doc;
  }

  /// Applies an action after the cursor. A future beyond the cursor is not dropped: the
  /// timeline holding it is set aside as a branch first. Throws if refused.
  push(action) {
    const stamped = { ...action, at: action.at ?? Date.now() };
    const [doc, note] = reduce(this.doc, stamped, this.core);
    if (this.cursor < this.entries.length) {
      const later = this.entries.length - this.cursor;
      this.setAside(`${later} later step${later === 1 ? '' : 's'} after step ${this.cursor}, replaced by “${note}”`);
    }
    this.entries = this.entries.slice(0, this.cursor);
    this.entries.push({ action: stamped, doc, note });
    this.cursor = this.entries.length;
    return this.entries[this.cursor - 1];
  }

  /// Appends an action at the end whatever the cursor (what an attached daemon stored while
  /// the user looks at the past); the cursor follows only if it was at the end. Throws if
  /// refused.
  append(action) {
    const stamped = { ...action, at: action.at ?? Date.now() };
    const last = this.entries.length ? this.entries[this.entries.length - 1].doc : this.base;
    const [doc, note] = reduce(last, stamped, this.core);
    const following = this.cursor === this.entries.length;
    this.entries.push({ action: stamped, doc, note });
    if (following) this.cursor = this.entries.length;
    return this.entries[this.entries.length - 1];
  }

  /// Records an action that was refused, at the step shown.
  refuse(action, message) {
    const record = { at: Date.now(), note: `refused: ${describe(action)}: ${message}` };
    const entry = this.entries[this.cursor - 1];
    if (entry) entry.refused = [...(entry.refused ?? []), record];
    else this.startRefused = [...this.startRefused, record];
    return record;
  }

  /// Sets the whole current timeline aside as a branch (if it holds anything), saying `why`.
  setAside(why) {
    if (!this.entries.length) return;
    this.branches = [
      { base: this.base, entries: this.entries, cursor: this.cursor, startRefused: this.startRefused, why, at: Date.now() },
      ...this.branches,
    ].slice(0, BRANCHES_KEPT);
  }

  /// Brings back branch `i`, at its latest step (what was set aside is what came after the
  /// step the user stood on); the timeline it replaces becomes a branch in its place.
  restore(i) {
    const b = this.branches[i];
    if (!b) throw new Error(`no branch ${i}`);
    const rest = this.branches.filter((_, j) => j !== i);
    const current = { base: this.base, entries: this.entries, cursor: this.cursor, startRefused: this.startRefused, why: `set aside when branch “${b.why}” was restored`, at: Date.now() };
    this.branches = this.entries.length ? [current, ...rest] : rest;
    Object.assign(this, { base: b.base, entries: b.entries, cursor: b.entries.length, startRefused: b.startRefused });
  }

  /// Replaces the whole session (reset, or loading a shared URL). Actions that are refused on
  /// replay are dropped and returned. `refused`: `[[step, at, note]]` as `session()` wrote
  /// them. The timeline replaced is not kept: callers that replace the user's work set it
  /// aside first.
  replace(base, actions, cursor, refused = []) {
    this.base = base;
    this.entries = [];
    this.cursor = 0;
    this.startRefused = [];
    const dropped = [];
    for (const a of actions) {
      try {
        this.entries.push(this.stamp(a));
        this.cursor = this.entries.length;
      } catch (e) {
        dropped.push(`${a.type}: ${e.message}`);
      }
    }
    for (const [step, at, note] of refused) {
      const entry = this.entries[step - 1];
      const record = { at, note };
      if (step === 0) this.startRefused.push(record);
      else if (entry) entry.refused = [...(entry.refused ?? []), record];
    }
    this.cursor = Math.max(0, Math.min(cursor ?? this.entries.length, this.entries.length));
    return dropped;
  }

  /// An action applied at the end (replay): the entry, or throws.
  stamp(action) {
    const stamped = { ...action, at: action.at ?? Date.now() };
    const [doc, note] = reduce(this.doc, stamped, this.core);
    return { action: stamped, doc, note };
  }

  session() {
    const refused = [];
    for (const r of this.startRefused) refused.push([0, r.at, r.note]);
    this.entries.forEach((e, i) => {
      for (const r of e.refused ?? []) refused.push([i + 1, r.at, r.note]);
    });
    return { v: 1, base: this.base, actions: this.entries.map((e) => e.action), cursor: this.cursor, refused };
  }
}

// ---- shareable URL ----------------------------------------------------------------------

function toBase64Url(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromBase64Url(text) {
  const b = atob(text.replace(/-/g, '+').replace(/_/g, '/'));
  const out = new Uint8Array(b.length);
  for (let i = 0; i < b.length; i++) out[i] = b.charCodeAt(i);
  return out;
}

async function pipe(bytes, stream) {
  const out = new Response(new Blob([bytes]).stream().pipeThrough(stream));
  return new Uint8Array(await out.arrayBuffer());
}

/// The session (plus view state) as a URL fragment: deflated JSON in base64url.
export async function encodeSession(session) {
  const json = new TextEncoder().encode(JSON.stringify(session));
  return 'z=' + toBase64Url(await pipe(json, new CompressionStream('deflate-raw')));
}

/// Reads a fragment written by `encodeSession` (or `j=` + base64url plain JSON).
/// Returns `null` for an address without a session; throws an `Error` saying what is wrong
/// with one that cannot be read (cut short, altered, or not a session).
export async function decodeSession(fragment) {
  const f = fragment.replace(/^#/, '');
  if (!f.startsWith('z=') && !f.startsWith('j=')) return null;
  let session;
  try {
    const bytes = fromBase64Url(f.slice(2));
    const json = f.startsWith('z=') ? await pipe(bytes, new DecompressionStream('deflate-raw')) : bytes;
    session = JSON.parse(new TextDecoder().decode(json));
  } catch (e) {
    throw new Error(`the session in this address cannot be read; it may have been cut short or altered (${e.message})`);
  }
  if (!session || typeof session !== 'object' || !Array.isArray(session.actions)) {
    throw new Error('the address holds data that is not an explorer session (no list of actions)');
  }
  return session;
}
