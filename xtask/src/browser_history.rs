//! Safe history (issue 13, point 5): acting in the past and Reset set the timeline aside as a
//! branch that can be restored; refused steps are in the log as refusals; the inspector follows
//! the document when travelling back (no ghost); removals are named as removals; a shared URL
//! keeps every entry's "what changed".

use anyhow::{Context, Result, ensure};
use serde_json::json;

use crate::{
    browser::{WebDriver, ready, set_container},
    browser_daily::fresh,
    util::info,
};

const ENTRIES: &str = "return __explorer.entries;";

pub(crate) fn check(wd: &WebDriver, url: &str) -> Result<()> {
    fresh(wd, url)?;
    set_container(wd, "navi_app", "dead")?;
    set_container(wd, "navi_db", "dead")?;
    set_container(wd, "media_player", "paused")?;
    // Back two steps, then act: the two later steps are set aside, not dropped.
    wd.js("__explorer.travel(__explorer.cursor - 2); return true;")?;
    set_container(wd, "lane_detector", "exited")?;
    let forked = wd.js(
        "return [__explorer.steps, __explorer.branches, document.querySelectorAll('#branches [data-restore]').length];",
    )?;
    ensure!(
        forked[0] == 3 && forked[1][0]["steps"] == 4 && forked[2] == 1,
        "acting in the past: {forked}"
    );
    wd.js("document.querySelector('#branches [data-restore=\"0\"]').click(); return true;")?;
    wd.expect("container", "media_player", "paused")?;
    wd.expect("container", "lane_detector", "running")?;
    let restored =
        wd.js("return [__explorer.steps, __explorer.cursor, __explorer.branches.length];")?;
    ensure!(
        restored == json!([4, 4, 1]),
        "restored timeline (and the other kept): {restored}"
    );

    // Reset keeps the session as a branch too.
    wd.js("document.getElementById('btn-reset').click(); return true;")?;
    wd.expect("container", "navi_app", "running")?;
    wd.js("document.querySelector('#branches [data-restore=\"0\"]').click(); return true;")?;
    wd.expect("container", "navi_app", "dead")?;
    wd.expect("container", "media_player", "paused")?;
    info("history: acting in the past and Reset set the timeline aside; Restore brings it back");

    // A refused scenario step is logged as a refusal.
    wd.js("const sel = document.getElementById('scenario-select');
         sel.value = 'infotainment-scn'; sel.dispatchEvent(new Event('change'));
         document.querySelector('#scenario-graph [data-state=completed]')
           .dispatchEvent(new MouseEvent('click', {bubbles: true}));
         return true;")?;
    let refused = wd.js(
        "return [...document.querySelectorAll('#log li.refused')].map(li => li.textContent);",
    )?;
    ensure!(
        refused.as_array().is_some_and(|r| r.iter().any(|t| t
            .as_str()
            .unwrap_or("")
            .contains("ERROR_CODE_INVALID_STATE_TRANSITION"))),
        "refused step not in the log: {refused}"
    );

    // Removals are named as removals.
    wd.js(
        "__explorer.dispatch({type: 'remove-scenario', name: 'adas-scn'});
         document.querySelector('[data-pick=model][data-name=lane]').click();
         document.querySelector('#inspector [data-remove-from=adas]').click();
         return true;",
    )?;
    let entries = wd.js(ENTRIES)?;
    let last = |back: usize| {
        let a = entries.as_array().map(Vec::as_slice).unwrap_or_default();
        a.get(a.len().wrapping_sub(back))
            .map(|e| e["summary"].as_str().unwrap_or("").to_owned())
            .unwrap_or_default()
    };
    ensure!(
        last(2).contains("scenarios removed: adas-scn") && !last(2).contains("null"),
        "scenario removal: {:?}",
        last(2)
    );
    ensure!(
        last(1).contains("removed") && last(1).contains("lane") && !last(1).contains("→created"),
        "model removal: {:?}",
        last(1)
    );

    // No ghost: import a package, select its model, travel back before the import.
    wd.js("__explorer.importText(`kind: Package
metadata:
  name: ghost
spec:
  models:
    - name: ghost
      node: HPC
---
kind: Model
metadata:
  name: ghost
spec:
  containers:
    - name: main
`);
         document.querySelector('[data-pick=model][data-name=ghost]').click();
         __explorer.travel(__explorer.cursor - 1);
         return true;")?;
    let ghost = wd.js(
        "return [document.querySelector('#inspector [data-absent]')?.textContent ?? '',
                 !!document.getElementById('add-container-form'),
                 document.querySelectorAll('.selected').length];",
    )?;
    ensure!(
        ghost[0]
            .as_str()
            .unwrap_or("")
            .contains("not in the topology at this step")
            && ghost[1] == false
            && ghost[2] == 0,
        "after travelling back before the import: {ghost}"
    );
    wd.js("__explorer.travel(__explorer.cursor + 1); return true;")?;
    let back = wd.js("return !!document.getElementById('add-container-form');")?;
    ensure!(back == true, "forward again, the model is inspected again");
    info("history: refusals logged; removals named; no ghost after travelling back");

    // A shared URL keeps every entry's "what changed" (and the refusals).
    let before = wd.js(ENTRIES)?;
    let shared = wd.js("return await __explorer.shareUrl();")?;
    let shared = shared.as_str().context("no URL")?.to_owned();
    wd.goto("about:blank")?;
    wd.goto(&shared)?;
    ready(wd)?;
    let after = wd.js(ENTRIES)?;
    ensure!(
        before == after,
        "entries differ after the shared URL:\nbefore {before}\nafter  {after}"
    );
    info("history: a shared URL keeps each entry's summary and refusals");
    Ok(())
}
