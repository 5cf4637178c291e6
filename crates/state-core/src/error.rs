//! Error types of the core. Each says what was wrong in words a user can act on.

use alloc::string::String;

/// A state (or resource type) string that is not one of the accepted spellings.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {input:?}: expected one of {}", list(.accepted))]
pub struct ParseStateError {
    /// What was being parsed (`model state`).
    pub kind: &'static str,
    /// The rejected input, trimmed.
    pub input: String,
    /// The accepted short spellings.
    pub accepted: &'static [&'static str],
}

impl ParseStateError {
    pub(crate) fn new(kind: &'static str, input: &str, accepted: &'static [&'static str]) -> Self {
        ParseStateError {
            kind,
            input: input.into(),
            accepted,
        }
    }
}

pub(crate) fn list(items: &[&str]) -> String {
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(item);
    }
    out
}

/// A resource, container or node name that breaks the naming rules (`docs/contract.md#names`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name is empty.
    #[error("{kind} name is empty")]
    Empty {
        /// What the name was for (`model`).
        kind: &'static str,
    },
    /// The name is longer than [`crate::name::MAX_NAME_LEN`].
    #[error(
        "{kind} name is {len} characters long; the limit is {}",
        crate::name::MAX_NAME_LEN
    )]
    TooLong {
        /// What the name was for.
        kind: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// The name does not start with a letter or digit.
    #[error("{kind} name {name:?} must start with a letter or digit")]
    BadStart {
        /// What the name was for.
        kind: &'static str,
        /// The rejected name.
        name: String,
    },
    /// The name holds a character outside `[A-Za-z0-9_.-]`.
    #[error(
        "{kind} name {name:?} contains {found:?}; only letters, digits, '_', '.' and '-' are allowed"
    )]
    BadChar {
        /// What the name was for.
        kind: &'static str,
        /// The rejected name.
        name: String,
        /// The first offending character.
        found: char,
    },
    /// The name holds `..`.
    #[error("{kind} name {name:?} contains \"..\"")]
    DotDot {
        /// What the name was for.
        kind: &'static str,
        /// The rejected name.
        name: String,
    },
}
