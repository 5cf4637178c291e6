// The bar above the topology: what the last change cascaded to and the Reconcile request a
// package entering Error triggers. It grows to fit what it says, and every name in it is a
// button that selects that item (its rule opens in the inspector). Also the page's own
// warnings (an address that could not be read) and the first-visit explanation.

import { summary } from './engine.js';

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
// Names listed per kind; the rest are counted. Six read at a glance, as in the event log.
const NAMED = 6;
// Remembers that the first-visit explanation was dismissed.
const INTRO_KEY = 'statemanager-explorer.intro-dismissed';

const go = (kind, name, label) => `<button type="button" class="go" data-go="${kind}" data-name="${esc(name)}">${esc(label)}</button>`;

function named(kind, entries, text) {
  const shown = entries.slice(0, NAMED).map(([n, u]) => go(kind, n, text(n, u)));
  if (entries.length > NAMED) shown.push(`… and ${entries.length - NAMED} more`);
  return shown.join(', ');
}

/// Draws the notice for `plan` (engine.js); `quiet`: a whole new document, nothing cascaded.
export function renderNotice(plan, quiet) {
  const n = $('notice');
  if (quiet || (!plan.reconciles.length && !plan.models.size && !plan.packages.size && !plan.skipped.length && !plan.containers.size && !plan.scenarios.size)) {
    n.className = 'notice idle';
    n.textContent = 'What a change cascades to, and any Reconcile request it triggers, shows here; each name opens its rule.';
    return;
  }
  n.className = plan.reconciles.length ? 'notice' : 'notice ok';
  const lines = [];
  for (const r of plan.reconciles) {
    const req = r.request;
    lines.push(`<div data-reconcile="${esc(r.package)}">⚠ Package ${go('package', r.package, r.package)} entered <b>Error</b> → StateManager sends to the ActionController: `
      + `<code>Reconcile(ReconcileRequest { scenario_name: "${esc(req.scenario_name)}", current: ${req.current}, desired: ${req.desired} })</code>`
      + (r.scenario ? '' : ' <span class="hint">(no scenario targets this package)</span>') + '</div>');
  }
  const arrow = (n, u) => `${n} ${u.old ?? '(new)'}→${u.new}`;
  const kept = (m) => [...m].filter(([, u]) => u.new != null);
  const parts = [];
  if (plan.containers.size) parts.push(`containers: ${named('container', [...plan.containers], (c, s) => `${c} → ${s}`)}`);
  if (kept(plan.models).length) parts.push(`models: ${named('model', kept(plan.models), arrow)}`);
  if (kept(plan.packages).length) parts.push(`packages: ${named('package', kept(plan.packages), arrow)}`);
  if (kept(plan.scenarios).length) parts.push(`scenarios: ${named('scenario', kept(plan.scenarios), arrow)}`);
  if (parts.length) lines.push(`<div data-cascade>Cascade: ${parts.join(' · ')}</div>`);
  // Removals and skipped events: the summary names them (as removals).
  const rest = summary({ ...plan, models: new Map(), packages: new Map(), scenarios: new Map([...plan.scenarios].filter(([, u]) => u.new == null)), reconciles: [] });
  if (rest) lines.push(`<div>${esc(rest)}</div>`);
  if (!plan.models.size && !plan.packages.size && plan.containers.size) lines.push('<div class="hint">No model or package changed state.</div>');
  n.innerHTML = lines.join('');
}

/// A warning from the page itself (not from a change), shown in the notice.
/// Outlines each resource on which the daemon and the page disagree (`live.js`
/// `disagreementsOf`) and names them in the bar: a bug worth seeing, or a state the daemon was
/// told directly, which the page cannot know from containers.
export function showDisagreements(list) {
  for (const el of document.querySelectorAll('[data-disagree]')) delete el.dataset.disagree;
  for (const d of list) {
    const el = document.querySelector(`[data-kind="${d.kind}"][data-name="${CSS.escape(d.name)}"]`);
    if (el) el.dataset.disagree = 'true';
  }
  if (!list.length) return;
  const n = $('notice');
  n.className = 'notice';
  const named = list.slice(0, 4).map((d) => `${d.kind} ${d.name}: daemon ${d.daemon}, state-core here ${d.here}`).join('; ');
  n.insertAdjacentHTML('beforeend', `<div data-disagreements="${list.length}">≠ The daemon and this page disagree on ${list.length}: ${esc(named)}</div>`);
}

export function warn(html) {
  const n = $('notice');
  n.className = 'notice bad';
  n.innerHTML = html;
}

/// Shows the first-visit explanation unless it was dismissed before.
export function intro() {
  const box = $('intro');
  let dismissed = false;
  try {
    dismissed = localStorage.getItem(INTRO_KEY) === '1';
  } catch {
    // Storage may be unavailable (private mode): show it each time.
  }
  box.hidden = dismissed;
  $('btn-intro-close').onclick = () => {
    box.hidden = true;
    try {
      localStorage.setItem(INTRO_KEY, '1');
    } catch {
      // Nothing to remember it in.
    }
    $('search').focus();
  };
}
