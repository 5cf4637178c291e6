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
      return [d, 'loaded an explorer JSON document'];
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

function importYaml(doc, action, core) {
  const { artifacts, errors } = core.parseArtifacts(action.text);
  if (!artifacts.length) fail(`no artifact could be read: ${errors.join('; ') || 'empty file'}`);
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
  const note = `imported ${kinds}` + (errors.length ? `; skipped: ${errors.join('; ')}` : '');
  return [{ packages, scenarios, nodes }, note];
}

// ---- history ----------------------------------------------------------------------------

/// The session: a base document, the actions applied to it (each with its timestamp), and the
/// cursor (how many of them are in effect). Everything else is derived by replaying.
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

export class History {
  constructor(core) {
    this.core = core;
    this.base = emptyDoc();
    this.entries = []; // { action, doc, note }
    this.cursor = 0; // entries[0..cursor] are in effect
  }

  get doc() {
    return this.cursor === 0 ? this.base : this.entries[this.cursor - 1].doc;
  }

  /// Applies an action after the cursor, dropping any undone future. Throws if refused.
  push(action) {
    const stamped = { ...action, at: action.at ?? Date.now() };
    const [doc, note] = reduce(this.doc, stamped, this.core);
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

  /// Replaces the whole session (reset, or loading a shared URL). Actions that are refused on
  /// replay are dropped and returned.
  replace(base, actions, cursor) {
    this.base = base;
    this.entries = [];
    this.cursor = 0;
    const dropped = [];
    for (const a of actions) {
      try {
        this.push(a);
      } catch (e) {
        dropped.push(`${a.type}: ${e.message}`);
      }
    }
    this.cursor = Math.max(0, Math.min(cursor ?? this.entries.length, this.entries.length));
    return dropped;
  }

  session() {
    return { v: 1, base: this.base, actions: this.entries.map((e) => e.action), cursor: this.cursor };
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
export async function decodeSession(fragment) {
  const f = fragment.replace(/^#/, '');
  if (f.startsWith('z=')) {
    const bytes = await pipe(fromBase64Url(f.slice(2)), new DecompressionStream('deflate-raw'));
    return JSON.parse(new TextDecoder().decode(bytes));
  }
  if (f.startsWith('j=')) return JSON.parse(new TextDecoder().decode(fromBase64Url(f.slice(2))));
  return null;
}
