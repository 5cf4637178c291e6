//! Reading criterion's results: `target/criterion/<group>/<function>/<parameter>/new/
//! estimates.json`, written by the benchmarks of this run.

use std::{
    cell::RefCell,
    fs,
    path::PathBuf,
    time::{Duration, SystemTime},
};

use serde_json::Value;

/// Criterion estimates written since the start of this run.
#[derive(Debug)]
pub struct Estimates {
    dir: PathBuf,
    since: SystemTime,
    missing: RefCell<Vec<String>>,
}

impl Estimates {
    /// Estimates under `dir` (criterion's output directory) written at or after `since`.
    pub fn new(dir: PathBuf, since: SystemTime) -> Self {
        Estimates {
            dir,
            since,
            missing: RefCell::new(Vec::new()),
        }
    }

    /// The median time per iteration of benchmark `id` (`group/function/parameter`), in
    /// nanoseconds. The median rather than the mean: the machine is shared, and a build
    /// running beside the benchmark shows up as outliers. `None` (and remembered, see
    /// [`Estimates::missing`]) when this run wrote no estimate for it.
    pub fn median_ns(&self, id: &str) -> Option<f64> {
        let found = self.read(id);
        if found.is_none() {
            let mut missing = self.missing.borrow_mut();
            if !missing.iter().any(|m| m == id) {
                missing.push(id.to_string());
            }
        }
        found
    }

    fn read(&self, id: &str) -> Option<f64> {
        let path = self.dir.join(id).join("new/estimates.json");
        let modified = fs::metadata(&path).ok()?.modified().ok()?;
        // Coarse file-system clocks: allow a little slack.
        if modified + Duration::from_secs(2) < self.since {
            return None;
        }
        let json: Value = serde_json::from_str(&fs::read_to_string(&path).ok()?).ok()?;
        json["median"]["point_estimate"].as_f64()
    }

    /// The ids asked for that had no fresh estimate.
    pub fn missing(&self) -> Vec<String> {
        self.missing.borrow().clone()
    }
}
