//! The explorer as a daily tool (issue 13), in real headless Chromium: one browser session
//! runs each point's checks in turn, each in its own file: finding things
//! (`browser_find`), the chain of why (`browser_why`), keyboard and the accessibility audit
//! (`browser_a11y`), screen sizes (`browser_screens`), safe history (`browser_history`) and
//! honest errors (`browser_errors`).

use std::path::Path;

use anyhow::{Context, Result};

use crate::{
    browser::{WebDriver, ready},
    browser_a11y, browser_errors, browser_find, browser_history, browser_screens, browser_why,
    util::info,
};

/// Opens a fresh page on the demo topology (no session in the address).
pub(crate) fn fresh(wd: &WebDriver, url: &str) -> Result<()> {
    wd.goto("about:blank")?;
    wd.goto(url)?;
    ready(wd)
}

pub fn daily(
    url: &str,
    chromium: &Path,
    chromedriver: &Path,
    target: &Path,
    axe: &Path,
) -> Result<()> {
    let wd = WebDriver::start(chromium, chromedriver, target)?;
    // The first visit explains itself; the other checks run with the explanation dismissed.
    browser_errors::first_visit(&wd, url).context("first visit")?;
    browser_find::check(&wd, url).context("search and filter")?;
    browser_why::check(&wd, url).context("the chain of why")?;
    browser_history::check(&wd, url).context("safe history")?;
    browser_errors::check(&wd, url).context("honest errors")?;
    browser_a11y::check(&wd, url, target, axe).context("keyboard and accessibility")?;
    browser_screens::check(&wd, url, target).context("screen sizes")?;
    let severe = wd.severe_logs()?;
    anyhow::ensure!(severe.is_empty(), "the page logged errors: {severe:#?}");
    info("the explorer as a daily tool: find, why, keyboard and audit, screens, history, errors");
    Ok(())
}
