//! The benchmark summary: sections of rows, each row a measurement of ours against a baseline
//! from the same run, rendered as Markdown (stdout and `target/bench/summary.md`) and JSON
//! (`target/bench/summary.json`).
//!
//! Any part of `cargo xtask bench` adds its results as a [`Section`] of [`Row`]s; the criterion
//! rows come from `bench::core_sections`, and the end-to-end load run appends its own.

use std::{fmt::Write as _, fs, path::Path};

use anyhow::{Context, Result};
use serde_json::{Value, json};

/// What a number measures, and so which way is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Time per operation, in nanoseconds. Lower is better.
    Nanos,
    /// Operations per second. Higher is better.
    PerSecond,
    /// A count per operation (etcd round trips per report). Lower is better.
    Count,
    /// Bytes (peak memory). Lower is better.
    Bytes,
}

impl Unit {
    /// Whether a smaller value is the better one.
    pub fn lower_is_better(self) -> bool {
        !matches!(self, Unit::PerSecond)
    }

    /// The unit's name in the JSON output.
    pub fn key(self) -> &'static str {
        match self {
            Unit::Nanos => "ns",
            Unit::PerSecond => "per_s",
            Unit::Count => "count",
            Unit::Bytes => "bytes",
        }
    }

    /// A value in this unit, for people.
    pub fn show(self, v: f64) -> String {
        match self {
            Unit::Nanos => {
                let (value, unit) = match v {
                    v if v >= 1e9 => (v / 1e9, "s"),
                    v if v >= 1e6 => (v / 1e6, "ms"),
                    v if v >= 1e3 => (v / 1e3, "µs"),
                    v => (v, "ns"),
                };
                format!("{} {unit}", three_digits(value))
            }
            Unit::PerSecond => format!("{}/s", three_digits(v)),
            Unit::Count => three_digits(v),
            Unit::Bytes => {
                let (value, unit) = match v {
                    v if v >= 1024.0 * 1024.0 * 1024.0 => (v / (1024.0 * 1024.0 * 1024.0), "GiB"),
                    v if v >= 1024.0 * 1024.0 => (v / (1024.0 * 1024.0), "MiB"),
                    v if v >= 1024.0 => (v / 1024.0, "KiB"),
                    v => (v, "B"),
                };
                format!("{} {unit}", three_digits(value))
            }
        }
    }
}

/// A number with about three significant digits.
fn three_digits(v: f64) -> String {
    match v.abs() {
        a if a >= 100.0 => format!("{v:.0}"),
        a if a >= 10.0 => format!("{v:.1}"),
        a if a >= 1.0 => format!("{v:.2}"),
        _ => format!("{v:.3}"),
    }
}

/// What a row aims for: its ratio (see [`Row::ratio`]) at least `min_ratio`.
#[derive(Clone, Debug, PartialEq)]
pub struct Goal {
    /// The goal in words, as the issue states it.
    pub text: String,
    /// The smallest ratio that meets it.
    pub min_ratio: f64,
}

/// One measurement of ours against a baseline.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// What is measured, and against what.
    pub name: String,
    /// Our value; `None` when it could not be measured this run.
    pub ours: Option<f64>,
    /// The baseline's value; `None` when there is none or it could not be measured.
    pub baseline: Option<f64>,
    /// The unit of both values.
    pub unit: Unit,
    /// What the row aims for, if anything.
    pub goal: Option<Goal>,
}

impl Row {
    /// A row without a goal.
    pub fn new(
        name: impl Into<String>,
        ours: Option<f64>,
        baseline: Option<f64>,
        unit: Unit,
    ) -> Row {
        Row {
            name: name.into(),
            ours,
            baseline,
            unit,
            goal: None,
        }
    }

    /// Adds a goal: the ratio must be at least `min_ratio`.
    pub fn goal(mut self, text: impl Into<String>, min_ratio: f64) -> Row {
        self.goal = Some(Goal {
            text: text.into(),
            min_ratio,
        });
        self
    }

    /// How many times better ours is than the baseline: baseline / ours when lower is better
    /// (time, round trips, memory), ours / baseline when higher is better (rates). Above 1
    /// means ours is better.
    pub fn ratio(&self) -> Option<f64> {
        let (ours, baseline) = (self.ours?, self.baseline?);
        let (num, den) = if self.unit.lower_is_better() {
            (baseline, ours)
        } else {
            (ours, baseline)
        };
        (den > 0.0).then(|| num / den)
    }

    /// Whether the goal is met; `None` without a goal or without a ratio.
    pub fn met(&self) -> Option<bool> {
        Some(self.ratio()? >= self.goal.as_ref()?.min_ratio)
    }

    fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "ours": self.ours,
            "baseline": self.baseline,
            "unit": self.unit.key(),
            "better": if self.unit.lower_is_better() { "lower" } else { "higher" },
            "ratio": self.ratio(),
            "goal": self.goal.as_ref().map(|g| json!({
                "text": g.text,
                "min_ratio": g.min_ratio,
                "met": self.met(),
            })),
        })
    }
}

/// A titled group of rows, with a line saying what "ours" and "baseline" are in it.
#[derive(Clone, Debug, PartialEq)]
pub struct Section {
    /// The heading.
    pub title: String,
    /// What is compared, in one or two sentences.
    pub about: String,
    pub rows: Vec<Row>,
}

/// The whole summary of one `cargo xtask bench` run.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// Whether this was the `--quick` pass (numbers are rough).
    pub quick: bool,
    /// The sections, in order.
    pub sections: Vec<Section>,
}

impl Summary {
    /// The summary as Markdown.
    pub fn markdown(&self) -> String {
        let mut md = String::from("# Benchmark summary\n\n");
        if self.quick {
            md.push_str(
                "Quick pass (`--quick`): short measurements that check the benchmarks run. \
                 The numbers are rough; run `cargo xtask bench` for real ones.\n\n",
            );
        }
        md.push_str(
            "ratio: how many times better ours is than the baseline measured in the same run \
             (above 1: ours is better). See benches/README.md.\n",
        );
        for section in &self.sections {
            let _ = write!(
                md,
                "\n## {}\n\n{}\n\n| | ours | baseline | ratio | goal |\n|---|---:|---:|---:|---|\n",
                section.title, section.about
            );
            for row in &section.rows {
                let show = |v: Option<f64>| v.map_or_else(|| "—".to_string(), |v| row.unit.show(v));
                let ratio = row
                    .ratio()
                    .map_or_else(|| "—".to_string(), |r| format!("{}x", three_digits(r)));
                let goal = match (&row.goal, row.met()) {
                    (None, _) => String::new(),
                    (Some(g), Some(true)) => format!("{}: met", g.text),
                    (Some(g), Some(false)) => format!("{}: **not met**", g.text),
                    (Some(g), None) => format!("{}: not measured", g.text),
                };
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} |",
                    row.name,
                    show(row.ours),
                    show(row.baseline),
                    ratio,
                    goal
                );
            }
        }
        md
    }

    /// The summary as JSON.
    pub fn json(&self) -> Value {
        json!({
            "quick": self.quick,
            "sections": self.sections.iter().map(|s| json!({
                "title": s.title,
                "about": s.about,
                "rows": s.rows.iter().map(Row::to_json).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    }

    /// Writes `summary.md` and `summary.json` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<()> {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let md = dir.join("summary.md");
        fs::write(&md, self.markdown()).with_context(|| format!("writing {}", md.display()))?;
        let json = dir.join("summary.json");
        let text = serde_json::to_string_pretty(&self.json())?;
        fs::write(&json, text + "\n").with_context(|| format!("writing {}", json.display()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_is_above_one_when_ours_is_better_in_either_direction() {
        let time = Row::new("t", Some(2.0), Some(100.0), Unit::Nanos);
        assert_eq!(time.ratio(), Some(50.0));
        let rate = Row::new("r", Some(3000.0), Some(1000.0), Unit::PerSecond);
        assert_eq!(rate.ratio(), Some(3.0));
        let worse = Row::new("w", Some(4.0), Some(2.0), Unit::Nanos);
        assert_eq!(worse.ratio(), Some(0.5));
    }

    #[test]
    fn goal_is_met_at_the_minimum_ratio_and_unknown_without_a_value() {
        let row = Row::new("t", Some(2.0), Some(100.0), Unit::Nanos).goal("≥ 50x", 50.0);
        assert_eq!(row.met(), Some(true));
        let row = Row::new("t", Some(2.5), Some(100.0), Unit::Nanos).goal("≥ 50x", 50.0);
        assert_eq!(row.met(), Some(false));
        let row = Row::new("t", None, Some(100.0), Unit::Nanos).goal("≥ 50x", 50.0);
        assert_eq!(row.met(), None);
        assert_eq!(Row::new("t", Some(1.0), Some(1.0), Unit::Nanos).met(), None);
    }

    #[test]
    fn values_are_shown_in_a_readable_unit() {
        assert_eq!(Unit::Nanos.show(927.6), "928 ns");
        assert_eq!(Unit::Nanos.show(46_643.0), "46.6 µs");
        assert_eq!(Unit::Nanos.show(6_936_800.0), "6.94 ms");
        assert_eq!(Unit::PerSecond.show(12_345.0), "12345/s");
        assert_eq!(Unit::Bytes.show(3.5 * 1024.0 * 1024.0), "3.50 MiB");
        assert_eq!(Unit::Count.show(1.0), "1.00");
    }

    #[test]
    fn markdown_and_json_carry_every_row() {
        let summary = Summary {
            quick: true,
            sections: vec![Section {
                title: "Core".into(),
                about: "ours against the reference".into(),
                rows: vec![
                    Row::new("cascade", Some(1000.0), Some(50_000.0), Unit::Nanos)
                        .goal("≥ 50x", 50.0),
                    Row::new("missing", None, Some(1.0), Unit::Nanos),
                ],
            }],
        };
        let md = summary.markdown();
        assert!(
            md.contains("| cascade | 1.00 µs | 50.0 µs | 50.0x | ≥ 50x: met |"),
            "{md}"
        );
        assert!(md.contains("| missing | — | 1.00 ns | — |  |"), "{md}");
        let json = summary.json();
        assert_eq!(json["sections"][0]["rows"][0]["ratio"], 50.0);
        assert_eq!(json["sections"][0]["rows"][0]["goal"]["met"], true);
        assert_eq!(json["sections"][0]["rows"][1]["ours"], Value::Null);
    }
}
