//! Every citation of the contract (`docs/contract.md#some-section`) in the project's code, tests,
//! fixtures and docs must name a section that exists, so a reader can always follow it. Anchors
//! are heading slugs as GitHub renders them: lower case, spaces to `-`, punctuation dropped.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

const CITATION: &str = "contract.md#";
/// Where citations live; `target/` and the generated `web/pkg/` are not the project's text.
const SCANNED: &[&str] = &[
    "crates", "xtask", "benches", "web", "proto", "docs", "examples",
];
const EXTENSIONS: &[&str] = &["rs", "js", "md", "toml", "proto", "html"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(contract: &str) -> BTreeSet<String> {
    contract
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|l| slug(l.trim_start_matches('#')))
        .collect()
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name();
        if path.is_dir() {
            if name != "target" && name != "pkg" && name != "node_modules" {
                files(&path, out);
            }
        } else if path
            .extension()
            .and_then(|x| x.to_str())
            .is_some_and(|x| EXTENSIONS.contains(&x))
        {
            out.push(path);
        }
    }
}

/// Every `(file, line, anchor)` cited in `text`.
fn citations(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find(CITATION) {
            rest = &rest[at + CITATION.len()..];
            let anchor: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            out.push((i + 1, anchor));
        }
    }
    out
}

#[test]
fn slugs_follow_github() {
    assert_eq!(
        slug(" TriggerOffloading and SendAction"),
        "triggeroffloading-and-sendaction"
    );
    assert_eq!(slug("State change checks"), "state-change-checks");
    assert_eq!(
        citations("see `docs/contract.md#model-table` and docs/contract.md#names."),
        [(1, "model-table".to_owned()), (1, "names".to_owned())]
    );
}

#[test]
fn every_cited_contract_section_exists() {
    let root = root();
    let contract = std::fs::read_to_string(root.join("docs/contract.md"))
        .expect("docs/contract.md is the project's contract");
    let known = anchors(&contract);
    let mut paths = Vec::new();
    for dir in SCANNED {
        files(&root.join(dir), &mut paths);
    }
    paths.push(root.join("README.md"));
    paths.push(root.join("ARCHITECTURE.md"));
    // This file talks about citations rather than making them.
    paths.retain(|p| !p.ends_with("xtask/tests/contract_anchors.rs"));
    let mut cited = 0;
    let mut broken = Vec::new();
    for path in &paths {
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        for (line, anchor) in citations(&text) {
            cited += 1;
            if !known.contains(&anchor) {
                broken.push(format!(
                    "{}:{line}: #{anchor}",
                    path.strip_prefix(&root).unwrap_or(path).display()
                ));
            }
        }
    }
    // The contract's own links to its sections, `[Membership](#membership)`.
    for (i, line) in contract.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find("](#") {
            rest = &rest[at + 3..];
            let anchor: String = rest.chars().take_while(|c| *c != ')').collect();
            cited += 1;
            if !known.contains(&anchor) {
                broken.push(format!("docs/contract.md:{}: #{anchor}", i + 1));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "citations of docs/contract.md sections that do not exist (sections: {known:?}):\n{}",
        broken.join("\n")
    );
    assert!(
        cited > 20,
        "only {cited} citations found: is the scan looking in the right place?"
    );
}
