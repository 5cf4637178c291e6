//! Any screen (issue 13, point 4): the page at 1400 × 900, 1024 × 768 and 800 × 1000, each
//! saved as `target/explorer-<w>x<h>.png`. The topology keeps at least 300 px of height; at
//! 1024 px and below the columns stack and the topology takes the full width; no size scrolls
//! sideways.

use std::path::Path;

use anyhow::{Result, ensure};

use crate::{
    browser::{WebDriver, set_container},
    browser_daily::fresh,
    util::info,
};

/// Sizes checked, as (width, height) in CSS pixels.
const SIZES: [(u32, u32); 3] = [(1400, 900), (1024, 768), (800, 1000)];
/// Least height the topology keeps at every size.
const MIN_TOPOLOGY_HEIGHT: f64 = 300.0;

pub(crate) fn check(wd: &WebDriver, url: &str, target: &Path) -> Result<()> {
    fresh(wd, url)?;
    set_container(wd, "navi_app", "dead")?;
    let mut sizes = Vec::new();
    for (w, h) in SIZES {
        wd.viewport(w, h)?;
        let m = wd.js(
            "await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
             const box = (id) => document.getElementById(id).getBoundingClientRect();
             const t = box('topology'), p = box('topology-panel'), i = box('inspector-panel');
             const doc = document.documentElement;
             return {height: t.height, width: t.width, panel_width: p.width, viewport: doc.clientWidth,
                     stacked: i.top >= p.bottom - 1, sideways: doc.scrollWidth > doc.clientWidth};",
        )?;
        let at = |k: &str| m[k].as_f64().unwrap_or(f64::NAN);
        ensure!(
            at("height") >= MIN_TOPOLOGY_HEIGHT,
            "{w}x{h}: the topology is {:.0} px high",
            at("height")
        );
        ensure!(
            m["sideways"] == false,
            "{w}x{h}: the page scrolls sideways: {m}"
        );
        if w <= 1024 {
            // Stacked: the topology panel spans the page but for the page's padding.
            ensure!(
                m["stacked"] == true && at("panel_width") >= at("viewport") - 24.0,
                "{w}x{h}: the columns did not stack to the full width: {m}"
            );
        } else {
            ensure!(
                m["stacked"] == false,
                "{w}x{h}: stacked at a wide size: {m}"
            );
        }
        wd.screenshot(&target.join(format!("explorer-{w}x{h}.png")))?;
        sizes.push(format!(
            "{w}x{h}: topology {:.0} × {:.0} px",
            at("width"),
            at("height")
        ));
    }
    wd.viewport(1600, 1000)?;
    info(&format!("screens: {}", sizes.join("; ")));
    Ok(())
}
