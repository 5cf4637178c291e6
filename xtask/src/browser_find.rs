//! Finding things (issue 13, point 1): the search box (`/` focuses it; arrow keys and Enter
//! choose), the "only not running" and "only errors" filters, node chips folding when there
//! are many, and a match jumped to among the large fleet's 10,000 squares, whose names the
//! browser's own find sees.

use anyhow::{Result, ensure};
use serde_json::json;

use crate::{
    browser::{WebDriver, set_container},
    browser_daily::fresh,
    util::info,
};

/// Types `text` into the search box (as input events) and returns the matches listed.
fn search(wd: &WebDriver, text: &str) -> Result<serde_json::Value> {
    wd.js(&format!(
        "const s = document.getElementById('search');
         s.focus(); s.value = {text:?}; s.dispatchEvent(new Event('input'));
         return [...document.querySelectorAll('#search-results [role=option]')]
           .map(li => li.textContent.trim().split(/\\s+/).slice(0, 2).join(' '));"
    ))
}

pub(crate) fn check(wd: &WebDriver, url: &str) -> Result<()> {
    fresh(wd, url)?;
    // `/` from anywhere outside a field focuses the search box.
    wd.js("document.activeElement.blur(); return true;")?;
    wd.keys(&["/"])?;
    let focused = wd.js("return document.activeElement.id;")?;
    ensure!(
        focused == "search",
        "`/` focused {focused}, not the search box"
    );

    let found = search(wd, "navi")?;
    ensure!(
        found == json!(["model navi", "container navi_app", "container navi_db"]),
        "search for navi: {found}"
    );
    // Down to the second match, Enter: the container is selected and has the focus.
    wd.keys(&["ArrowDown", "Enter"])?;
    let picked = wd.js(
        "return [__explorer.selection, document.activeElement.dataset.name,
                 document.querySelector('#inspector h3').textContent];",
    )?;
    ensure!(
        picked[0] == json!({"kind": "container", "name": "navi_app"})
            && picked[1] == "navi_app"
            && picked[2].as_str().unwrap_or("").contains("navi_app"),
        "search pick: {picked}"
    );
    let node = search(wd, "ZONE")?;
    ensure!(node == json!(["node ZONE1"]), "search for a node: {node}");
    wd.keys(&["Enter"])?;
    let by_node = wd.js("return [document.querySelector('[data-group-by=node]').classList.contains('on'), document.activeElement.closest('[data-node-card]')?.dataset.nodeCard];")?;
    ensure!(
        by_node == json!([true, "ZONE1"]),
        "a node match shows the topology by node, at that node: {by_node}"
    );
    wd.js("document.querySelector('[data-group-by=package]').click(); return true;")?;

    // Filters: one dead container; "only errors" keeps its package and model, hides the rest.
    set_container(wd, "navi_app", "dead")?;
    let visible = "return ['package', 'model'].map(k => [...document.querySelectorAll(`#topology [data-kind=${k}]`)]
                      .filter(e => e.offsetParent !== null).map(e => e.dataset.name).sort());";
    wd.js("const f = document.getElementById('filter-errors'); f.click(); return true;")?;
    let errors = wd.js(visible)?;
    ensure!(
        errors == json!([["infotainment"], ["navi"]]),
        "only errors: {errors}"
    );
    set_container(wd, "camera_stream", "paused")?;
    wd.js("document.getElementById('filter-not-running').click(); return true;")?;
    let not_running = wd.js(visible)?;
    ensure!(
        not_running == json!([["adas", "infotainment"], ["camera", "navi"]]),
        "only not running: {not_running}"
    );
    wd.js("document.getElementById('filter-not-running').click(); return true;")?;
    let all = wd.js(visible)?;
    ensure!(
        all[1].as_array().map(Vec::len) == Some(4),
        "no filter: {all}"
    );
    info("search: `/`, arrow keys and Enter; node matches; only errors / only not running");

    // The large fleet: chips fold, a search jumps to one square of 10,000, find sees names.
    wd.js("document.getElementById('btn-generate').click(); return true;")?;
    wd.wait("document.querySelectorAll('[data-kind=container]').length === 10000")?;
    let chips = wd.js(
        "return [[...document.querySelectorAll('.node-chip')].filter(c => c.offsetParent !== null).length,
                 document.getElementById('nodes-more')?.textContent];",
    )?;
    ensure!(
        chips == json!([8, "+12 more"]),
        "20 node chips fold to 8: {chips}"
    );
    let target = "pkg-042-m3_c7";
    let found = search(wd, target)?;
    ensure!(
        found == json!([format!("container {target}")]),
        "search in the large fleet: {found}"
    );
    wd.keys(&["Enter"])?;
    let jumped = wd.js(&format!(
        "await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
         const el = document.querySelector('[data-kind=container][data-name=\"{target}\"]');
         const box = document.getElementById('topology').getBoundingClientRect();
         const r = el.getBoundingClientRect();
         return [document.activeElement === el, el.classList.contains('selected'),
                 r.top >= box.top && r.bottom <= box.bottom, el.textContent];"
    ))?;
    ensure!(
        jumped == json!([true, true, true, target]),
        "jump to {target} (focused, selected, in view, named): {jumped}"
    );
    // The browser's find-in-page sees a square's name (window.find uses the same search).
    let find = wd.js("getSelection().removeAllRanges(); return window.find('pkg-077-m1_c2');")?;
    ensure!(
        find == true,
        "the browser's find does not see the squares' names"
    );
    info(
        "large fleet: 20 node chips fold to 8; search jumps to one square of 10,000; find sees names",
    );
    Ok(())
}
