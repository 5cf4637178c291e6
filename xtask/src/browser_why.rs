//! One chain of why (issue 13, point 2): selecting a container shows container → model →
//! package → scenario, each with the decision-table row that gave it its state; every name in
//! the cascade notice opens its own rule; the notice grows to fit a Reconcile line.

use anyhow::{Result, ensure};
use serde_json::json;

use crate::{
    browser::{WebDriver, set_container},
    browser_daily::fresh,
    util::info,
};

/// The chain shown in the inspector: `[kind, name, deciding row text]` per link.
const CHAIN: &str = "return [...document.querySelectorAll('#inspector .chain > .link[data-chain]')]
    .map(l => [l.dataset.chain, l.dataset.name, l.querySelector('.row')?.textContent ?? '']);";

pub(crate) fn check(wd: &WebDriver, url: &str) -> Result<()> {
    fresh(wd, url)?;
    set_container(wd, "navi_app", "dead")?;
    let chain = wd.js(CHAIN)?;
    let links: Vec<(String, String)> = chain
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| {
            (
                l[0].as_str().unwrap_or("").to_owned(),
                l[1].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    ensure!(
        links
            == [
                ("container".into(), "navi_app".into()),
                ("model".into(), "navi".into()),
                ("package".into(), "infotainment".into()),
                ("scenario".into(), "infotainment-scn".into()),
            ],
        "chain for navi_app: {chain}"
    );
    let row = |i: usize| chain[i][2].as_str().unwrap_or("").to_lowercase();
    ensure!(
        row(0).contains("→ dead")
            && row(1).contains("→ dead")
            && row(2).contains("at least one model dead")
            && row(3).contains("allows"),
        "deciding rows: {chain}"
    );
    // Each table is there in full too (the selected item's shown, the others a button away),
    // its deciding row marked.
    let tables = wd.js(
        "for (const b of document.querySelectorAll('#inspector [data-show-table]')) b.click();
         return [...document.querySelectorAll('#inspector .chain table.rules')].map(t => t.dataset.table + ':' + t.querySelectorAll('tr.hit').length);",
    )?;
    ensure!(
        tables.as_array().map(Vec::len) == Some(3)
            && tables
                .as_array()
                .into_iter()
                .flatten()
                .all(|t| t.as_str().unwrap_or("").ends_with(":1")),
        "full tables: {tables}"
    );
    // A link in the chain selects its item.
    let up = wd.js(
        "document.querySelector('#inspector .chain [data-go=package][data-name=infotainment]').click();
         return __explorer.selection;",
    )?;
    ensure!(
        up == json!({"kind": "package", "name": "infotainment"}),
        "chain link: {up}"
    );

    // Every name in the cascade notice opens its rule.
    let items = wd.js(
        "return [...document.querySelectorAll('#notice [data-go]')].map(b => b.dataset.go + ':' + b.dataset.name);",
    )?;
    ensure!(
        items == json!(["container:navi_app", "model:navi", "package:infotainment"]),
        "notice items: {items}"
    );
    let opened = wd.js(
        "document.querySelector('#notice [data-go=model][data-name=navi]').click();
         return [__explorer.selection, document.querySelector('#inspector .chain > .link').dataset.chain];",
    )?;
    ensure!(
        opened == json!([{"kind": "model", "name": "navi"}, "model"]),
        "notice item opens its rule: {opened}"
    );

    // A package in Error: the Reconcile line, whole, in a notice that grew to fit it.
    wd.js("__explorer.importText(`kind: Package
metadata:
  name: solo
spec:
  models:
    - name: solo
      node: HPC
---
kind: Model
metadata:
  name: solo
spec:
  containers:
    - name: main
`); return true;")?;
    set_container(wd, "solo_main", "dead")?;
    let notice = wd.js("const n = document.getElementById('notice');
         return [n.querySelector('[data-reconcile=solo] [data-go=package]')?.dataset.name,
                 n.scrollHeight <= n.clientHeight + 1, getComputedStyle(n).overflowY];")?;
    ensure!(
        notice[0] == "solo" && notice[1] == true,
        "the Reconcile notice is clipped or its package is not a button: {notice}"
    );
    wd.js(
        "document.querySelector('#notice [data-reconcile=solo] [data-go]').click(); return true;",
    )?;
    let reconcile = wd.js(
        "return document.querySelector('#inspector [data-reconcile=solo]')?.textContent ?? '';",
    )?;
    ensure!(
        reconcile.as_str().unwrap_or("").contains("Reconcile"),
        "the package's rule shows its Reconcile: {reconcile}"
    );
    info(
        "why: container → model → package → scenario with deciding rows; the notice's names open their rules",
    );
    Ok(())
}
