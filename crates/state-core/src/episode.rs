//! The record of a package's error episode (`docs/contract.md#reconcile`): written in the same
//! transaction that puts the package into Error, marked delivered once the ActionController
//! answers the Reconcile, deleted in the transaction that takes the package out of Error. The
//! key's modification revision when it was written tells one episode from the next, so a
//! Reconcile is delivered once per episode across restarts and leader changes.
//!
//! The value is `owed<TAB>scenario`, `delivered<TAB>scenario` or (Pullpiri mode: the
//! ActionController refused the Reconcile, whose reason is in the package's history)
//! `refused<TAB>scenario`.

use alloc::{format, string::String};

use crate::{
    error::NameError,
    name::{PackageName, ScenarioName},
};

/// Prefix of episode records.
pub const EPISODE_PREFIX: &str = "/reconcile/";

/// `/reconcile/{package}`
pub fn episode_key(package: &PackageName) -> String {
    format!("{EPISODE_PREFIX}{package}")
}

/// The package an episode key belongs to; `None` for any other key.
pub fn parse_episode_key(key: &str) -> Option<PackageName> {
    PackageName::new(key.strip_prefix(EPISODE_PREFIX)?).ok()
}

/// Whether the episode's Reconcile has been answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Not yet: the leader sends it (again after a restart or a leader change).
    Owed,
    /// The ActionController answered; never sent again in this episode.
    Delivered,
    /// The ActionController refused it (Pullpiri mode); not sent again in this episode.
    Refused,
}

/// One package's error episode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Episode {
    /// The scenario the Reconcile names.
    pub scenario: ScenarioName,
    pub delivery: Delivery,
}

/// A stored episode value that cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EpisodeError {
    /// Not `owed`, `delivered` or `refused`, a tab, and a scenario name.
    #[error("expected \"owed\", \"delivered\" or \"refused\", a tab and a scenario name")]
    Shape,
    /// The scenario name is invalid.
    #[error(transparent)]
    Name(#[from] NameError),
}

impl Episode {
    /// The stored value.
    pub fn encode(&self) -> String {
        let delivery = match self.delivery {
            Delivery::Owed => "owed",
            Delivery::Delivered => "delivered",
            Delivery::Refused => "refused",
        };
        format!("{delivery}\t{}", self.scenario)
    }

    /// Reads a stored value back.
    pub fn decode(value: &str) -> Result<Episode, EpisodeError> {
        let (delivery, scenario) = value.split_once('\t').ok_or(EpisodeError::Shape)?;
        let delivery = match delivery {
            "owed" => Delivery::Owed,
            "delivered" => Delivery::Delivered,
            "refused" => Delivery::Refused,
            _ => return Err(EpisodeError::Shape),
        };
        Ok(Episode {
            scenario: ScenarioName::new(scenario)?,
            delivery,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn episodes_round_trip() {
        let e = Episode {
            scenario: ScenarioName::new("s1").unwrap(),
            delivery: Delivery::Owed,
        };
        assert_eq!(e.encode(), "owed\ts1");
        assert_eq!(Episode::decode(&e.encode()), Ok(e.clone()));
        assert_eq!(Episode::decode("sent\ts1"), Err(EpisodeError::Shape));
        let refused = Episode {
            delivery: Delivery::Refused,
            ..e.clone()
        };
        assert_eq!(Episode::decode(&refused.encode()), Ok(refused));
        assert_eq!(Episode::decode("owed s1"), Err(EpisodeError::Shape));
        let p = PackageName::new("p").unwrap();
        assert_eq!(parse_episode_key(&episode_key(&p)), Some(p));
        assert_eq!(parse_episode_key("/reconcile/../x"), None);
    }
}
