//! The model and package decision tables (`docs/contract.md#model-table`,
//! `docs/contract.md#package-table`), as data.

use crate::{
    ContainerState, ModelState, PackageState,
    table::{Cond, Counts, Decision, Row, Table},
};

/// Model state from its containers (`docs/contract.md#model-table`).
pub static MODEL_TABLE: Table<ContainerState, ModelState> = Table {
    name: "model state",
    rows: &[
        Row {
            when: Cond::LookupFailed,
            then: ModelState::Dead,
            text: "looking up the model's containers failed (store error)",
        },
        Row {
            when: Cond::Empty,
            then: ModelState::Created,
            text: "no containers",
        },
        Row {
            when: Cond::Any(ContainerState::Dead),
            then: ModelState::Dead,
            text: "one or more containers dead",
        },
        Row {
            when: Cond::All(ContainerState::Paused),
            then: ModelState::Paused,
            text: "all containers paused",
        },
        Row {
            when: Cond::All(ContainerState::Exited),
            then: ModelState::Exited,
            text: "all containers exited",
        },
        Row {
            when: Cond::Otherwise,
            then: ModelState::Running,
            text: "otherwise (including unknown, created, initialized)",
        },
    ],
};

/// Package state from its models (`docs/contract.md#package-table`).
pub static PACKAGE_TABLE: Table<ModelState, PackageState> = Table {
    name: "package state",
    rows: &[
        Row {
            when: Cond::EmptyOrAll(ModelState::Created),
            then: PackageState::Idle,
            text: "no models, or every model Created",
        },
        Row {
            when: Cond::All(ModelState::Dead),
            then: PackageState::Error,
            text: "every model Dead",
        },
        Row {
            when: Cond::Any(ModelState::Dead),
            then: PackageState::Degraded,
            text: "at least one model Dead",
        },
        Row {
            when: Cond::All(ModelState::Paused),
            then: PackageState::Paused,
            text: "every model Paused",
        },
        Row {
            when: Cond::All(ModelState::Exited),
            then: PackageState::Exited,
            text: "every model Exited",
        },
        Row {
            when: Cond::Otherwise,
            then: PackageState::Running,
            text: "otherwise",
        },
    ],
};

/// Model state from per-state counts of its containers; `None` when they could not be looked up.
pub fn evaluate_model(containers: Option<&Counts<ContainerState>>) -> Decision<ModelState> {
    MODEL_TABLE.decide(containers)
}

/// Package state from per-state counts of its models.
pub fn evaluate_package(models: &Counts<ModelState>) -> Decision<PackageState> {
    PACKAGE_TABLE.decide(Some(models))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_ends_with_otherwise() {
        assert!(matches!(
            MODEL_TABLE.rows.last().map(|r| r.when),
            Some(Cond::Otherwise)
        ));
        assert!(matches!(
            PACKAGE_TABLE.rows.last().map(|r| r.when),
            Some(Cond::Otherwise)
        ));
    }
}
