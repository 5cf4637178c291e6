//! Where the daemon's time goes under load: `perf record` on its process while a scenario runs,
//! then `perf script`, collapsed and drawn by inferno into an SVG flame graph, and the
//! functions with the most samples of their own (leaf frames), for the summary.
//!
//! Only in a full `cargo xtask bench`, and only where `perf` works; otherwise it says so and
//! the run goes on without a profile.

use std::{
    collections::HashMap,
    io::BufReader,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

use anyhow::{Context, Result, bail};

use crate::util::info;

/// Samples per second: enough for a few thousand stacks in a 20-second run, little overhead.
const FREQUENCY: &str = "299";

/// A running `perf record`.
pub struct Profile {
    perf: Child,
    data: PathBuf,
}

/// Starts profiling process `pid` into `data`; `None` (with a note) where perf cannot run.
pub fn start(pid: u32, data: &Path) -> Option<Profile> {
    let perf = Command::new("perf")
        .args([
            "record",
            "-F",
            FREQUENCY,
            "--call-graph",
            "dwarf,16384",
            "-p",
        ])
        .arg(pid.to_string())
        .arg("-o")
        .arg(data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    match perf {
        Ok(perf) => Some(Profile {
            perf,
            data: data.to_owned(),
        }),
        Err(e) => {
            info(&format!("no profile: perf cannot run here ({e})"));
            None
        }
    }
}

/// The functions with the most samples of their own, as `(function, share of all samples)`.
pub type Top = Vec<(String, f64)>;

impl Profile {
    /// Stops profiling and writes the flame graph to `svg`; returns the top `n` leaf functions.
    pub fn finish(mut self, svg: &Path, title: &str, n: usize) -> Result<Top> {
        // perf writes its file when interrupted, as on Ctrl-C.
        let pid = self.perf.id().to_string();
        let _ = Command::new("kill").args(["-INT", &pid]).status();
        let status = self.perf.wait()?;
        if !self.data.exists() {
            bail!("perf record wrote no data ({status})");
        }
        let script = Command::new("perf")
            .arg("script")
            .arg("-i")
            .arg(&self.data)
            .stderr(Stdio::null())
            .output()
            .context("perf script")?;
        let mut folded = Vec::new();
        let mut folder =
            inferno::collapse::perf::Folder::from(inferno::collapse::perf::Options::default());
        inferno::collapse::Collapse::collapse(
            &mut folder,
            BufReader::new(&script.stdout[..]),
            &mut folded,
        )
        .context("collapsing perf's stacks")?;
        let mut options = inferno::flamegraph::Options::default();
        options.title = title.to_owned();
        let out =
            std::fs::File::create(svg).with_context(|| format!("creating {}", svg.display()))?;
        inferno::flamegraph::from_reader(&mut options, BufReader::new(&folded[..]), out)
            .context("drawing the flame graph")?;
        let _ = std::fs::remove_file(&self.data);
        info(&format!("flame graph: {}", svg.display()));
        Ok(top(&String::from_utf8_lossy(&folded), n))
    }
}

/// The `n` leaf functions with the most samples in folded stacks (`a;b;c 12` lines).
fn top(folded: &str, n: usize) -> Top {
    let mut own: HashMap<&str, u64> = HashMap::new();
    let mut total = 0u64;
    for line in folded.lines() {
        let Some((stack, count)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(count) = count.parse::<u64>() else {
            continue;
        };
        let leaf = stack.rsplit(';').next().unwrap_or(stack);
        *own.entry(leaf).or_default() += count;
        total += count;
    }
    let mut v: Vec<_> = own.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    v.into_iter()
        .take(n)
        .map(|(f, c)| (f.to_owned(), c as f64 / total.max(1) as f64))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_counts_leaf_frames_across_stacks() {
        let folded = "main;a;malloc 5\nmain;b;malloc 3\nmain;b 2\n";
        let t = top(folded, 2);
        assert_eq!(t[0].0, "malloc");
        assert!((t[0].1 - 0.8).abs() < 1e-9);
        assert_eq!(t[1].0, "b");
    }
}
