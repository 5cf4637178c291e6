//! `statectl history` and `statectl watch`: how a resource got where it is, and what changes
//! now.

use std::time::{Duration, UNIX_EPOCH};

use anyhow::Result;
use serde::Serialize;
use state_server::pb::statemanager::{
    GetHistoryRequest, HistoryEntry, StateEvent, StateEventType, WatchStatesRequest,
    state_manager_connection_client::StateManagerConnectionClient,
};
use tonic::transport::Channel;

use crate::status;

/// How to print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Aligned columns for people.
    Table,
    /// One JSON object per line, for scripts.
    Json,
}

/// `statectl history KIND [NAME]`.
pub async fn history(
    client: &mut StateManagerConnectionClient<Channel>,
    kind: String,
    name: String,
    limit: u32,
    output: Output,
) -> Result<()> {
    let resp = client
        .get_history(GetHistoryRequest { kind, name, limit })
        .await
        .map_err(status)?
        .into_inner();
    match output {
        Output::Json => {
            for e in &resp.entries {
                println!("{}", serde_json::to_string(&HistoryJson::from(e))?);
            }
        }
        Output::Table => print!("{}", history_table(&resp.entries)),
    }
    Ok(())
}

/// `statectl watch [KIND] [--from REV]`: runs until interrupted or the stream ends.
pub async fn watch(
    client: &mut StateManagerConnectionClient<Channel>,
    kinds: Vec<String>,
    prefix: String,
    from: i64,
    output: Output,
) -> Result<()> {
    let mut stream = client
        .watch_states(WatchStatesRequest {
            kinds,
            name_prefix: prefix,
            from_revision: from,
        })
        .await
        .map_err(status)?
        .into_inner();
    while let Some(event) = stream.message().await.map_err(status)? {
        match output {
            Output::Json => println!("{}", serde_json::to_string(&EventJson::from(&event))?),
            Output::Table => println!("{}", event_line(&event)),
        }
    }
    Ok(())
}

/// A time in nanoseconds since the epoch, as RFC 3339 in UTC with milliseconds.
fn time(ns: i64) -> String {
    let Ok(ns) = u64::try_from(ns) else {
        return "-".into();
    };
    let t = UNIX_EPOCH + Duration::from_nanos(ns);
    humantime::format_rfc3339_millis(t).to_string()
}

fn or_none(s: &str) -> &str {
    if s.is_empty() { "(none)" } else { s }
}

/// History as a table: revision, time, resource, from → to, source, why.
fn history_table(entries: &[HistoryEntry]) -> String {
    let rows: Vec<[String; 5]> = entries
        .iter()
        .map(|e| {
            [
                e.revision.to_string(),
                time(e.timestamp_ns),
                format!("{}/{}", e.kind, e.name),
                format!("{} → {}", or_none(&e.from_state), or_none(&e.to_state)),
                or_none(&e.source).to_owned(),
            ]
        })
        .collect();
    let head = ["REVISION", "TIME", "RESOURCE", "FROM → TO", "SOURCE"];
    let mut width = head.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 5], why: &str| {
        let mut out = String::new();
        for (cell, w) in cells.iter().zip(width) {
            out.push_str(cell);
            out.push_str(&" ".repeat(w - cell.chars().count() + 2));
        }
        out.push_str(why);
        out.push('\n');
        out
    };
    let mut out = line(head, "WHY");
    for (row, e) in rows.iter().zip(entries) {
        out.push_str(&line(row.each_ref().map(String::as_str), &e.why));
    }
    out
}

/// One watch event as a line.
fn event_line(e: &StateEvent) -> String {
    match StateEventType::try_from(e.r#type) {
        Ok(StateEventType::SnapshotDone) => {
            format!("-- snapshot at revision {}; changes follow", e.revision)
        }
        Ok(StateEventType::Snapshot) => {
            format!(
                "{} snapshot {}/{} {}",
                e.revision, e.kind, e.name, e.new_state
            )
        }
        _ => {
            let mut line = format!(
                "{} {} {}/{} {} → {}",
                e.revision,
                time(e.timestamp_ns),
                e.kind,
                e.name,
                or_none(&e.old_state),
                or_none(&e.new_state)
            );
            if !e.source.is_empty() {
                line.push_str(&format!(" by {}", e.source));
            }
            if !e.why.is_empty() {
                line.push_str(&format!(": {}", e.why));
            }
            line
        }
    }
}

#[derive(Serialize)]
struct HistoryJson<'a> {
    revision: i64,
    time: String,
    kind: &'a str,
    name: &'a str,
    from: &'a str,
    to: &'a str,
    source: &'a str,
    transition_id: &'a str,
    why: &'a str,
}

impl<'a> From<&'a HistoryEntry> for HistoryJson<'a> {
    fn from(e: &'a HistoryEntry) -> Self {
        HistoryJson {
            revision: e.revision,
            time: time(e.timestamp_ns),
            kind: &e.kind,
            name: &e.name,
            from: &e.from_state,
            to: &e.to_state,
            source: &e.source,
            transition_id: &e.transition_id,
            why: &e.why,
        }
    }
}

#[derive(Serialize)]
struct EventJson<'a> {
    #[serde(rename = "type")]
    kind_of_event: &'static str,
    revision: i64,
    time: String,
    kind: &'a str,
    name: &'a str,
    old: &'a str,
    new: &'a str,
    source: &'a str,
    transition_id: &'a str,
    why: &'a str,
}

impl<'a> From<&'a StateEvent> for EventJson<'a> {
    fn from(e: &'a StateEvent) -> Self {
        let kind_of_event = match StateEventType::try_from(e.r#type) {
            Ok(StateEventType::Snapshot) => "snapshot",
            Ok(StateEventType::SnapshotDone) => "snapshot_done",
            _ => "change",
        };
        EventJson {
            kind_of_event,
            revision: e.revision,
            time: time(e.timestamp_ns),
            kind: &e.kind,
            name: &e.name,
            old: &e.old_state,
            new: &e.new_state,
            source: &e.source,
            transition_id: &e.transition_id,
            why: &e.why,
        }
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    #[test]
    fn history_prints_an_aligned_table_with_the_reason_last() {
        let entries = [
            HistoryEntry {
                revision: 7,
                kind: "package".into(),
                name: "web".into(),
                timestamp_ns: 1_700_000_000_123_000_000,
                from_state: "".into(),
                to_state: "PACKAGE_STATE_RUNNING".into(),
                source: "NodeAgent/n1".into(),
                transition_id: "".into(),
                why: "all models running".into(),
            },
            HistoryEntry {
                revision: 12,
                kind: "package".into(),
                name: "web".into(),
                timestamp_ns: 1_700_000_060_000_000_000,
                from_state: "PACKAGE_STATE_RUNNING".into(),
                to_state: "PACKAGE_STATE_ERROR".into(),
                source: "NodeAgent/n2".into(),
                transition_id: "t9".into(),
                why: "all models dead".into(),
            },
        ];
        expect![[r#"
            REVISION  TIME                      RESOURCE     FROM → TO                                    SOURCE        WHY
            7         2023-11-14T22:13:20.123Z  package/web  (none) → PACKAGE_STATE_RUNNING               NodeAgent/n1  all models running
            12        2023-11-14T22:14:20.000Z  package/web  PACKAGE_STATE_RUNNING → PACKAGE_STATE_ERROR  NodeAgent/n2  all models dead
        "#]]
        .assert_eq(&history_table(&entries));
    }
}
