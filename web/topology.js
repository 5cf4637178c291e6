// The topology view: packages -> models -> containers, each coloured by the state state-core
// gave it, containers labelled with their node. A full render builds the DOM once; after a
// container edit only the elements whose state changed are touched, so a click costs the same
// on a 10,000-container fleet as on a small one.

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// Above this many containers, chips become plain squares: a few hundred labels still read at a
// glance. The demo and imported artifacts stay far below it, the large fleet (10,000) far above.
const COMPACT = 400;

export class Topology {
  /// `agentSuffix(name, model)`: wasm `nodeAgentSuffix`, state-core's reading of a NodeAgent
  /// container name (the part after its model, or `undefined`), used to label chips.
  constructor(root, onSelect, agentSuffix) {
    this.root = root;
    this.agentSuffix = agentSuffix;
    this.els = { container: new Map(), model: new Map(), package: new Map() };
    this.changed = [];
    this.selected = [];
    root.addEventListener('click', (e) => {
      const target = e.target.closest('[data-pick]');
      if (target) onSelect(target.dataset.pick, target.dataset.name);
    });
  }

  /// Rebuilds everything from the fleet view and the document, grouped `by` package (packages
  /// -> models -> containers) or by node (nodes -> models -> that node's containers).
  render(view, doc, by = 'package') {
    const byModel = new Map();
    const unassigned = [];
    for (const c of view.containers) {
      if (c.model) {
        if (!byModel.has(c.model)) byModel.set(c.model, []);
        byModel.get(c.model).push(c);
      } else unassigned.push(c);
    }
    const models = new Map(view.models.map((m) => [m.name, m]));
    const compact = view.containers.length > COMPACT;
    this.root.classList.toggle('compact', compact);

    const short = (c) => (c.model ? this.agentSuffix(c.name, c.model) ?? c.name : c.name);
    const chip = (c) => {
      const label = compact ? '' : `${esc(short(c))} <span class="node">@${esc(c.node)}</span>`;
      return `<button class="ctr" data-kind="container" data-pick="container" data-name="${esc(c.name)}" data-state="${c.state}" title="${esc(c.name)} on ${esc(c.node)}: ${c.state}">${label}</button>`;
    };
    const model = (name, list = byModel.get(name) ?? []) => {
      const m = models.get(name);
      const state = m ? m.state : 'created';
      const ctrs = list.map(chip).join('');
      return `<div class="model" data-kind="model" data-name="${esc(name)}" data-state="${state}">`
        + `<div class="mhead" data-pick="model" data-name="${esc(name)}"><span class="dot" data-state="${state}"></span><span class="mname">${esc(name)}</span></div>`
        + `<div class="ctrs">${ctrs || '<span class="hint">no containers</span>'}</div></div>`;
    };
    const card = (kind, name, state, head, body) =>
      `<div class="pkg" ${kind ? `data-kind="${kind}" data-name="${esc(name)}"` : ''} data-state="${state ?? ''}">`
      + `<div class="head" ${kind ? `data-pick="${kind}" data-name="${esc(name)}"` : ''}>${head}</div>${body}</div>`;

    const html = [];
    if (by === 'node') {
      const byNode = new Map(Object.keys(doc.nodes).map((n) => [n, new Map()]));
      for (const c of view.containers) {
        if (!byNode.has(c.node)) byNode.set(c.node, new Map());
        const groups = byNode.get(c.node);
        const key = c.model ?? '';
        if (!groups.has(key)) groups.set(key, []);
        groups.get(key).push(c);
      }
      for (const [node, groups] of byNode) {
        const count = [...groups.values()].reduce((n, l) => n + l.length, 0);
        const rows = [...groups].map(([m, list]) => (m ? model(m, list) : `<div class="model"><div class="mhead"><span class="mname hint">(no model)</span></div><div class="ctrs">${list.map(chip).join('')}</div></div>`));
        html.push(card(null, '', null, `<span class="name">${esc(node)}</span><span class="scn">${count} containers</span>`, rows.join('') || '<span class="hint">no containers</span>'));
      }
    }
    for (const p of by === 'node' ? [] : view.packages) {
      const scn = p.scenario ? doc.scenarios[p.scenario] : null;
      const scnText = p.scenario ? `⟵ ${esc(p.scenario)} (${esc(scn?.state ?? 'absent')})` : 'no scenario';
      const head = `<span class="name">${esc(p.name)}</span><span class="badge" data-state="${p.state ?? ''}">${p.state ?? '—'}</span><span class="scn">${scnText}</span>`;
      html.push(card('package', p.name, p.state, head, p.models.map((m) => model(m)).join('') || '<span class="hint">no models</span>'));
    }
    const orphans = view.models.filter((m) => m.packages.length === 0 && byModel.has(m.name));
    if (by !== 'node' && orphans.length) {
      html.push(card(null, '', null, '<span class="name">(in no package)</span>', orphans.map((m) => model(m.name)).join('')));
    }
    if (by !== 'node' && unassigned.length) {
      html.push(card(null, '', null, '<span class="name">(belong to no model)</span>', `<div class="ctrs">${unassigned.map(chip).join('')}</div>`));
    }
    if (!html.length) html.push('<p class="hint">Empty. Add a package and a node, import artifact YAML, or press Reset for the demo.</p>');
    this.root.innerHTML = html.join('');

    for (const m of Object.values(this.els)) m.clear();
    for (const e of this.root.querySelectorAll('[data-kind]')) {
      const map = this.els[e.dataset.kind];
      const list = map.get(e.dataset.name);
      if (list) list.push(e);
      else map.set(e.dataset.name, [e]);
    }
    this.changed = [];
    this.selected = [];
  }

  /// Applies the state changes of a plan in place. Returns false when the plan names an
  /// element that is not drawn (then a full render is needed).
  update(plan) {
    const set = (kind, name, state) => {
      const list = this.els[kind].get(name);
      if (!list) return false;
      for (const e of list) {
        e.dataset.state = state;
        if (kind === 'container') e.title = e.title.replace(/: \w+$/, `: ${state}`);
        const badge = e.querySelector(':scope > .head > .badge, :scope > .mhead > .dot');
        if (badge) {
          badge.dataset.state = state;
          if (badge.classList.contains('badge')) badge.textContent = state;
        }
      }
      return true;
    };
    // Every container is drawn in both groupings; models and packages may not be (the node
    // grouping has no package cards), so only a missing container needs a full render.
    let ok =
      plan.containerDeletes.size === 0 &&
      plan.modelDeletes.size === 0 &&
      plan.packageDeletes.size === 0;
    for (const [name, state] of plan.containers) ok = set('container', name, state) && ok;
    for (const [name, u] of plan.models) set('model', name, u.new);
    for (const [name, u] of plan.packages) set('package', name, u.new);
    return ok;
  }

  /// Outlines what the last change touched.
  highlight(plan) {
    for (const e of this.changed) e.classList.remove('changed');
    this.changed = [];
    const mark = (kind, names) => {
      for (const n of names) for (const e of this.els[kind].get(n) ?? []) {
        e.classList.add('changed');
        this.changed.push(e);
      }
    };
    mark('container', plan.containers.keys());
    mark('model', plan.models.keys());
    mark('package', plan.packages.keys());
  }

  select(kind, name) {
    for (const e of this.selected) e.classList.remove('selected');
    this.selected = kind ? [...(this.els[kind].get(name) ?? [])] : [];
    for (const e of this.selected) e.classList.add('selected');
  }

  /// Every drawn state as `kind:name=state`, sorted: what the browser test compares.
  signature() {
    const out = [];
    for (const [kind, map] of Object.entries(this.els)) {
      for (const [name, list] of map) out.push(`${kind}:${name}=${list[0].dataset.state}`);
    }
    return out.sort();
  }
}
