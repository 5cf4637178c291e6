//! Validated names (`docs/contract.md#names`). A name that passes can never address another store key.

use alloc::{string::String, sync::Arc};
use core::{borrow::Borrow, fmt};

use crate::error::NameError;

/// Longest accepted name, in bytes (every accepted character is one byte).
pub const MAX_NAME_LEN: usize = 253;

/// Checks a name (`docs/contract.md#names`): 1 to 253 characters of `[A-Za-z0-9_.-]`, starting with a
/// letter or digit, and no `..`.
pub fn validate_name(kind: &'static str, name: &str) -> Result<(), NameError> {
    if is_valid_name(name.as_bytes()) {
        return Ok(());
    }
    name_error(kind, name)
}

/// The check itself, in one pass over the bytes: every name of every report goes through it.
fn is_valid_name(name: &[u8]) -> bool {
    let (Some(first), true) = (name.first(), name.len() <= MAX_NAME_LEN) else {
        return false;
    };
    if !first.is_ascii_alphanumeric() {
        return false;
    }
    let mut dot = false;
    for &b in name {
        match b {
            b'.' if dot => return false,
            b'.' => dot = true,
            b'_' | b'-' => dot = false,
            _ if b.is_ascii_alphanumeric() => dot = false,
            _ => return false,
        }
    }
    true
}

/// Why a name that [`is_valid_name`] refused is wrong.
#[cold]
fn name_error(kind: &'static str, name: &str) -> Result<(), NameError> {
    let Some(first) = name.chars().next() else {
        return Err(NameError::Empty { kind });
    };
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong {
            kind,
            len: name.len(),
        });
    }
    if !first.is_ascii_alphanumeric() {
        return Err(NameError::BadStart {
            kind,
            name: name.into(),
        });
    }
    if let Some(found) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(NameError::BadChar {
            kind,
            name: name.into(),
            found,
        });
    }
    if name.contains("..") {
        return Err(NameError::DotDot {
            kind,
            name: name.into(),
        });
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$meta:meta])* $name:ident, $kind:literal) => {
        $(#[$meta])*
        ///
        /// Shared, immutable text: cloning a name (the planner does, often) copies a pointer.
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Arc<str>);

        impl $name {
            /// What this name names, for error messages.
            pub const KIND: &'static str = $kind;

            /// Validates and wraps a name (one allocation: the shared text).
            pub fn new(name: impl AsRef<str>) -> Result<Self, NameError> {
                let name = name.as_ref();
                validate_name($kind, name)?;
                Ok($name(Arc::from(name)))
            }

            /// Wraps a name the caller has already checked with [`validate_name`] for this
            /// kind (so it is not checked twice).
            #[allow(dead_code, reason = "only the kinds stored in node memberships use it")]
            pub(crate) fn checked(name: &str) -> Self {
                debug_assert!(validate_name($kind, name).is_ok(), "{name:?}");
                $name(Arc::from(name))
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<&str> for $name {
            type Error = NameError;
            fn try_from(s: &str) -> Result<Self, NameError> {
                $name::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = NameError;
            fn try_from(s: String) -> Result<Self, NameError> {
                $name::new(s)
            }
        }

        impl core::str::FromStr for $name {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, NameError> {
                $name::new(s)
            }
        }
    };
}

name_type!(
    /// A container name, as reported by a NodeAgent (leading `/` removed).
    ContainerName, "container"
);
name_type!(
    /// A model name (a Pullpiri pod).
    ModelName, "model"
);
name_type!(PackageName, "package");
name_type!(ScenarioName, "scenario");
name_type!(NodeName, "node");

#[cfg(test)]
mod tests {
    use alloc::{format, string::String, vec::Vec};

    use super::*;

    /// The one-pass check accepts exactly what the detailed one (which names the fault) does:
    /// every string of up to four characters over an alphabet with each kind of character,
    /// and names at the length limit.
    #[test]
    fn the_fast_check_agrees_with_the_detailed_one() {
        let alphabet = ['a', 'Z', '7', '.', '_', '-', '/', ' ', 'é', '\n'];
        let mut names: Vec<String> = Vec::from([String::new()]);
        let mut last = names.clone();
        for _ in 0..4 {
            last = last
                .iter()
                .flat_map(|n| alphabet.iter().map(move |c| format!("{n}{c}")))
                .collect();
            names.extend(last.iter().cloned());
        }
        names.push("a".repeat(MAX_NAME_LEN));
        names.push("a".repeat(MAX_NAME_LEN + 1));
        for name in &names {
            assert_eq!(
                is_valid_name(name.as_bytes()),
                name_error("model", name).is_ok(),
                "{name:?}"
            );
        }
    }
}
