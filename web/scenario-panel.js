// The scenario panel: the lifecycle graph of the selected scenario (graph.js), its steps sent as
// actions (decided by state-core's transition table through wasm `decideScenario`, in
// store.js), Re-apply, and, attached to a daemon, steps sent to the daemon instead.

import { drawScenarioGraph } from './graph.js';
import { focusKey, restoreFocus } from './focus.js';

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export class ScenarioPanel {
  /// `ctx`: `{ui, hist, transitions, dispatch(action), doc(), attached()}`.
  constructor(ctx) {
    this.ctx = ctx;
    // Applying a Scenario artifact is what creates a scenario: the table's transition from
    // absent gives the state that request asks for and its owner (idle, ApiServer).
    this.create = ctx.transitions.find((t) => t.from == null);
  }

  render() {
    const { ui, transitions } = this.ctx;
    const shown = { scenarios: this.ctx.doc().scenarios };
    const names = Object.keys(shown.scenarios).sort();
    if (!names.includes(ui.scenario)) ui.scenario = names[0] ?? null;
    const sel = $('scenario-select');
    sel.innerHTML = names.map((n) => `<option ${n === ui.scenario ? 'selected' : ''}>${esc(n)}</option>`).join('') || '<option value="">(no scenarios)</option>';
    const s = ui.scenario ? shown.scenarios[ui.scenario] : null;
    const focus = $('scenario-graph').contains(document.activeElement) ? focusKey() : null;
    drawScenarioGraph($('scenario-graph'), transitions, s ? s.state : undefined, (to, owners) => this.step(to, owners));
    restoreFocus(focus);
    $('btn-reapply-scenario').disabled = !s;
    const explain = $('scenario-explain');
    if (!s) explain.textContent = 'No scenario. Import artifact YAML or add one below.';
    else if (explain.textContent.startsWith('No scenario')) explain.textContent = '';
  }

  /// A step clicked in the graph: current_state is the stored state (a compare-and-set).
  step(to, owners) {
    this.send({ to, source: $('scenario-source').value || owners[0] || '' });
  }

  /// What Pullpiri's ApiServer sends each time the scenario's artifact is applied again (also
  /// after a completed lifecycle): the creating request, with current_state "" (no precondition).
  /// Whether it is accepted from the stored state is state-core's decision.
  reapply() {
    this.send({ to: this.create.to, source: this.create.owners[0], current: '' });
  }

  /// Sends a scenario step as an action (so it is in the history, the log and the URL) and shows
  /// state-core's answer.
  send(step) {
    const { ui, hist, dispatch } = this.ctx;
    const name = ui.scenario;
    const strict = $('scenario-strict').checked;
    const box = $('scenario-explain');
    if (this.ctx.attached()) return this.sendToDaemon(name, step, box);
    const err = dispatch({ type: 'scenario', name, strict, ...step });
    if (err) {
      box.className = 'explain bad';
      box.innerHTML = `<b>${esc(err.code ?? 'refused')}</b>: ${esc(err.message)}`;
    } else {
      const note = hist.entries[hist.cursor - 1].note;
      box.className = note.includes('non-owner') ? 'explain warn' : 'explain';
      box.textContent = `SUCCESS: ${note}`;
    }
  }

  /// A scenario step sent to the attached daemon (only with "send changes" on, and only from the
  /// present): its answer is shown, and the change itself arrives through the stream.
  async sendToDaemon(name, step, box) {
    const { hist } = this.ctx;
    const attached = this.ctx.attached();
    const refuse = (text) => {
      box.className = 'explain bad';
      box.textContent = text;
    };
    if (!$('attach-send').checked) return refuse('read-only: turn on "send changes" to send this step to the daemon');
    if (hist.cursor !== hist.entries.length) return refuse('this is the past: go to the latest step to send changes');
    const current = step.current ?? (this.ctx.doc().scenarios[name]?.state ?? '');
    try {
      const a = await attached.send({ kind: 'scenario', name, from: current, to: step.to, source: step.source });
      box.className = a.error_code === 'ERROR_CODE_SUCCESS' ? 'explain' : 'explain bad';
      box.textContent = `${a.error_code}: ${a.error_details || a.message}`;
    } catch (e) {
      refuse(e.message);
    }
  }
}
