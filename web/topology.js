// The topology view: packages -> models -> containers, each coloured by the state state-core
// gave it, containers labelled with their node. A full render builds the DOM once; after a
// container edit only the elements whose state changed are touched, so a click costs the same
// on a 10,000-container fleet as on a small one.
//
// The whole view is one stop in the Tab order (a roving tabindex): arrow keys move between its
// packages, models and containers, Enter or Space selects, so the inspector is never 10,000
// tabs away. Compact squares still carry their container's name as (visually hidden) text, so
// the browser's find and screen readers see it.

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
    this.picks = [];
    this.stop = null; // the one item in the Tab order
    this.filter = null; // null, 'not-running' or 'errors'
    root.addEventListener('click', (e) => {
      const target = e.target.closest('[data-pick]');
      if (target) {
        this.setStop(target);
        onSelect(target.dataset.pick, target.dataset.name);
      }
    });
    root.addEventListener('keydown', (e) => this.key(e, onSelect));
  }

  /// Arrow keys, Home and End move the focus between the drawn items that the filter shows;
  /// Enter or Space selects (a container is a real button and clicks itself).
  key(e, onSelect) {
    const at = e.target.closest('[data-pick]');
    if (!at) return;
    const shown = (el) => !el.closest('.filtered');
    let to = null;
    const i = this.picks.indexOf(at);
    const step = (d) => {
      for (let j = i + d; j >= 0 && j < this.picks.length; j += d) if (shown(this.picks[j])) return this.picks[j];
      return null;
    };
    if (e.key === 'ArrowRight' || e.key === 'ArrowDown') to = step(1);
    else if (e.key === 'ArrowLeft' || e.key === 'ArrowUp') to = step(-1);
    else if (e.key === 'Home') to = this.picks.find(shown);
    else if (e.key === 'End') to = this.picks.findLast(shown);
    else if ((e.key === 'Enter' || e.key === ' ') && at.tagName !== 'BUTTON') {
      e.preventDefault();
      onSelect(at.dataset.pick, at.dataset.name);
      return;
    } else return;
    e.preventDefault();
    if (to) this.focus(to);
  }

  setStop(el) {
    if (this.stop === el) return;
    if (this.stop) this.stop.tabIndex = -1;
    this.stop = el;
    if (el) el.tabIndex = 0;
  }

  focus(el) {
    this.setStop(el);
    el.focus({ preventScroll: true });
    el.scrollIntoView({ block: 'nearest' });
  }

  /// The element that selects `kind` `name` (a package's or model's head, a container), or null.
  pickOf(kind, name) {
    const el = this.els[kind]?.get(name)?.[0];
    if (!el) return null;
    return el.matches('[data-pick]') ? el : el.querySelector(':scope > [data-pick]');
  }

  /// Scrolls to `kind` `name`, gives it the focus, and says whether it is drawn.
  reveal(kind, name) {
    const el = this.pickOf(kind, name);
    if (!el) return false;
    this.focus(el);
    el.scrollIntoView({ block: 'center' });
    // Cards that came into view take their real size in the next frame: look again.
    requestAnimationFrame(() => el.scrollIntoView({ block: 'nearest' }));
    return true;
  }

  /// Shows only what is not running (`'not-running'`), only what is in Error or Dead
  /// (`'errors'`), or everything (`null`). Which states those are is a choice of what to draw:
  /// the states themselves come from state-core. A package or model stays when anything in it
  /// matches, so the path to a match is always shown.
  setFilter(mode) {
    this.filter = mode;
    this.root.classList.toggle('filtering', !!mode);
    for (const e of this.root.querySelectorAll('.filtered')) e.classList.remove('filtered');
    if (!mode) return;
    const match = mode === 'errors' ? (s) => s === 'error' || s === 'dead' : (s) => s !== 'running';
    for (const card of this.root.querySelectorAll('.pkg')) {
      let any = card.dataset.kind === 'package' && match(card.dataset.state);
      for (const m of card.querySelectorAll('.model')) {
        const keep = (m.dataset.kind === 'model' && match(m.dataset.state))
          || [...m.querySelectorAll('.ctr')].some((c) => match(c.dataset.state));
        if (!keep) m.classList.add('filtered');
        any ||= keep;
      }
      // The card of containers that belong to no model holds them directly.
      any ||= [...card.querySelectorAll(':scope > .ctrs > .ctr')].some((c) => match(c.dataset.state));
      if (!any) card.classList.add('filtered');
    }
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
      const label = compact ? `<span class="cn">${esc(c.name)}</span>` : `${esc(short(c))} <span class="node">@${esc(c.node)}</span>`;
      return `<button class="ctr" tabindex="-1" data-kind="container" data-pick="container" data-name="${esc(c.name)}" data-state="${c.state}" title="${esc(c.name)} on ${esc(c.node)}: ${c.state}">${label}</button>`;
    };
    const model = (name, list = byModel.get(name) ?? []) => {
      const m = models.get(name);
      const state = m ? m.state : 'created';
      const ctrs = list.map(chip).join('');
      return `<div class="model" data-kind="model" data-name="${esc(name)}" data-state="${state}">`
        + `<div class="mhead" role="button" tabindex="-1" data-pick="model" data-name="${esc(name)}"><span class="dot" data-state="${state}"></span><span class="mname">${esc(name)}</span></div>`
        + `<div class="ctrs">${ctrs || '<span class="hint">no containers</span>'}</div></div>`;
    };
    const card = (kind, name, state, head, body, node) =>
      `<div class="pkg" ${kind ? `data-kind="${kind}" data-name="${esc(name)}"` : ''} ${node ? `data-node-card="${esc(node)}"` : ''} data-state="${state ?? ''}">`
      + `<div class="head" ${kind ? `role="button" tabindex="-1" data-pick="${kind}" data-name="${esc(name)}"` : ''}>${head}</div>${body}</div>`;

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
        html.push(card(null, '', null, `<span class="name">node ${esc(node)}</span><span class="scn">${count} containers</span>`, rows.join('') || '<span class="hint">no containers</span>', node));
      }
    }
    for (const p of by === 'node' ? [] : view.packages) {
      const scn = p.scenario ? doc.scenarios[p.scenario] : null;
      // A scenario with no stored state yet (imported, never applied) says so rather than
      // "(absent)" beside a running package.
      const scnText = !p.scenario ? 'no scenario'
        : scn?.state ? `⟵ ${esc(p.scenario)} (${esc(scn.state)})`
          : `<span title="the scenario has no stored state until ApiServer applies it (Re-apply in the scenario panel)">⟵ ${esc(p.scenario)} (not applied yet)</span>`;
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
    this.picks = [...this.root.querySelectorAll('[data-pick]')];
    this.stop = null;
    this.setStop(this.picks[0] ?? null);
    if (this.filter) this.setFilter(this.filter);
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
    if (ok && this.filter) this.setFilter(this.filter);
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
    const pick = kind && this.pickOf(kind, name);
    if (pick) this.setStop(pick);
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
