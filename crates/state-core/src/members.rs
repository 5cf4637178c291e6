//! A node's membership — which containers it runs, and the model and package of each — stored
//! under `/node/{name}/containers`, so that a restarted daemon knows which node each stored
//! container belongs to. Container states are not part of it (they live in the container keys),
//! so the key is written only when a node's list of containers, models or packages changes.
//!
//! The value is one line per container, sorted by name: `container<TAB>model<TAB>package`,
//! with an empty field for no model or no package. Names never hold tabs or newlines.

use alloc::{string::String, vec::Vec};

use crate::{
    error::NameError,
    name::{ContainerName, ModelName, PackageName, validate_name},
};

/// One container of a node.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Member {
    pub container: ContainerName,
    /// Its model.
    pub model: Option<ModelName>,
    /// The package named by its package annotation.
    pub package: Option<PackageName>,
}

/// One member as the encoders take it: container, model, package.
pub type MemberRef<'a> = (
    &'a ContainerName,
    Option<&'a ModelName>,
    Option<&'a PackageName>,
);

/// Encodes members (in any order) as the stored value.
pub fn encode<'a>(members: impl IntoIterator<Item = MemberRef<'a>>) -> String {
    let mut rows: Vec<_> = members.into_iter().collect();
    rows.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = String::new();
    for (c, m, p) in rows {
        out.push_str(c.as_str());
        out.push('\t');
        out.push_str(m.map_or("", ModelName::as_str));
        out.push('\t');
        out.push_str(p.map_or("", PackageName::as_str));
        out.push('\n');
    }
    out
}

/// The length of the value [`encode`] gives for these members, without building it.
pub fn encoded_len<'a>(members: impl IntoIterator<Item = MemberRef<'a>>) -> usize {
    members
        .into_iter()
        .map(|(c, m, p)| {
            c.as_str().len()
                + m.map_or(0, |m| m.as_str().len())
                + p.map_or(0, |p| p.as_str().len())
                + 3
        })
        .sum()
}

/// A stored membership value that cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MembersError {
    /// A line does not have three tab-separated fields.
    #[error("line {line}: expected container, model and package separated by tabs")]
    Shape {
        /// 1-based line number.
        line: usize,
    },
    /// A name on a line is invalid.
    #[error("line {line}: {error}")]
    Name {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        error: NameError,
    },
}

/// One line of a stored value, its names checked: container, model, package.
type Row<'a> = (&'a str, Option<&'a str>, Option<&'a str>);

/// The lines of a stored value, each split into its fields and its names checked.
fn rows(text: &str) -> impl Iterator<Item = Result<Row<'_>, MembersError>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
        .map(|(i, line)| {
            let line_no = i + 1;
            let mut fields = line.split('\t');
            let (Some(c), Some(m), Some(p), None) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                return Err(MembersError::Shape { line: line_no });
            };
            let name_err = |error| MembersError::Name {
                line: line_no,
                error,
            };
            let (m, p) = ((!m.is_empty()).then_some(m), (!p.is_empty()).then_some(p));
            validate_name(ContainerName::KIND, c).map_err(name_err)?;
            if let Some(m) = m {
                validate_name(ModelName::KIND, m).map_err(name_err)?;
            }
            if let Some(p) = p {
                validate_name(PackageName::KIND, p).map_err(name_err)?;
            }
            Ok((c, m, p))
        })
}

/// Checks a stored membership value as [`decode`] would read it, without building it.
pub fn check(text: &str) -> Result<(), MembersError> {
    rows(text).try_for_each(|row| row.map(drop))
}

/// Decodes a value [`check`] accepted (anything unreadable in it is left out).
pub fn decode_checked(text: &str) -> Vec<Member> {
    decode(text).unwrap_or_default()
}

/// Decodes a stored membership value.
pub fn decode(text: &str) -> Result<Vec<Member>, MembersError> {
    let mut out: Vec<Member> = Vec::with_capacity(text.bytes().filter(|b| *b == b'\n').count() + 1);
    for row in rows(text) {
        let (c, m, p) = row?;
        // Lines are sorted by container, and containers are named after their model, so a
        // node's model and package names repeat line after line: each is read (and held) once.
        let last = out.last();
        let model = m.map(|m| match last.and_then(|l| l.model.as_ref()) {
            Some(prev) if prev.as_str() == m => prev.clone(),
            _ => ModelName::checked(m),
        });
        let package = p.map(|p| match last.and_then(|l| l.package.as_ref()) {
            Some(prev) if prev.as_str() == p => prev.clone(),
            _ => PackageName::checked(p),
        });
        out.push(Member {
            container: ContainerName::checked(c),
            model,
            package,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_round_trip_sorted() {
        let c = |s: &str| ContainerName::new(s).unwrap();
        let (b, a) = (c("m_b"), c("m_a"));
        let m = ModelName::new("m").unwrap();
        let p = PackageName::new("p").unwrap();
        let text = encode([(&b, Some(&m), None), (&a, Some(&m), Some(&p))]);
        assert_eq!(text, "m_a\tm\tp\nm_b\tm\t\n");
        assert_eq!(
            encoded_len([(&b, Some(&m), None), (&a, Some(&m), Some(&p))]),
            text.len()
        );
        let back = decode(&text).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].container, a);
        assert_eq!(back[1].package, None);
        assert!(decode("a\tb\n").is_err());
        assert_eq!(check(&text), Ok(()));
        assert_eq!(check("a\tb\n"), decode("a\tb\n").map(|_| ()));
        assert_eq!(check("a\t../b\t\n"), decode("a\t../b\t\n").map(|_| ()));
        assert_eq!(check("a\tb\t\tc\n"), decode("a\tb\t\tc\n").map(|_| ()));
        assert_eq!(
            decode("a\t../b\t\n").map_err(|e| alloc::format!("{e}")),
            Err(alloc::string::String::from(
                "line 1: model name \"../b\" must start with a letter or digit"
            ))
        );
    }
}
