// Finding things: a search box over containers, models, packages and nodes (`/` focuses it;
// arrow keys and Enter choose a match, which is selected and scrolled to, even among the large
// fleet's 10,000 squares), and the "only not running" / "only errors" filters of the topology.
// States shown next to matches are read from the wasm Fleet when the list is drawn.

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
// Matches listed at once; the count says how many there are in all.
const SHOWN = 30;
const KIND_ORDER = { package: 0, model: 1, node: 2, container: 3 };

export class Search {
  /// `source()`: `{view, doc}` now; `stateOf(kind, name)`: a state from the Fleet (or
  /// undefined); `pick(kind, name)`: go to a match; `filter(mode)`: apply a topology filter.
  constructor({ source, stateOf, pick, filter }) {
    this.source = source;
    this.stateOf = stateOf;
    this.pick = pick;
    this.index = null;
    this.matches = [];
    this.active = -1;
    const input = $('search');
    this.input = input;
    this.list = $('search-results');
    input.addEventListener('input', () => this.query(input.value));
    input.addEventListener('keydown', (e) => this.key(e));
    input.addEventListener('blur', () => setTimeout(() => this.close(), 150));
    this.list.addEventListener('mousedown', (e) => e.preventDefault()); // keep the input focused
    this.list.addEventListener('click', (e) => {
      const li = e.target.closest('[data-i]');
      if (li) this.choose(Number(li.dataset.i));
    });
    document.addEventListener('keydown', (e) => {
      const typing = e.target.closest?.('input, textarea, select, [contenteditable]');
      if (e.key === '/' && !typing && !e.ctrlKey && !e.metaKey && !e.altKey && !document.querySelector('dialog[open]')) {
        e.preventDefault();
        input.focus();
        input.select();
      }
    });
    const notRunning = $('filter-not-running');
    const errors = $('filter-errors');
    const apply = (changed) => {
      // "Only errors" is the narrower of the two: checking one unchecks the other.
      if (changed.checked) (changed === errors ? notRunning : errors).checked = false;
      filter(errors.checked ? 'errors' : notRunning.checked ? 'not-running' : null);
    };
    notRunning.onchange = () => apply(notRunning);
    errors.onchange = () => apply(errors);
  }

  /// The topology's membership changed (a full render): the index is rebuilt on the next query.
  invalidate() {
    this.index = null;
  }

  build() {
    const { view, doc } = this.source();
    const out = [];
    for (const p of view.packages) out.push({ kind: 'package', name: p.name, key: p.name.toLowerCase() });
    for (const m of view.models) out.push({ kind: 'model', name: m.name, key: m.name.toLowerCase() });
    for (const n of Object.keys(doc.nodes)) out.push({ kind: 'node', name: n, key: n.toLowerCase() });
    for (const c of view.containers) out.push({ kind: 'container', name: c.name, key: c.name.toLowerCase(), node: c.node });
    return out;
  }

  query(text) {
    const q = text.trim().toLowerCase();
    if (!q) {
      this.close();
      $('search-count').textContent = '';
      return;
    }
    this.index ??= this.build();
    const rank = (e) => (e.key === q ? 0 : e.key.startsWith(q) ? 1 : 2);
    const all = this.index.filter((e) => e.key.includes(q));
    all.sort((a, b) => rank(a) - rank(b) || KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || a.key.localeCompare(b.key));
    this.matches = all.slice(0, SHOWN);
    this.active = this.matches.length ? 0 : -1;
    $('search-count').textContent = all.length ? `${all.length} match${all.length === 1 ? '' : 'es'}${all.length > SHOWN ? `, first ${SHOWN} listed` : ''}` : 'no match';
    this.draw();
  }

  draw() {
    const items = this.matches.map((m, i) => {
      const state = this.stateOf(m.kind, m.name);
      const badge = state ? `<span class="badge" data-state="${esc(state)}">${esc(state)}</span>` : '';
      return `<li role="option" id="search-opt-${i}" data-i="${i}" aria-selected="${i === this.active}"><span class="kind">${m.kind}</span> ${esc(m.name)} ${badge}${m.node ? ` <small>@${esc(m.node)}</small>` : ''}</li>`;
    });
    this.list.innerHTML = items.join('');
    this.list.hidden = !items.length;
    this.input.setAttribute('aria-expanded', String(!!items.length));
    if (this.active >= 0) {
      this.input.setAttribute('aria-activedescendant', `search-opt-${this.active}`);
      this.list.children[this.active]?.scrollIntoView({ block: 'nearest' });
    } else this.input.removeAttribute('aria-activedescendant');
  }

  key(e) {
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      if (!this.matches.length) return;
      e.preventDefault();
      const n = this.matches.length;
      this.active = (this.active + (e.key === 'ArrowDown' ? 1 : -1) + n) % n;
      this.draw();
    } else if (e.key === 'Enter') {
      e.preventDefault();
      if (this.active >= 0) this.choose(this.active);
    } else if (e.key === 'Escape') {
      this.close();
    }
  }

  choose(i) {
    const m = this.matches[i];
    if (!m) return;
    this.close();
    this.pick(m.kind, m.name);
  }

  close() {
    this.list.hidden = true;
    this.input.setAttribute('aria-expanded', 'false');
    this.input.removeAttribute('aria-activedescendant');
  }
}
