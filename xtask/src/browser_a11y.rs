//! Keyboard and assistive technology (issue 13, point 3): the skip link, the scenario graph
//! driven by keys, the focus kept after an action, the topology as one Tab stop, and an
//! automated audit with axe-core (installed from npm by xtask at a pinned version, read from
//! `target/` and handed to the page by this test: no CDN). Serious or critical violations
//! fail the test; all of them are written to `target/explorer-axe.json`.

use std::path::Path;

use anyhow::{Context, Result, ensure};
use serde_json::{Value, json};

use crate::{
    browser::{WebDriver, set_container},
    browser_daily::fresh,
    provision::AXE_CORE_VERSION,
    util::info,
};

/// Runs axe-core on the page as it is; returns its violations as `{id, impact, nodes, help}`.
fn audit(wd: &WebDriver, axe: &str) -> Result<Value> {
    wd.js_with(
        "if (!window.axe) {
           const s = document.createElement('script');
           s.textContent = arguments[0];
           document.head.append(s);
         }
         const r = await axe.run(document, {resultTypes: ['violations']});
         return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
           nodes: v.nodes.length, targets: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));",
        json!([axe]),
    )
}

pub(crate) fn check(wd: &WebDriver, url: &str, target: &Path, axe: &Path) -> Result<()> {
    fresh(wd, url)?;
    // The skip link is the first Tab stop and lands on the inspector.
    wd.keys(&["Tab"])?;
    let first = wd.js("return document.activeElement.textContent;")?;
    ensure!(
        first
            .as_str()
            .unwrap_or("")
            .contains("Skip to the inspector"),
        "first Tab stop: {first}"
    );
    wd.keys(&["Enter"])?;
    let landed = wd.js("return document.activeElement.id;")?;
    ensure!(
        landed == "inspector-panel",
        "the skip link went to {landed}"
    );

    // The topology is one Tab stop; arrow keys move inside it, Enter selects.
    let stops = wd.js("return document.querySelectorAll('#topology [tabindex=\"0\"]').length;")?;
    ensure!(stops == 1, "the topology has {stops} Tab stops");
    wd.js("document.querySelector('#topology [tabindex=\"0\"]').focus(); return true;")?;
    wd.keys(&["ArrowDown", "ArrowDown", "Enter"])?;
    let picked = wd.js("return [__explorer.selection, document.activeElement.dataset.name];")?;
    ensure!(
        picked[0]["name"] == picked[1] && !picked[0]["kind"].is_null(),
        "arrow keys and Enter in the topology: {picked}"
    );

    // A state button pressed from the keyboard keeps the focus.
    wd.js(
        "document.querySelector('[data-kind=container][data-name=navi_app]').click();
         document.querySelector('#inspector [data-preset=dead]').focus(); return true;",
    )?;
    wd.keys(&["Enter"])?;
    let kept = wd.js("return [__explorer.state('container', 'navi_app'), document.activeElement.dataset.preset];")?;
    ensure!(
        kept == json!(["dead", "dead"]),
        "focus after setting a state: {kept}"
    );

    // The scenario graph from the keyboard: the arrow leaving idle is a named button.
    let arrow = wd.js(
        "const sel = document.getElementById('scenario-select');
         sel.value = 'infotainment-scn'; sel.dispatchEvent(new Event('change'));
         const a = document.querySelector('#scenario-graph .edge.allowed');
         a.focus();
         return [document.activeElement === a, a.getAttribute('role'), a.getAttribute('aria-label')];",
    )?;
    ensure!(
        arrow[0] == true
            && arrow[1] == "button"
            && arrow[2].as_str().unwrap_or("").contains("idle → waiting"),
        "the graph's arrow: {arrow}"
    );
    wd.keys(&["Enter"])?;
    let stepped = wd.js(
        "return [document.querySelector('#scenario-graph .state.current')?.dataset.state,
                 document.getElementById('scenario-graph').contains(document.activeElement)];",
    )?;
    ensure!(
        stepped == json!(["waiting", true]),
        "a scenario step by keyboard (state, focus kept in the graph): {stepped}"
    );
    // The event log: the current step is its Tab stop; arrow keys move, Enter travels.
    wd.js("document.querySelector('#log [data-step][tabindex=\"0\"]').focus(); return true;")?;
    wd.keys(&["ArrowUp", "Enter"])?;
    let travelled = wd
        .js("return [__explorer.cursor, __explorer.steps, document.activeElement.dataset.step];")?;
    ensure!(
        travelled[0].as_u64().unwrap_or(0) + 1 == travelled[1].as_u64().unwrap_or(0)
            && travelled[2] == json!(travelled[0].to_string()),
        "log by keyboard: {travelled}"
    );
    info("keyboard: skip link, topology arrows, focus kept, graph arrows as buttons, the log");

    // The audit: the demo with a container inspected, and the import dialog open.
    let source =
        std::fs::read_to_string(axe).with_context(|| format!("reading {}", axe.display()))?;
    set_container(wd, "camera_stream", "dead")?;
    let page = audit(wd, &source)?;
    wd.js("document.getElementById('btn-import').click();
         const t = document.getElementById('import-text');
         t.value = 'kind: Model\\nmetadata:\\n  name: bad name\\n';
         document.getElementById('import-go').click(); return true;")?;
    let dialog = audit(wd, &source)?;
    wd.js("document.getElementById('import-dialog').close(); return true;")?;
    let mut by_impact = serde_json::Map::new();
    for v in page
        .as_array()
        .into_iter()
        .chain(dialog.as_array())
        .flatten()
    {
        let impact = v["impact"].as_str().unwrap_or("unknown").to_owned();
        let n = by_impact.get(&impact).and_then(Value::as_u64).unwrap_or(0);
        by_impact.insert(impact, json!(n + v["nodes"].as_u64().unwrap_or(0)));
    }
    let report = json!({
        "axe_core": AXE_CORE_VERSION,
        "violating_nodes_by_impact": by_impact,
        "page": page,
        "import_dialog_with_a_problem": dialog,
    });
    std::fs::write(
        target.join("explorer-axe.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    let serious: Vec<&Value> = page
        .as_array()
        .into_iter()
        .chain(dialog.as_array())
        .flatten()
        .filter(|v| v["impact"] == "serious" || v["impact"] == "critical")
        .collect();
    ensure!(
        serious.is_empty(),
        "axe-core {AXE_CORE_VERSION}: serious or critical violations: {serious:#?}"
    );
    info(&format!(
        "axe-core {AXE_CORE_VERSION}: no serious or critical violations (all, by impact: {})",
        Value::Object(by_impact)
    ));
    Ok(())
}
