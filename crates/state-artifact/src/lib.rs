//! Reads Pullpiri orchestrator artifacts: multi-document YAML holding `Scenario`, `Package`
//! and `Model` documents (`docs/contract.md#store-keys`). The daemon and the browser explorer both read artifacts
//! through this crate, so a file means the same thing in both.
//!
//! Each document is parsed on its own: one bad document is reported with its position and
//! does not hide the valid ones.

mod budget;

pub use budget::Budget;
use serde::Deserialize;
use state_core::{
    fleet::Event,
    key::{MODEL_ARTIFACT_PREFIX, PACKAGE_ARTIFACT_PREFIX, SCENARIO_ARTIFACT_PREFIX},
    name::{ModelName, NodeName, PackageName, ScenarioName},
};

/// One artifact document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Artifact {
    /// `kind: Scenario`
    Scenario(ScenarioArtifact),
    /// `kind: Package`
    Package(PackageArtifact),
    /// `kind: Model`
    Model(ModelArtifact),
}

/// A `Scenario` document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioArtifact {
    /// `metadata.name`
    pub name: ScenarioName,
    /// `spec.target`: the package the scenario drives.
    pub target: Option<PackageName>,
    /// `spec.action`
    pub action: Option<String>,
}

/// A `Package` document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageArtifact {
    /// `metadata.name`
    pub name: PackageName,
    /// `spec.models`
    pub models: Vec<PackageModel>,
}

/// One entry of a package's `spec.models`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackageModel {
    pub name: ModelName,
    /// `node`: where the model is meant to run.
    pub node: Option<NodeName>,
}

/// A `Model` document (a pod).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelArtifact {
    /// `metadata.name`
    pub name: ModelName,
    /// `spec.containers[].name`
    pub containers: Vec<String>,
}

/// A document that could not be read. `document` counts from 1.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// Not valid YAML, or not the expected shape.
    #[error("document {document}: {message}")]
    Yaml {
        /// Position of the document in the file.
        document: usize,
        /// The line of the file the YAML reader stopped at (from 1), when it says.
        line: Option<usize>,
        /// What the YAML reader said.
        message: String,
    },
    /// The document is larger than the [`Budget`] allows.
    #[error("document {document}: {message}")]
    OverBudget {
        /// Position of the document in the file.
        document: usize,
        /// Which limit, and by how much.
        message: String,
    },
    /// `kind` is missing or not Scenario, Package or Model.
    #[error("document {document}: kind {kind:?} is not one of Scenario, Package, Model")]
    UnknownKind {
        /// Position of the document in the file.
        document: usize,
        /// The kind found.
        kind: String,
    },
    /// A name in the document is not valid.
    #[error("document {document} ({kind}): {field}: {error}")]
    BadName {
        /// Position of the document in the file.
        document: usize,
        /// The document's kind.
        kind: &'static str,
        /// Which field (`metadata.name`, `spec.models[0].name`).
        field: String,
        /// What is wrong.
        error: state_core::error::NameError,
    },
}

impl ArtifactError {
    /// Position of the document in the file, from 1.
    pub fn document(&self) -> usize {
        match self {
            ArtifactError::Yaml { document, .. }
            | ArtifactError::OverBudget { document, .. }
            | ArtifactError::UnknownKind { document, .. }
            | ArtifactError::BadName { document, .. } => *document,
        }
    }

    /// The line of `text` (the file this error came from) it concerns, from 1: where the YAML
    /// reader stopped, or else the line that starts the document.
    pub fn line(&self, text: &str) -> usize {
        match self {
            ArtifactError::Yaml {
                line: Some(line), ..
            } => *line,
            _ => document_start(text, self.document()),
        }
    }
}

/// The line (from 1) on which document `document` (from 1) of a YAML stream starts: the first
/// document at line 1 unless the file opens with a `---` marker, each later one at its `---`
/// marker. A marker is a line that is `---` or starts with `--- ` (YAML's document start).
pub fn document_start(text: &str, document: usize) -> usize {
    let markers: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| *l == "---" || l.starts_with("--- "))
        .map(|(i, _)| i + 1)
        .collect();
    let opens_with_marker = text
        .lines()
        .find(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .is_some_and(|l| l == "---" || l.starts_with("--- "));
    let index = if opens_with_marker {
        document.checked_sub(1)
    } else {
        document.checked_sub(2)
    };
    match index {
        None => 1,
        Some(i) => markers.get(i).copied().unwrap_or(1),
    }
}

#[derive(Deserialize)]
struct Document {
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    metadata: Metadata,
    #[serde(default)]
    spec: Spec,
}

#[derive(Deserialize, Default)]
struct Metadata {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize, Default)]
struct Spec {
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    models: Option<Vec<ModelEntry>>,
    #[serde(default)]
    containers: Option<Vec<ContainerEntry>>,
}

#[derive(Deserialize)]
struct ModelEntry {
    name: String,
    #[serde(default)]
    node: Option<String>,
}

#[derive(Deserialize)]
struct ContainerEntry {
    #[serde(default)]
    name: Option<String>,
}

/// A parsed document together with its YAML text, as it is stored under its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    pub artifact: Artifact,
    /// The document re-serialised on its own.
    pub yaml: String,
}

/// Reads every document of a (multi-document) YAML file, each within the default [`Budget`].
/// Empty documents are skipped.
pub fn parse(text: &str) -> Vec<Result<Parsed, ArtifactError>> {
    parse_within(text, Budget::DEFAULT)
}

/// [`parse`] with a given budget per document.
pub fn parse_within(text: &str, budget: Budget) -> Vec<Result<Parsed, ArtifactError>> {
    let mut out = Vec::new();
    for (i, de) in serde_norway::Deserializer::from_str(text).enumerate() {
        let document = i + 1;
        let value = match budget::read(de, budget) {
            Ok(serde_norway::Value::Null) => continue,
            Ok(v) => v,
            Err(e) => {
                out.push(Err(match e {
                    budget::ReadError::OverBudget(e) => ArtifactError::OverBudget {
                        document,
                        message: e.to_string(),
                    },
                    // The YAML reader's own limits on alias expansion and nesting: over
                    // budget too, not a syntax error.
                    budget::ReadError::Yaml(e) if budget::reader_limit(&e.to_string()) => {
                        ArtifactError::OverBudget {
                            document,
                            message: e.to_string(),
                        }
                    }
                    budget::ReadError::Yaml(e) => ArtifactError::Yaml {
                        document,
                        line: e.location().map(|l| l.line()),
                        message: e.to_string(),
                    },
                }));
                // A syntax error leaves the rest of the stream unreadable; a document over
                // budget is not read further either.
                break;
            }
        };
        out.push(read_document(document, value, budget));
    }
    out
}

/// Reads one document stored under an artifact key (`Package/{name}`).
pub fn parse_one(text: &str) -> Result<Parsed, ArtifactError> {
    parse(text).into_iter().next().unwrap_or_else(|| {
        Err(ArtifactError::Yaml {
            document: 1,
            line: None,
            message: "empty document".into(),
        })
    })
}

fn name<T>(
    document: usize,
    kind: &'static str,
    field: impl Into<String>,
    value: Option<&str>,
    make: fn(&str) -> Result<T, state_core::error::NameError>,
) -> Result<T, ArtifactError> {
    make(value.unwrap_or("").trim()).map_err(|error| ArtifactError::BadName {
        document,
        kind,
        field: field.into(),
        error,
    })
}

fn read_document(
    document: usize,
    value: serde_norway::Value,
    budget: Budget,
) -> Result<Parsed, ArtifactError> {
    let yaml = serde_norway::to_string(&value).map_err(|e| ArtifactError::Yaml {
        document,
        line: None,
        message: e.to_string(),
    })?;
    if yaml.len() > budget.max_bytes {
        return Err(ArtifactError::OverBudget {
            document,
            message: format!(
                "the document takes {} bytes; the limit is {}",
                yaml.len(),
                budget.max_bytes
            ),
        });
    }
    let doc: Document = serde_norway::from_value(value).map_err(|e| ArtifactError::Yaml {
        document,
        line: None,
        message: e.to_string(),
    })?;
    let kind = doc.kind.unwrap_or_default();
    let meta_name = doc.metadata.name.as_deref();
    let artifact = match kind.trim() {
        "Scenario" => {
            let k = "Scenario";
            Artifact::Scenario(ScenarioArtifact {
                name: name(document, k, "metadata.name", meta_name, |s| {
                    ScenarioName::new(s)
                })?,
                target: match doc.spec.target.as_deref().map(str::trim) {
                    None | Some("") => None,
                    Some(t) => Some(name(document, k, "spec.target", Some(t), |s| {
                        PackageName::new(s)
                    })?),
                },
                action: doc.spec.action,
            })
        }
        "Package" => {
            let k = "Package";
            let mut models = Vec::new();
            for (i, m) in doc.spec.models.unwrap_or_default().into_iter().enumerate() {
                models.push(PackageModel {
                    name: name(
                        document,
                        k,
                        format!("spec.models[{i}].name"),
                        Some(&m.name),
                        |s| ModelName::new(s),
                    )?,
                    node: match m.node.as_deref().map(str::trim) {
                        None | Some("") => None,
                        Some(n) => Some(name(
                            document,
                            k,
                            format!("spec.models[{i}].node"),
                            Some(n),
                            |s| NodeName::new(s),
                        )?),
                    },
                });
            }
            Artifact::Package(PackageArtifact {
                name: name(document, k, "metadata.name", meta_name, |s| {
                    PackageName::new(s)
                })?,
                models,
            })
        }
        "Model" => Artifact::Model(ModelArtifact {
            name: name(document, "Model", "metadata.name", meta_name, |s| {
                ModelName::new(s)
            })?,
            containers: doc
                .spec
                .containers
                .unwrap_or_default()
                .into_iter()
                .filter_map(|c| c.name)
                .collect(),
        }),
        _ => return Err(ArtifactError::UnknownKind { document, kind }),
    };
    Ok(Parsed { artifact, yaml })
}

impl Artifact {
    /// The store key of the artifact: `Scenario/{name}`, `Package/{name}` or `Model/{name}`.
    pub fn key(&self) -> String {
        match self {
            Artifact::Scenario(s) => format!("{SCENARIO_ARTIFACT_PREFIX}{}", s.name),
            Artifact::Package(p) => format!("{PACKAGE_ARTIFACT_PREFIX}{}", p.name),
            Artifact::Model(m) => format!("{MODEL_ARTIFACT_PREFIX}{}", m.name),
        }
    }

    /// The kind (`Package`).
    pub fn kind(&self) -> &'static str {
        match self {
            Artifact::Scenario(_) => "Scenario",
            Artifact::Package(_) => "Package",
            Artifact::Model(_) => "Model",
        }
    }

    /// The artifact's name.
    pub fn name(&self) -> &str {
        match self {
            Artifact::Scenario(s) => s.name.as_str(),
            Artifact::Package(p) => p.name.as_str(),
            Artifact::Model(m) => m.name.as_str(),
        }
    }

    /// The topology event the artifact stands for; `None` for a Model (models join the
    /// topology through packages and containers).
    pub fn event(&self) -> Option<Event> {
        match self {
            Artifact::Scenario(s) => Some(Event::PutScenario {
                scenario: s.name.clone(),
                target: s.target.clone(),
            }),
            Artifact::Package(p) => Some(Event::PutPackage {
                package: p.name.clone(),
                models: p.models.iter().map(|m| m.name.clone()).collect(),
            }),
            Artifact::Model(_) => None,
        }
    }
}

/// The topology event for deleting the artifact stored under `key`, if it is one.
pub fn removal_event(key: &str) -> Option<Event> {
    if let Some(name) = key.strip_prefix(PACKAGE_ARTIFACT_PREFIX) {
        return Some(Event::RemovePackage {
            package: PackageName::new(name).ok()?,
        });
    }
    if let Some(name) = key.strip_prefix(SCENARIO_ARTIFACT_PREFIX) {
        return Some(Event::RemoveScenario {
            scenario: ScenarioName::new(name).ok()?,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLOWORLD: &str = include_str!("../../../examples/helloworld.yaml");

    #[test]
    fn reads_pullpiri_helloworld() {
        let docs: Vec<Parsed> = parse(HELLOWORLD).into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(docs.len(), 3);
        match &docs[0].artifact {
            Artifact::Scenario(s) => {
                assert_eq!(s.name.as_str(), "helloworld");
                assert_eq!(s.target.as_ref().map(|t| t.as_str()), Some("helloworld"));
            }
            other => panic!("expected a scenario, got {other:?}"),
        }
        match &docs[1].artifact {
            Artifact::Package(p) => {
                assert_eq!(p.name.as_str(), "helloworld");
                assert_eq!(p.models.len(), 1);
                assert_eq!(p.models[0].name.as_str(), "helloworld");
                assert_eq!(p.models[0].node.as_ref().map(|n| n.as_str()), Some("HPC"));
            }
            other => panic!("expected a package, got {other:?}"),
        }
        assert_eq!(docs[1].artifact.key(), "Package/helloworld");
        assert!(matches!(&docs[2].artifact, Artifact::Model(m) if m.containers == ["helloworld"]));
        // Each stored document reads back to the same artifact.
        for d in &docs {
            assert_eq!(parse_one(&d.yaml).unwrap().artifact, d.artifact);
        }
    }

    #[test]
    fn errors_name_the_line_they_concern() {
        // A bad name: the line that starts its document.
        let text = "kind: Package\nmetadata:\n  name: ok\nspec:\n  models: []\n---\nkind: Package\nmetadata:\n  name: ../etc\n";
        let results = parse(text);
        assert_eq!(results[1].as_ref().unwrap_err().line(text), 6);
        // A syntax error: where the YAML reader stopped.
        let text =
            "---\nkind: Model\nmetadata:\n  name: a\n---\nkind: Model\nmetadata: [\n  name: b\n";
        let results = parse(text);
        let e = results.last().unwrap().as_ref().unwrap_err();
        assert_eq!(e.document(), 2);
        assert!(e.line(text) >= 7, "{e}: line {}", e.line(text));
        assert_eq!(document_start(text, 1), 1);
        assert_eq!(document_start(text, 2), 5);
        assert_eq!(document_start("kind: Model\n", 1), 1);
    }

    #[test]
    fn bad_document_is_named_and_valid_ones_survive() {
        let text = "kind: Package\nmetadata:\n  name: ok\nspec:\n  models: []\n---\nkind: Package\nmetadata:\n  name: ../etc\n---\nkind: Volume\nmetadata:\n  name: v\n";
        let results = parse(text);
        assert_eq!(results.len(), 3);
        assert!(results[0].is_ok());
        let e = results[1].as_ref().unwrap_err().to_string();
        assert!(
            e.contains("document 2") && e.contains("metadata.name"),
            "{e}"
        );
        let e = results[2].as_ref().unwrap_err().to_string();
        assert!(e.contains("document 3") && e.contains("Volume"), "{e}");
    }

    #[test]
    fn syntax_error_is_reported() {
        let results = parse("kind: Package\nmetadata: [unclosed\n");
        assert_eq!(results.len(), 1);
        assert!(
            results[0]
                .as_ref()
                .unwrap_err()
                .to_string()
                .contains("document 1")
        );
    }

    #[test]
    fn removal_events() {
        assert!(matches!(
            removal_event("Package/p"),
            Some(Event::RemovePackage { .. })
        ));
        assert!(matches!(
            removal_event("Scenario/s"),
            Some(Event::RemoveScenario { .. })
        ));
        assert_eq!(removal_event("Model/m"), None);
        assert_eq!(removal_event("Package/../x"), None);
    }
}
