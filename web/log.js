// The event log: every step with its time, note and what it changed; refused actions listed
// where they were tried (they changed nothing); timelines set aside (by acting in the past, a
// Reset or an attach) listed above it, each restorable. Each step is a button: the current one
// is the log's stop in the Tab order, arrow keys move between steps, Enter goes to one.

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
// The log is redrawn on every action; this many entries keep that cheap in a long session, and
// the slider still reaches the earlier ones.
const LOG_SHOWN = 200;

export function time(ms) {
  const d = new Date(ms);
  const two = (n) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

const refusedItems = (list) => list.map((r) => `<li class="refused" data-refused><time>${time(r.at)}</time>${esc(r.note)}</li>`).join('');

/// Draws the log of `hist` (store.js `History`). `restorable`: whether set-aside timelines can
/// be brought back now (not while attached to a daemon).
export function renderLog(hist, { restorable = true } = {}) {
  const first = Math.max(0, hist.entries.length - LOG_SHOWN);
  const step = (i, cls, body) => `<li class="${cls}"><button type="button" data-step="${i}" tabindex="${i === hist.cursor ? 0 : -1}" ${i === hist.cursor ? 'aria-current="step"' : ''}>${body}</button></li>`;
  const items = [step(0, hist.cursor === 0 ? 'current' : '', '<time>—</time>start (empty)')];
  items.push(refusedItems(hist.startRefused));
  if (first > 0) items.push(`<li class="hint">… ${first} earlier events</li>`);
  for (let i = first; i < hist.entries.length; i++) {
    const e = hist.entries[i];
    const cls = i + 1 === hist.cursor ? 'current' : i + 1 > hist.cursor ? 'future' : '';
    items.push(step(i + 1, cls, `<time>${time(e.action.at)}</time>${esc(e.note)}${e.summary ? `<span class="sum">${esc(e.summary)}</span>` : ''}`));
    if (e.refused) items.push(refusedItems(e.refused));
  }
  const log = $('log');
  log.innerHTML = items.join('');
  // Scrolling reads layout; doing it in the next frame keeps the update itself layout-free.
  requestAnimationFrame(() => {
    const cur = log.querySelector('.current');
    if (cur && (cur.offsetTop < log.scrollTop || cur.offsetTop > log.scrollTop + log.clientHeight - 24)) {
      log.scrollTop = cur.offsetTop - log.clientHeight / 2;
    }
  });
  $('history-pos').textContent = `step ${hist.cursor} of ${hist.entries.length}`;
  const slider = $('history-slider');
  slider.max = hist.entries.length;
  slider.value = hist.cursor;
  $('branches').innerHTML = hist.branches.map((b, i) => `<div data-branch="${i}"><span>⑂ set aside at ${time(b.at)}: ${esc(b.why)} (${b.entries.length} steps)</span>
    <button type="button" data-restore="${i}" ${restorable ? '' : 'disabled'}>Restore</button></div>`).join('');
}

/// Wires the log's clicks and keys: `travel(step)` and `restore(branch)`.
export function wireLog({ travel, restore }) {
  const log = $('log');
  log.addEventListener('click', (e) => {
    const b = e.target.closest('[data-step]');
    if (b) travel(Number(b.dataset.step));
  });
  log.addEventListener('keydown', (e) => {
    const at = e.target.closest('[data-step]');
    if (!at) return;
    const steps = [...log.querySelectorAll('[data-step]')];
    const i = steps.indexOf(at);
    const to = { ArrowDown: i + 1, ArrowUp: i - 1, Home: 0, End: steps.length - 1 }[e.key];
    if (to === undefined || !steps[to]) return;
    e.preventDefault();
    at.tabIndex = -1;
    steps[to].tabIndex = 0;
    steps[to].focus();
  });
  $('branches').addEventListener('click', (e) => {
    const b = e.target.closest('[data-restore]');
    if (b) restore(Number(b.dataset.restore));
  });
}
