//! Honest errors (issue 13, point 6): a share URL that cannot be read says so and leaves the
//! address alone; import problems stay in the dialog beside their line; an invalid name is
//! explained where it is typed; import adds or replaces, as chosen; the first visit explains
//! cascade, Reconcile and scenario owners once.

use std::time::Duration;

use anyhow::{Result, ensure};
use serde_json::json;

use crate::{
    browser::{WebDriver, ready},
    browser_daily::fresh,
    util::info,
};

/// The first visit shows the explanation; dismissed, it stays away on the next visit.
pub(crate) fn first_visit(wd: &WebDriver, url: &str) -> Result<()> {
    fresh(wd, url)?;
    let shown =
        wd.js("const i = document.getElementById('intro'); return [i.hidden, i.textContent];")?;
    let text = shown[1].as_str().unwrap_or("");
    ensure!(
        shown[0] == false
            && text.contains("Cascade")
            && text.contains("Reconcile")
            && text.contains("Scenario owners"),
        "first visit: {shown}"
    );
    wd.js("document.getElementById('btn-intro-close').click(); return true;")?;
    fresh(wd, url)?;
    let again = wd.js("return document.getElementById('intro').hidden;")?;
    ensure!(again == true, "the dismissed explanation came back");
    info("first visit: cascade, Reconcile and scenario owners explained once, dismissible");
    Ok(())
}

/// Puts `text` in the import dialog and presses the button with value `mode`.
fn import(wd: &WebDriver, text: &str, mode: &str) -> Result<serde_json::Value> {
    wd.js_with(
        "document.getElementById('btn-import').click();
         const t = document.getElementById('import-text');
         t.value = arguments[0]; t.dispatchEvent(new Event('input'));
         document.querySelector(`#import-form button[value=${arguments[1]}]`).click();
         const d = document.getElementById('import-dialog');
         return {open: d.open,
                 problems: [...document.querySelectorAll('#import-problems li')].map(li => li.textContent),
                 lines: [...document.querySelectorAll('#import-problems [data-line]')].map(b => Number(b.dataset.line)),
                 gutter: document.getElementById('import-gutter').textContent.split('\\n').filter(l => l.startsWith('⚠')),
                 selected: t.value.slice(t.selectionStart, t.selectionEnd)};",
        json!([text, mode]),
    )
}

pub(crate) fn check(wd: &WebDriver, url: &str) -> Result<()> {
    // A corrupt share URL: said so, the address left as it was.
    let bad = format!("{}#z=AAAAnot-a-session", url.trim_end_matches('/'));
    wd.goto("about:blank")?;
    wd.goto(&bad)?;
    ready(wd)?;
    std::thread::sleep(Duration::from_millis(800)); // longer than the page waits to rewrite it
    let said = wd.js(
        "return [location.hash, document.querySelector('#notice [data-bad-url]')?.textContent ?? '', document.getElementById('status').textContent];",
    )?;
    ensure!(
        said[0] == "#z=AAAAnot-a-session"
            && said[1]
                .as_str()
                .unwrap_or("")
                .contains("could not be opened")
            && said[2]
                .as_str()
                .unwrap_or("")
                .contains("could not be opened"),
        "a bad share URL: {said}"
    );
    info("a share URL that cannot be read is reported; the address is left alone");

    fresh(wd, url)?;
    // Import problems stay in the dialog, beside their line.
    let yaml = "kind: Package\nmetadata:\n  name: fine\nspec:\n  models: []\n---\nkind: Model\nmetadata:\n  name: not valid!\nspec:\n  containers: []\n";
    let r = import(wd, yaml, "add")?;
    ensure!(
        r["open"] == true
            && r["lines"] == json!([6])
            && r["gutter"] == json!(["⚠ 6"])
            && r["selected"] == "---"
            && r["problems"][0]
                .as_str()
                .unwrap_or("")
                .contains("metadata.name"),
        "a bad document: {r}"
    );
    let r = import(wd, "kind: Model\nmetadata: [\n  name: x\n", "add")?;
    let line = r["lines"][0].as_u64().unwrap_or(0);
    ensure!(
        r["open"] == true && (2..=4).contains(&line),
        "a YAML syntax error: {r}"
    );
    let r = import(
        wd,
        "{\n  \"packages\": {\n    \"p\": {} \"q\": {}\n  }\n}",
        "add",
    )?;
    ensure!(
        r["open"] == true && r["lines"] == json!([3]),
        "a JSON syntax error: {r}"
    );
    info("import problems listed in the dialog, with their line marked and selected");

    // Add keeps the topology; Replace starts from an empty one.
    let hello = std::fs::read_to_string(crate::util::root().join("examples/helloworld.yaml"))?;
    let r = import(wd, &hello, "add")?;
    ensure!(r["open"] == false, "import (add) left the dialog open: {r}");
    wd.expect("package", "helloworld", "running")?;
    wd.expect("package", "infotainment", "running")?;
    let r = import(wd, &hello, "replace")?;
    ensure!(
        r["open"] == false,
        "import (replace) left the dialog open: {r}"
    );
    wd.expect("package", "helloworld", "running")?;
    wd.expect("package", "infotainment", "(not shown)")?;
    let notes = wd.js("return __explorer.entries.slice(-2).map(e => e.note);")?;
    ensure!(
        notes[0]
            .as_str()
            .unwrap_or("")
            .contains("added to the topology")
            && notes[1]
                .as_str()
                .unwrap_or("")
                .contains("replacing the topology"),
        "the log says add or replace: {notes}"
    );

    // An invalid name is explained beside the field as it is typed, and the refusal stays there.
    let typed = wd.js(
        "const f = document.getElementById('form-add-node');
         f.elements.name.value = 'bad node!'; f.elements.name.dispatchEvent(new Event('input'));
         const typing = [f.elements.name.getAttribute('aria-invalid'), f.querySelector('.field-error').textContent];
         f.requestSubmit();
         return [typing, f.querySelector('.field-error').textContent,
                 [...document.querySelectorAll('#log li.refused')].at(-1)?.textContent ?? ''];",
    )?;
    ensure!(
        typed[0][0] == "true"
            && typed[0][1].as_str().unwrap_or("").contains("node name")
            && typed[1].as_str().unwrap_or("").starts_with("refused")
            && typed[2].as_str().unwrap_or("").contains("add node"),
        "an invalid node name: {typed}"
    );
    info("import adds or replaces as chosen; invalid names explained where typed");
    Ok(())
}
