// The scenario lifecycle drawn from state-core's transition table: one box per state, one
// arrow per allowed transition, labelled with its owner. Only the transitions leaving the
// current state are clickable; clicking any other state attempts the step anyway, so state-core
// can explain why it is refused. Arrows leaving the current state and every state box are
// buttons for the keyboard too (Tab to them, Enter or Space to step), each named for a screen
// reader by what it does.

const SVG = 'http://www.w3.org/2000/svg';
// A state box: wide enough for the longest label ("satisfied", "completed") in the graph's 12px
// text, and one line of it high.
const W = 76;
const H = 26;

// Layout only; which arrows exist comes from the table.
const POS = {
  '': [50, 28],
  idle: [50, 140],
  waiting: [190, 140],
  satisfied: [370, 140],
  allowed: [487, 62],
  denied: [487, 222],
  completed: [300, 28],
};
// Arrows that would cross others bend through a control point.
const BEND = {
  'denied>idle': [250, 300],
  'completed>idle': [150, 50],
};

function el(name, attrs, parent) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

/// The point where the segment from the centre of box `c` towards `t` leaves the box.
function exit([cx, cy], [tx, ty]) {
  const dx = tx - cx;
  const dy = ty - cy;
  const sx = dx === 0 ? Infinity : (W / 2 + 3) / Math.abs(dx);
  const sy = dy === 0 ? Infinity : (H / 2 + 3) / Math.abs(dy);
  const s = Math.min(sx, sy);
  return [cx + dx * s, cy + dy * s];
}

/// Draws the graph. `current` is the scenario's state (`null`: absent; `undefined`: no
/// scenario selected). `onStep(to, owners)` is called for a click on an arrow or a state.
export function drawScenarioGraph(svg, transitions, current, onStep) {
  svg.replaceChildren();
  const defs = el('defs', {}, svg);
  for (const [id, color] of [['arrow', '#c9ced8'], ['arrow-on', '#2f5bea']]) {
    const m = el('marker', { id, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, defs);
    el('path', { d: 'M0,0 L10,5 L0,10 z', fill: color }, m);
  }
  const selected = current !== undefined;
  const cur = current ?? '';
  const reachable = new Set(transitions.filter((t) => selected && (t.from ?? '') === cur).map((t) => t.to));

  for (const t of transitions) {
    const from = t.from ?? '';
    const a = POS[from];
    const b = POS[t.to];
    const bend = BEND[`${from}>${t.to}`];
    const allowed = selected && from === cur;
    const g = el('g', { class: `edge ${allowed ? 'allowed' : 'disabled'}`, 'data-from': from, 'data-to': t.to }, svg);
    let d;
    let mid;
    if (bend) {
      const p = exit(a, bend);
      const q = exit(b, bend);
      d = `M${p[0]},${p[1]} Q${bend[0]},${bend[1]} ${q[0]},${q[1]}`;
      mid = [(p[0] + 2 * bend[0] + q[0]) / 4, (p[1] + 2 * bend[1] + q[1]) / 4];
    } else {
      const p = exit(a, b);
      const q = exit(b, a);
      d = `M${p[0]},${p[1]} L${q[0]},${q[1]}`;
      mid = [(p[0] + q[0]) / 2, (p[1] + q[1]) / 2];
    }
    el('path', { d, 'marker-end': `url(#${allowed ? 'arrow-on' : 'arrow'})` }, g);
    // A wide invisible stroke makes the arrow easy to hit.
    el('path', { d, stroke: 'transparent', 'stroke-width': 12, fill: 'none' }, g);
    const vertical = Math.abs(a[0] - b[0]) < 5;
    // One line per owner, stacked upwards from just above the arrow.
    t.owners.forEach((owner, i) => {
      const y = mid[1] - 6 - (t.owners.length - 1 - i) * 11;
      const label = el('text', { x: mid[0] + (vertical ? 7 : 0), y, 'text-anchor': vertical ? 'start' : 'middle' }, g);
      label.textContent = owner;
    });
    const title = el('title', {}, g);
    title.textContent = `${from || '(absent)'} → ${t.to}, owner: ${t.owners.join(' or ')}`;
    if (allowed) {
      button(g, `step ${from || '(absent)'} → ${t.to} (owner ${t.owners.join(' or ')})`, () => onStep(t.to, t.owners));
    } else g.setAttribute('aria-hidden', 'true');
  }

  for (const [state, [x, y]] of Object.entries(POS)) {
    const cls = ['state'];
    if (selected && state === cur) cls.push('current');
    if (reachable.has(state)) cls.push('reachable');
    const g = el('g', { class: cls.join(' '), 'data-state': state || 'absent' }, svg);
    el('rect', { x: x - W / 2, y: y - H / 2, width: W, height: H }, g);
    const text = el('text', { x, y }, g);
    text.textContent = state || '(absent)';
    if (state && selected) {
      const owners = transitions.find((t) => (t.from ?? '') === cur && t.to === state)?.owners ?? [];
      const what = state === cur ? 'current state; send it again' : reachable.has(state) ? 'allowed' : 'not allowed from here; state-core says why';
      button(g, `${state}: ${what}`, () => onStep(state, owners));
    } else {
      g.setAttribute('role', 'img');
      g.setAttribute('aria-label', `${state || '(absent)'}${selected && state === cur ? ' (current state)' : ''}`);
    }
  }
}

/// Makes an SVG group a button: focusable, named, and pressed with Enter or Space as well as
/// by a click.
function button(g, label, press) {
  g.setAttribute('role', 'button');
  g.setAttribute('tabindex', '0');
  g.setAttribute('aria-label', label);
  g.addEventListener('click', press);
  g.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      press();
    }
  });
}
