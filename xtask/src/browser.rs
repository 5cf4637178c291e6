//! The explorer's end-to-end test in real headless Chromium, driven through chromedriver's
//! WebDriver HTTP API (JSON over plain HTTP; no async runtime).
//!
//! It drives the page the way a user does (clicks on containers, the state buttons, the
//! import dialog, the history buttons) and reads states back from the DOM. It saves
//! screenshots under `target/` and records the large-fleet click-to-view times in
//! `target/explorer-bench.json`: a measurement, never an assertion.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread::sleep,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail, ensure};
use base64::Engine;
use serde_json::{Value, json};

use crate::util::info;

/// A chromedriver process with one browser session. Dropping it ends both.
pub(crate) struct WebDriver {
    agent: ureq::Agent,
    base: String,
    session: String,
    driver: Child,
    profile: PathBuf,
}

fn call(agent: &ureq::Agent, method: &str, url: &str, body: Option<Value>) -> Result<Value> {
    let response = match (method, body) {
        ("POST", Some(b)) => agent.post(url).send_json(b),
        ("DELETE", _) => agent.delete(url).call(),
        _ => agent.get(url).call(),
    };
    let mut response = response.with_context(|| format!("{method} {url}"))?;
    let status = response.status();
    let v: Value = response
        .body_mut()
        .with_config()
        .limit(64 << 20)
        .read_json()
        .with_context(|| format!("{method} {url}: reading the reply"))?;
    if !status.is_success() {
        bail!(
            "{method} {url}: {status}: {}",
            v["value"]["message"].as_str().unwrap_or("no message")
        );
    }
    Ok(v["value"].clone())
}

impl WebDriver {
    pub(crate) fn start(chromium: &Path, chromedriver: &Path, target: &Path) -> Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", chromedriver.display()))?;
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        let base = format!("http://127.0.0.1:{port}");
        let profile = target.join(format!("chromium-profile-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        let mut wd = WebDriver {
            agent,
            base,
            session: String::new(),
            driver,
            profile,
        };
        let started = Instant::now();
        loop {
            let ready = call(&wd.agent, "GET", &format!("{}/status", wd.base), None)
                .map(|v| v["ready"] == true)
                .unwrap_or(false);
            if ready {
                break;
            }
            ensure!(
                started.elapsed() < Duration::from_secs(30),
                "chromedriver did not become ready in 30 s"
            );
            sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                    "--window-size=1600,1000",
                    format!("--user-data-dir={}", wd.profile.display()),
                ],
            },
        }}});
        let v = call(
            &wd.agent,
            "POST",
            &format!("{}/session", wd.base),
            Some(caps),
        )
        .context("starting a Chromium session")?;
        wd.session = v["sessionId"]
            .as_str()
            .context("no sessionId in the new-session reply")?
            .to_owned();
        wd.post("/timeouts", json!({"script": 120_000, "pageLoad": 60_000}))?;
        wd.viewport(1600, 1000)?;
        Ok(wd)
    }

    fn url(&self, path: &str) -> String {
        format!("{}/session/{}{path}", self.base, self.session)
    }

    fn post(&self, path: &str, body: Value) -> Result<Value> {
        call(&self.agent, "POST", &self.url(path), Some(body))
    }

    pub(crate) fn goto(&self, url: &str) -> Result<()> {
        self.post("/url", json!({ "url": url })).map(drop)
    }

    /// Runs `script` (an async function body; `return` gives the result) in the page.
    pub(crate) fn js(&self, script: &str) -> Result<Value> {
        self.post("/execute/sync", json!({"script": script, "args": []}))
            .with_context(|| format!("in the page: {}", script.trim()))
    }

    /// [`Self::js`] with arguments (`arguments[0]`, ...), for data too long to quote.
    pub(crate) fn js_with(&self, script: &str, args: Value) -> Result<Value> {
        self.post("/execute/sync", json!({"script": script, "args": args}))
            .with_context(|| format!("in the page: {}", script.trim()))
    }

    /// Presses keys as a user does (WebDriver actions, so Tab moves the focus for real): each
    /// item is a key (`"Tab"`, `"Enter"`, `"ArrowDown"`, ...) or a character.
    pub(crate) fn keys(&self, keys: &[&str]) -> Result<()> {
        let mut actions = Vec::new();
        for k in keys {
            let code = match *k {
                "Tab" => "\u{E004}",
                "Enter" => "\u{E007}",
                "Escape" => "\u{E00C}",
                "ArrowLeft" => "\u{E012}",
                "ArrowUp" => "\u{E013}",
                "ArrowRight" => "\u{E014}",
                "ArrowDown" => "\u{E015}",
                "Home" => "\u{E011}",
                "End" => "\u{E010}",
                other => other,
            };
            actions.push(json!({"type": "keyDown", "value": code}));
            actions.push(json!({"type": "keyUp", "value": code}));
        }
        self.post(
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]}),
        )
        .map(drop)
    }

    /// Sets the page's viewport (CSS pixels), as a window of that size would.
    pub(crate) fn viewport(&self, width: u32, height: u32) -> Result<()> {
        self.post(
            "/goog/cdp/execute",
            json!({"cmd": "Emulation.setDeviceMetricsOverride",
                   "params": {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}}),
        )
        .map(drop)
    }

    /// Waits until the JS expression `cond` is truthy.
    pub(crate) fn wait(&self, cond: &str) -> Result<()> {
        self.js(&format!(
            "const t0 = Date.now();
             while (!({cond})) {{
               if (Date.now() - t0 > 60000) throw new Error('timed out waiting for: ' + {cond:?});
               await new Promise(r => setTimeout(r, 25));
             }}
             return true;"
        ))
        .map(drop)
    }

    pub(crate) fn state(&self, kind: &str, name: &str) -> Result<String> {
        let v = self.js(&format!("return __explorer.state({kind:?}, {name:?});"))?;
        Ok(v.as_str().unwrap_or("(not shown)").to_owned())
    }

    pub(crate) fn expect(&self, kind: &str, name: &str, want: &str) -> Result<()> {
        let got = self.state(kind, name)?;
        ensure!(got == want, "{kind} {name}: shown {got}, expected {want}");
        Ok(())
    }

    pub(crate) fn screenshot(&self, path: &Path) -> Result<()> {
        let v = call(&self.agent, "GET", &self.url("/screenshot"), None)?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().context("screenshot is not a string")?)
            .context("decoding the screenshot")?;
        std::fs::write(path, png).with_context(|| format!("writing {}", path.display()))?;
        info(&format!("screenshot: {}", path.display()));
        Ok(())
    }

    /// Messages the page logged at SEVERE level (uncaught errors, failed loads).
    pub(crate) fn severe_logs(&self) -> Result<Vec<String>> {
        let v = self.post("/se/log", json!({"type": "browser"}))?;
        Ok(v.as_array()
            .map(|a| {
                a.iter()
                    .filter(|e| e["level"] == "SEVERE")
                    .filter_map(|e| e["message"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }
}

impl Drop for WebDriver {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = call(&self.agent, "DELETE", &self.url(""), None);
        }
        // Only the chromedriver this test started.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Clicks a container in the topology, then one of the inspector's state buttons.
pub(crate) fn set_container(wd: &WebDriver, container: &str, preset: &str) -> Result<()> {
    wd.js(&format!(
        "const c = document.querySelector('[data-kind=container][data-name=\"{container}\"]');
         if (!c) throw new Error('container {container} is not shown');
         c.click();
         const b = document.querySelector('#inspector [data-preset=\"{preset}\"]');
         if (!b) throw new Error('no {preset} button in the inspector');
         b.click();
         return true;"
    ))
    .map(drop)
}

pub(crate) fn ready(wd: &WebDriver) -> Result<()> {
    wd.wait("window.__explorer && window.__explorer.ready")
}

pub fn end_to_end(
    url: &str,
    chromium: &Path,
    chromedriver: &Path,
    target: &Path,
    wasm_size: u64,
) -> Result<()> {
    let wd = WebDriver::start(chromium, chromedriver, target)?;
    wd.goto(url)?;
    ready(&wd)?;

    // The demo topology; one of infotainment's two models loses a container.
    wd.expect("model", "navi", "running")?;
    wd.expect("package", "infotainment", "running")?;
    set_container(&wd, "navi_app", "dead")?;
    wd.expect("container", "navi_app", "dead")?;
    wd.expect("model", "navi", "dead")?;
    wd.expect("package", "infotainment", "degraded")?;
    wd.expect("model", "media", "running")?;
    let changed = wd.js(
        "return [...document.querySelectorAll('.changed')].map(e => e.dataset.kind + ':' + e.dataset.name).sort();",
    )?;
    ensure!(
        changed == json!(["container:navi_app", "model:navi", "package:infotainment"]),
        "highlighted after the change: {changed}"
    );
    // "Why" for the package: the package table with the deciding row marked.
    let why = wd.js(
        "document.querySelector('[data-pick=package][data-name=infotainment]').click();
         return document.querySelector('#inspector table.rules tr.hit').textContent;",
    )?;
    ensure!(
        why.as_str()
            .unwrap_or("")
            .contains("at least one model Dead"),
        "why infotainment: {why}"
    );
    info("demo: navi_app dead -> navi Dead -> infotainment Degraded");
    // The same states grouped by node: no package cards, the model on each of its nodes.
    let by_node = wd.js(
        "document.querySelector('[data-group-by=node]').click();
         const out = [document.querySelectorAll('[data-kind=package]').length,
                      [...document.querySelectorAll('[data-kind=model][data-name=navi]')].map(e => e.dataset.state),
                      __explorer.state('container', 'navi_app')];
         document.querySelector('[data-group-by=package]').click();
         return out;",
    )?;
    ensure!(
        by_node == json!([0, ["dead"], "dead"]),
        "grouped by node: {by_node}"
    );

    // Import Pullpiri's helloworld artifact through the import dialog (the daemon's parser).
    wd.js("document.getElementById('btn-import').click();
         document.getElementById('import-helloworld').click();
         return true;")?;
    wd.wait("document.getElementById('import-text').value.includes('kind: Scenario')")?;
    wd.js("document.getElementById('import-go').click(); return true;")?;
    wd.wait("!document.getElementById('import-dialog').open")?;
    wd.expect("package", "helloworld", "running")?;
    wd.expect("model", "helloworld", "running")?;
    wd.expect("container", "helloworld_helloworld", "running")?;
    set_container(&wd, "helloworld_helloworld", "dead")?;
    wd.expect("model", "helloworld", "dead")?;
    wd.expect("package", "helloworld", "error")?;
    let notice = wd.js(
        "return document.querySelector('#notice [data-reconcile=helloworld]')?.textContent ?? '';",
    )?;
    let notice = notice.as_str().unwrap_or("");
    ensure!(
        notice.contains("scenario_name: \"helloworld\"")
            && notice.contains("current: FAILED")
            && notice.contains("desired: RUNNING"),
        "reconcile notice: {notice:?}"
    );
    info("helloworld imported; its only container dead -> Error, Reconcile shown");
    wd.js(
        "document.querySelector('[data-pick=package][data-name=helloworld]').click(); return true;",
    )?;
    wd.screenshot(&target.join("explorer.png"))?;

    // An invalid scenario step is refused and explained by the transition table.
    let explained = wd.js("const sel = document.getElementById('scenario-select');
         sel.value = 'helloworld'; sel.dispatchEvent(new Event('change'));
         document.querySelector('#scenario-graph [data-state=completed]')
           .dispatchEvent(new MouseEvent('click', {bubbles: true}));
         return document.getElementById('scenario-explain').textContent;")?;
    ensure!(
        explained
            .as_str()
            .unwrap_or("")
            .contains("ERROR_CODE_INVALID_STATE_TRANSITION"),
        "invalid scenario step: {explained}"
    );
    let stepped = wd.js("document.querySelector('#scenario-graph .edge.allowed')
           .dispatchEvent(new MouseEvent('click', {bubbles: true}));
         return document.getElementById('scenario-explain').textContent;")?;
    ensure!(
        stepped.as_str().unwrap_or("").starts_with("SUCCESS"),
        "allowed scenario step: {stepped}"
    );

    // Time travel: back past the scenario step and the dead container, then before the import.
    wd.js("document.getElementById('btn-back').click(); document.getElementById('btn-back').click(); return true;")?;
    wd.expect("package", "helloworld", "running")?;
    wd.expect("model", "helloworld", "running")?;
    wd.js("document.getElementById('btn-back').click(); return true;")?;
    wd.expect("package", "helloworld", "(not shown)")?;
    wd.expect("package", "infotainment", "degraded")?;
    wd.js("document.getElementById('btn-back').click(); return true;")?;
    wd.expect("model", "navi", "running")?;
    wd.expect("package", "infotainment", "running")?;
    wd.js("document.getElementById('btn-forward').click(); document.getElementById('btn-forward').click(); document.getElementById('btn-forward').click(); return true;")?;
    wd.expect("package", "helloworld", "error")?;
    info("time travel: old states return on the way back, new ones on the way forward");

    // The shareable URL reproduces the same view, history position included.
    let before = wd.js(
        "return {sig: __explorer.signature(), cursor: __explorer.cursor, steps: __explorer.steps};",
    )?;
    let shared = wd.js("return await __explorer.shareUrl();")?;
    let shared = shared.as_str().context("no URL")?.to_owned();
    wd.goto("about:blank")?;
    wd.goto(&shared)?;
    ready(&wd)?;
    let after = wd.js(
        "return {sig: __explorer.signature(), cursor: __explorer.cursor, steps: __explorer.steps};",
    )?;
    ensure!(
        before == after,
        "view differs after loading the shared URL:\nbefore {before}\nafter  {after}"
    );
    info(&format!(
        "shared URL ({} characters) reloads the same view",
        shared.len()
    ));

    // Editing the topology: a node, a package with a model, a container; then the node goes.
    let edited = wd.js(
        "const $ = (id) => document.getElementById(id);
         const submit = (form, values) => {
           for (const [k, v] of Object.entries(values)) form.elements[k].value = v;
           form.requestSubmit();
         };
         const s = (k, n) => __explorer.state(k, n);
         submit($('form-add-node'), {name: 'EDGE'});
         submit($('form-add-package'), {name: 'diag', models: 'logger'});
         const added = [s('package', 'diag'), s('model', 'logger')];
         document.querySelector('[data-pick=model][data-name=logger]').click();
         submit($('add-container-form'), {suffix: 'main', node: 'EDGE', state: 'running'});
         const running = [s('container', 'logger_main'), s('model', 'logger'), s('package', 'diag')];
         document.querySelector('[data-remove-node=EDGE]').click();
         return [added, running, [s('container', 'logger_main'), s('model', 'logger'), s('package', 'diag')]];",
    )?;
    ensure!(
        edited
            == json!([
                ["idle", "created"],
                ["running", "running", "running"],
                [null, "created", "idle"]
            ]),
        "topology edits: {edited}"
    );
    // The explorer's own JSON reads back to the same view.
    let round_trip = wd.js(
        "const before = __explorer.signature();
         const err = __explorer.importText(JSON.stringify(__explorer.doc));
         return [err === null, JSON.stringify(before) === JSON.stringify(__explorer.signature())];",
    )?;
    ensure!(
        round_trip == json!([true, true]),
        "JSON round trip: {round_trip}"
    );
    info("topology edits cascade; exported JSON imports to the same view");

    // Re-apply (ApiServer, current_state ""): refused while the scenario is mid-lifecycle,
    // accepted once its lifecycle completed, back to idle; one history step like any other.
    let reapply = wd.js(
        "const sel = document.getElementById('scenario-select');
         sel.value = 'adas-scn'; sel.dispatchEvent(new Event('change'));
         const shown = () => document.querySelector('#scenario-graph .state.current')?.dataset.state;
         const explain = () => document.getElementById('scenario-explain').textContent;
         const reapply = () => {
           document.getElementById('btn-reapply-scenario').click();
           return [shown(), explain()];
         };
         const refused = reapply();
         for (const s of ['satisfied', 'allowed', 'completed']) {
           document.querySelector(`#scenario-graph [data-state=${s}]`)
             .dispatchEvent(new MouseEvent('click', {bubbles: true}));
         }
         const completed = shown();
         const accepted = reapply();
         document.getElementById('btn-back').click();
         const back = shown();
         document.getElementById('btn-forward').click();
         return {refused, completed, accepted, travel: [back, shown()],
                 stored: __explorer.doc.scenarios['adas-scn'].state};",
    )?;
    let text = |k: &str| reapply[k][1].as_str().unwrap_or("").to_owned();
    ensure!(
        reapply["refused"][0] == "waiting"
            && text("refused").contains("ERROR_CODE_INVALID_STATE_TRANSITION"),
        "re-apply while waiting: {reapply}"
    );
    ensure!(
        reapply["completed"] == "completed"
            && reapply["accepted"][0] == "idle"
            && text("accepted").starts_with("SUCCESS")
            && reapply["travel"] == json!(["completed", "idle"])
            && reapply["stored"] == "idle",
        "re-apply after completed: {reapply}"
    );
    info("re-apply: refused while waiting; after completed the scenario is idle again");

    // Large fleet: 100 packages x 10 models x 10 containers. Click-to-view times are recorded,
    // not asserted.
    wd.js("document.getElementById('btn-generate').click(); return true;")?;
    wd.wait("document.querySelectorAll('[data-kind=container]').length === 10000")?;
    wd.wait("__explorer.timings.some(t => t.action === 'generate')")?;
    let generate = wd.js("return __explorer.timings.find(t => t.action === 'generate');")?;
    let mut samples = Vec::new();
    for i in 0..40 {
        let container = format!("pkg-{:03}-m{}_c{}", (i * 7) % 100, i % 10, (i * 3) % 10);
        let before = wd.js("return __explorer.timings.length;")?;
        set_container(&wd, &container, if i % 4 == 3 { "running" } else { "dead" })?;
        wd.wait(&format!("__explorer.timings.length > {before}"))?;
        samples.push(wd.js("return __explorer.timings.at(-1);")?);
    }
    wd.expect("model", "pkg-000-m0", "dead")?;
    wd.expect("package", "pkg-000", "degraded")?;
    wd.screenshot(&target.join("explorer-large.png"))?;
    let severe = wd.severe_logs()?;
    ensure!(severe.is_empty(), "the page logged errors: {severe:#?}");

    let mut bench = bench_report(&samples, wasm_size);
    bench["generate_and_first_render_ms"] = generate["ms"].clone();
    let path = target.join("explorer-bench.json");
    std::fs::write(&path, serde_json::to_string_pretty(&bench)?)?;
    let at = |k: &str, q: &str| bench[k][q].as_f64().unwrap_or(f64::NAN);
    info(&format!(
        "large fleet click-to-view (10,000 containers, {} clicks): median {:.2} ms, p95 {:.2} ms \
         (script median {:.2} ms, state-core median {:.3} ms; next frame at median {:.1} ms); \
         generating and drawing it took {:.0} ms; wasm {} KiB -> {}",
        samples.len(),
        at("click_to_view_ms", "median"),
        at("click_to_view_ms", "p95"),
        at("script_ms", "median"),
        at("state_core_ms", "median"),
        at("click_to_paint_ms", "median"),
        generate["ms"].as_f64().unwrap_or(f64::NAN),
        wasm_size / 1024,
        path.display()
    ));
    Ok(())
}

fn stats(mut v: Vec<f64>) -> Value {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| {
        v.get(((v.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    json!({"median": at(0.5), "p95": at(0.95), "min": at(0.0), "max": at(1.0)})
}

fn bench_report(samples: &[Value], wasm_size: u64) -> Value {
    let field = |k: &str| -> Vec<f64> { samples.iter().filter_map(|s| s[k].as_f64()).collect() };
    json!({
        "what": "explorer large fleet: click on a state button to updated view \
                 (script, then forced style and layout); click_to_paint_ms waits for the next frame",
        "containers": samples.first().map(|s| s["containers"].clone()),
        "clicks": samples.len(),
        "click_to_view_ms": stats(field("ms")),
        "script_ms": stats(field("scriptMs")),
        "state_core_ms": stats(field("wasmMs")),
        "click_to_paint_ms": stats(field("frameMs")),
        "wasm_bytes": wasm_size,
    })
}
