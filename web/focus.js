// Keeping the keyboard focus through redraws: before a panel is redrawn the focused control is
// described by its id or the data attributes that say what it does; afterwards the same
// control (or the nearest equivalent) gets the focus back, instead of the page body.

const $ = (id) => document.getElementById(id);

// Attributes that name what an interactive element does; together with its panel they find the
// same control again after a redraw.
const FOCUS_KEYS = ['data-preset', 'data-go', 'data-name', 'data-from', 'data-to', 'data-state', 'data-step', 'data-pick', 'data-restore', 'data-remove-node', 'data-remove-from', 'data-line'];

/// A selector for the focused element, or null when nothing in the page has the focus.
export function focusKey() {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  if (el.id) return { sel: `#${CSS.escape(el.id)}`, panel: null };
  const parts = FOCUS_KEYS.filter((a) => el.hasAttribute(a)).map((a) => `[${a}="${CSS.escape(el.getAttribute(a))}"]`);
  const panel = el.closest('.panel, header, #notice')?.id || null;
  return parts.length ? { sel: parts.join(''), panel } : { sel: null, panel };
}

/// Puts the focus back where it was before a redraw, or as near as the page allows: after a
/// scenario step, on the state the scenario is now in; otherwise on the panel.
export function restoreFocus(key) {
  if (!key || (document.activeElement && document.activeElement !== document.body)) return;
  const root = key.panel ? $(key.panel) : document;
  const candidates = [
    key.sel && root?.querySelector(key.sel),
    key.panel === 'scenario-panel' && $('scenario-graph').querySelector('.state.current'),
    key.panel && $(key.panel),
  ];
  for (const el of candidates) {
    if (!el) continue;
    if (el.classList.contains('panel') && !el.hasAttribute('tabindex')) el.setAttribute('tabindex', '-1');
    el.focus({ preventScroll: true });
    if (document.activeElement === el) return;
  }
}
