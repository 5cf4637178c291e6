// The import dialog: artifact YAML (read by state-artifact, the daemon's parser, through wasm)
// or explorer JSON, added to the current topology or replacing it. The dialog stays open
// when the text cannot be imported: each problem is listed with its line, that line is marked
// in the gutter beside the text, and choosing a problem selects its line.

const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/// Wires the dialog. `importText(text, node, mode)` imports (`mode`: 'add' or 'replace') and
/// returns null or the `Error` (with `problems: [{line, message}]` when it knows lines).
export function importDialog(importText) {
  const dialog = $('import-dialog');
  const text = $('import-text');
  const gutter = $('import-gutter');
  const list = $('import-problems');
  let marked = new Set();

  const drawGutter = () => {
    const n = text.value.split('\n').length;
    gutter.textContent = Array.from({ length: n }, (_, i) => (marked.has(i + 1) ? `⚠ ${i + 1}` : String(i + 1))).join('\n');
    gutter.scrollTop = text.scrollTop;
  };
  const selectLine = (line) => {
    const lines = text.value.split('\n');
    const start = lines.slice(0, line - 1).reduce((n, l) => n + l.length + 1, 0);
    text.focus();
    text.setSelectionRange(start, start + (lines[line - 1]?.length ?? 0));
    const lineHeight = text.scrollHeight / Math.max(lines.length, 1);
    text.scrollTop = Math.max(0, (line - 3) * lineHeight);
    drawGutter();
  };
  const showProblems = (problems) => {
    marked = new Set(problems.map((p) => p.line).filter(Boolean));
    const lines = text.value.split('\n');
    list.innerHTML = problems.map((p) => (p.line
      ? `<li><button type="button" data-line="${p.line}">line ${p.line}</button> <code>${esc(lines[p.line - 1] ?? '')}</code> ${esc(p.message)}</li>`
      : `<li>${esc(p.message)}</li>`)).join('');
    for (const b of list.querySelectorAll('[data-line]')) b.onclick = () => selectLine(Number(b.dataset.line));
    drawGutter();
  };

  text.addEventListener('input', () => {
    if (marked.size || list.childElementCount) showProblems([]);
    else drawGutter();
  });
  text.addEventListener('scroll', () => { gutter.scrollTop = text.scrollTop; });

  $('btn-import').onclick = () => {
    showProblems([]);
    dialog.showModal();
  };
  $('import-file').onchange = async (e) => {
    const f = e.target.files[0];
    if (f) text.value = await f.text();
    showProblems([]);
  };
  $('import-helloworld').onclick = async () => {
    const r = await fetch('examples/helloworld.yaml');
    text.value = r.ok ? await r.text() : `# could not fetch examples/helloworld.yaml (${r.status})`;
    showProblems([]);
  };
  $('import-form').onsubmit = (e) => {
    const mode = e.submitter?.value;
    if (mode !== 'add' && mode !== 'replace') return; // Cancel closes the dialog
    e.preventDefault();
    const err = importText(text.value, $('import-node').value.trim(), mode);
    if (!err) {
      dialog.close();
      return;
    }
    const problems = err.problems?.length ? err.problems : [{ line: err.line ?? null, message: err.message }];
    showProblems(problems);
    const first = problems.find((p) => p.line);
    if (first) selectLine(first.line);
  };
  drawGutter();
}

/// Where a `JSON.parse` error points, as a line number (from 1), if its message says.
export function jsonErrorLine(text, error) {
  const m = /line (\d+)/.exec(error.message);
  if (m) return Number(m[1]);
  const p = /position (\d+)/.exec(error.message);
  return p ? text.slice(0, Number(p[1])).split('\n').length : null;
}
