//! The state enums, their accepted spellings and their canonical stored values
//! (`docs/contract.md#state-spellings`).

use core::fmt;

use crate::error::ParseStateError;

/// Defines a state enum with its wire number, short name and stored spelling.
///
/// Every enum gets: `ALL` (in wire order), `COUNT`, `index()`, `short()` (lower case),
/// `stored()` (the exact value written to the store), `wire()` (the protobuf number),
/// `from_wire()`, and `parse()` accepting the short and prefixed forms case-insensitively.
macro_rules! state_enum {
    (
        $(#[$meta:meta])*
        $name:ident, kind = $kind:literal, prefix = $prefix:literal {
            $($variant:ident = $wire:literal, $short:literal, $stored:literal;)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $(
                #[doc = concat!("`", $short, "` (wire number ", stringify!($wire), ")")]
                $variant,
            )+
        }

        impl $name {
            /// Every state, in wire-number order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// Number of states; the length of a per-state count array.
            pub const COUNT: usize = Self::ALL.len();
            /// What this enum describes, for error messages.
            pub const KIND: &'static str = $kind;
            /// The prefix of the protobuf value names (`MODEL_STATE_`).
            pub const PREFIX: &'static str = $prefix;

            /// Dense index `0..COUNT`, in `ALL` order.
            pub const fn index(self) -> usize {
                self as usize
            }

            /// Lower-case short name (`running`).
            pub const fn short(self) -> &'static str {
                match self { $($name::$variant => $short),+ }
            }

            /// Protobuf enum number.
            pub const fn wire(self) -> i32 {
                match self { $($name::$variant => $wire),+ }
            }

            /// The state with this protobuf number; `None` for unspecified or unknown numbers.
            pub const fn from_wire(n: i32) -> Option<Self> {
                match n { $($wire => Some($name::$variant),)+ _ => None }
            }

            /// The exact value written to the store for this state.
            pub fn stored(self) -> &'static str {
                match self { $($name::$variant => $stored),+ }
            }

            /// Parses any accepted spelling: trimmed, case-insensitive, short (`running`) or
            /// prefixed (`MODEL_STATE_RUNNING`).
            pub fn parse(input: &str) -> Result<Self, ParseStateError> {
                let trimmed = input.trim();
                let short = strip_prefix_ignore_case(trimmed, $prefix).unwrap_or(trimmed);
                Self::ALL
                    .iter()
                    .copied()
                    .find(|s| s.short().eq_ignore_ascii_case(short))
                    .ok_or_else(|| ParseStateError::new($kind, trimmed, Self::accepted()))
            }

            /// The accepted short spellings, for error messages.
            pub fn accepted() -> &'static [&'static str] {
                &[$($short),+]
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.stored())
            }
        }

        impl core::str::FromStr for $name {
            type Err = ParseStateError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    };
}

fn strip_prefix_ignore_case<'a>(input: &'a str, prefix: &str) -> Option<&'a str> {
    let head = input.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &input[prefix.len()..])
}

state_enum! {
    /// State of one container, derived from the NodeAgent `state` map (`docs/contract.md#container-state`).
    /// Stored lower case at `/container/{name}/state`. Containers have no protobuf enum; the
    /// wire numbers here only give a stable order.
    ContainerState, kind = "container state", prefix = "CONTAINER_STATE_" {
        Created = 1, "created", "created";
        Initialized = 2, "initialized", "initialized";
        Running = 3, "running", "running";
        Paused = 4, "paused", "paused";
        Exited = 5, "exited", "exited";
        Dead = 6, "dead", "dead";
        Unknown = 7, "unknown", "unknown";
    }
}

state_enum! {
    /// State of a model, derived from its containers (`docs/contract.md#model-table`).
    ModelState, kind = "model state", prefix = "MODEL_STATE_" {
        Created = 1, "created", "MODEL_STATE_CREATED";
        Paused = 2, "paused", "MODEL_STATE_PAUSED";
        Exited = 3, "exited", "MODEL_STATE_EXITED";
        Dead = 4, "dead", "MODEL_STATE_DEAD";
        Running = 5, "running", "MODEL_STATE_RUNNING";
    }
}

state_enum! {
    /// State of a package, derived from its models (`docs/contract.md#package-table`).
    PackageState, kind = "package state", prefix = "PACKAGE_STATE_" {
        Idle = 1, "idle", "PACKAGE_STATE_IDLE";
        Paused = 2, "paused", "PACKAGE_STATE_PAUSED";
        Exited = 3, "exited", "PACKAGE_STATE_EXITED";
        Degraded = 4, "degraded", "PACKAGE_STATE_DEGRADED";
        Error = 5, "error", "PACKAGE_STATE_ERROR";
        Running = 6, "running", "PACKAGE_STATE_RUNNING";
    }
}

state_enum! {
    /// State of a scenario, moved only through the transition table
    /// (`docs/contract.md#scenario-table`).
    ScenarioState, kind = "scenario state", prefix = "SCENARIO_STATE_" {
        Idle = 1, "idle", "SCENARIO_STATE_IDLE";
        Waiting = 2, "waiting", "SCENARIO_STATE_WAITING";
        Satisfied = 3, "satisfied", "SCENARIO_STATE_SATISFIED";
        Allowed = 4, "allowed", "SCENARIO_STATE_ALLOWED";
        Denied = 5, "denied", "SCENARIO_STATE_DENIED";
        Completed = 6, "completed", "SCENARIO_STATE_COMPLETED";
    }
}

/// Kind of resource named in a `StateChange` (`ResourceType`, `docs/contract.md#wire-services`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResourceType {
    /// `RESOURCE_TYPE_UNSPECIFIED` (0)
    Unspecified,
    /// `RESOURCE_TYPE_SCENARIO` (1)
    Scenario,
    /// `RESOURCE_TYPE_PACKAGE` (2)
    Package,
    /// `RESOURCE_TYPE_MODEL` (3)
    Model,
    /// `RESOURCE_TYPE_VOLUME` (4)
    Volume,
    /// `RESOURCE_TYPE_NETWORK` (5)
    Network,
    /// `RESOURCE_TYPE_NODE` (6)
    Node,
}

impl ResourceType {
    /// Every resource type, in wire order.
    pub const ALL: &'static [ResourceType] = &[
        ResourceType::Unspecified,
        ResourceType::Scenario,
        ResourceType::Package,
        ResourceType::Model,
        ResourceType::Volume,
        ResourceType::Network,
        ResourceType::Node,
    ];

    /// Protobuf enum number.
    pub const fn wire(self) -> i32 {
        self as i32
    }

    /// The resource type with this protobuf number.
    pub fn from_wire(n: i32) -> Option<Self> {
        usize::try_from(n)
            .ok()
            .and_then(|i| Self::ALL.get(i).copied())
    }

    /// Lower-case name (`scenario`), as used in store keys and the CLI.
    pub const fn short(self) -> &'static str {
        match self {
            ResourceType::Unspecified => "unspecified",
            ResourceType::Scenario => "scenario",
            ResourceType::Package => "package",
            ResourceType::Model => "model",
            ResourceType::Volume => "volume",
            ResourceType::Network => "network",
            ResourceType::Node => "node",
        }
    }

    /// Parses `scenario`, `Scenario` or `RESOURCE_TYPE_SCENARIO`.
    pub fn parse(input: &str) -> Result<Self, ParseStateError> {
        let trimmed = input.trim();
        let short = strip_prefix_ignore_case(trimmed, "RESOURCE_TYPE_").unwrap_or(trimmed);
        Self::ALL
            .iter()
            .copied()
            .find(|r| r.short().eq_ignore_ascii_case(short))
            .ok_or_else(|| ParseStateError::new("resource type", trimmed, RESOURCE_TYPES))
    }
}

const RESOURCE_TYPES: &[&str] = &[
    "unspecified",
    "scenario",
    "package",
    "model",
    "volume",
    "network",
    "node",
];

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.short())
    }
}

/// Status of a pod in the ActionController's `ReconcileRequest` (`docs/contract.md#reconcile`).
/// Only the values a reconcile request carries are named here; see
/// [`crate::fleet::Reconcile`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PodStatus {
    /// `RUNNING` (wire number 3)
    Running,
    /// `DONE` (wire number 4)
    Done,
    /// `FAILED` (wire number 5)
    Failed,
}

impl PodStatus {
    /// Protobuf enum number.
    pub const fn wire(self) -> i32 {
        match self {
            PodStatus::Running => 3,
            PodStatus::Done => 4,
            PodStatus::Failed => 5,
        }
    }

    /// Protobuf value name (`FAILED`).
    pub const fn name(self) -> &'static str {
        match self {
            PodStatus::Running => "RUNNING",
            PodStatus::Done => "DONE",
            PodStatus::Failed => "FAILED",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_spellings_are_prefix_plus_upper_short() {
        fn check<S: core::fmt::Debug>(
            all: &[S],
            prefix: &str,
            short: fn(&S) -> &str,
            stored: fn(&S) -> &str,
        ) {
            for s in all {
                let mut expected = alloc::string::String::from(prefix);
                expected.push_str(&short(s).to_ascii_uppercase());
                assert_eq!(stored(s), expected, "{s:?}");
            }
        }
        check(
            ModelState::ALL,
            ModelState::PREFIX,
            |s| s.short(),
            |s| s.stored(),
        );
        check(
            PackageState::ALL,
            PackageState::PREFIX,
            |s| s.short(),
            |s| s.stored(),
        );
        check(
            ScenarioState::ALL,
            ScenarioState::PREFIX,
            |s| s.short(),
            |s| s.stored(),
        );
        for s in ContainerState::ALL {
            assert_eq!(s.stored(), s.short());
        }
        for s in ModelState::ALL {
            assert!(s.stored().starts_with("MODEL_STATE_"), "{s:?}");
        }
        for s in PackageState::ALL {
            assert!(s.stored().starts_with("PACKAGE_STATE_"), "{s:?}");
        }
        for s in ScenarioState::ALL {
            assert!(s.stored().starts_with("SCENARIO_STATE_"), "{s:?}");
        }
    }

    #[test]
    fn every_stored_value_parses_back() {
        for s in ContainerState::ALL {
            assert_eq!(ContainerState::parse(s.stored()), Ok(*s));
        }
        for s in ModelState::ALL {
            assert_eq!(ModelState::parse(s.stored()), Ok(*s));
            assert_eq!(ModelState::from_wire(s.wire()), Some(*s));
        }
        for s in PackageState::ALL {
            assert_eq!(PackageState::parse(s.stored()), Ok(*s));
            assert_eq!(PackageState::from_wire(s.wire()), Some(*s));
        }
        for s in ScenarioState::ALL {
            assert_eq!(ScenarioState::parse(s.stored()), Ok(*s));
            assert_eq!(ScenarioState::from_wire(s.wire()), Some(*s));
        }
        for r in ResourceType::ALL {
            assert_eq!(ResourceType::from_wire(r.wire()), Some(*r));
            assert_eq!(ResourceType::parse(r.short()), Ok(*r));
        }
    }

    #[test]
    fn unspecified_wire_numbers_are_not_states() {
        assert_eq!(ModelState::from_wire(0), None);
        assert_eq!(PackageState::from_wire(0), None);
        assert_eq!(ScenarioState::from_wire(0), None);
        assert_eq!(ModelState::from_wire(99), None);
    }
}
