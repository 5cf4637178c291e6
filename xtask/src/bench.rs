//! `cargo xtask bench`: criterion benchmarks and the end-to-end load run. Filled in by the
//! benchmark work.

use anyhow::Result;

pub fn bench(quick: bool) -> Result<()> {
    let _ = quick;
    crate::util::step("benchmarks: none yet (the benchmark suite has not landed)");
    Ok(())
}
