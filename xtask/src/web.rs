//! `cargo xtask web`: build the explorer and serve it. Filled in by the explorer work.

use anyhow::{Result, bail};

pub fn web() -> Result<()> {
    bail!("the web explorer is not built yet: crates/state-wasm and web/ hold no page so far")
}

/// The wasm binding tests and the browser test; nothing to run until the explorer exists.
pub fn test() -> Result<()> {
    crate::util::step("wasm and browser tests: none yet (the explorer has not landed)");
    Ok(())
}
