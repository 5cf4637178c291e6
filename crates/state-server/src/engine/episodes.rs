//! Error episodes and their Reconcile (`docs/contract.md#reconcile`): the record is written
//! with the package state that opens the episode (state-core's write set does that). Here:
//! what the leader owes after a load, and recording a delivery once the ActionController has
//! answered, so that the Reconcile is never sent again in that episode.

use state_core::{
    PackageState,
    episode::{Delivery, Episode, episode_key, parse_episode_key},
    kind::{Resource, State},
    scenario::Component,
    writes::KeyWrite,
};

use super::{Engine, write::Written};
use crate::{
    reconcile::{Delivered, Message},
    store::{Kv, Store},
};

impl<S: Store> Engine<S> {
    /// Notes an episode record read while loading; its Reconcile is sent once the load is done
    /// if it is still owed.
    pub(super) fn load_episode(&mut self, kv: &Kv) {
        let Some(package) = parse_episode_key(&kv.key) else {
            return;
        };
        match Episode::decode(&kv.value) {
            Ok(episode) if episode.delivery == Delivery::Owed => {
                self.owed.push((package, episode, kv.mod_revision));
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(key = %kv.key, error = %e, "ignoring an unreadable error-episode record")
            }
        }
    }

    /// After a load, as leader: asks for every Reconcile still owed, except those answered
    /// whose record is not stored yet.
    pub(super) async fn deliver_owed(&mut self) {
        let owed = std::mem::take(&mut self.owed);
        if !self.leading() {
            return;
        }
        // Answers that arrived while loading are recorded first, so that none is asked again.
        while let Ok(d) = self.delivered.try_recv() {
            self.delivered(d).await;
        }
        for (package, episode, revision) in owed {
            let answered = self
                .marks
                .iter()
                .any(|m| m.package == package && m.episode == revision);
            // The load's repair (or an answer just recorded) may have ended or rewritten it.
            let current = self.revisions.get(episode_key(&package).as_str()) == Some(&revision);
            if answered || !current {
                continue;
            }
            tracing::info!(package = %package, scenario = %episode.scenario, "reconcile owed from an earlier error episode");
            self.reconciler.send(Message::Entered {
                package,
                scenario: episode.scenario,
                episode: revision,
            });
        }
    }

    /// Records that an episode's Reconcile was answered. If the record cannot be stored now, it
    /// is tried again at the next housekeeping round; an episode that has ended meanwhile needs
    /// no record.
    pub(super) async fn delivered(&mut self, delivered: Delivered) {
        if !self.leading() {
            return;
        }
        let key = episode_key(&delivered.package);
        if self.revisions.get(key.as_str()) != Some(&delivered.episode) {
            return;
        }
        let delivery = match delivered.refused {
            None => Delivery::Delivered,
            Some(_) => Delivery::Refused,
        };
        let value = Episode {
            scenario: delivered.scenario.clone(),
            delivery,
        }
        .encode();
        let mut writes = vec![KeyWrite::new(key, Some(value.into()))];
        // A refusal is kept in the package's history with its reason, in the same transaction.
        if let Some(reason) = &delivered.refused {
            let why = format!(
                "Reconcile refused by the ActionController, not sent again in this error episode: {reason}"
            );
            self.noted(
                &Resource::Package(delivered.package.clone()),
                State::Package(PackageState::Error),
                &why,
                Component::ActionController.name(),
                &mut writes,
            );
        }
        match self.commit(writes.iter()).await {
            Ok(Written::All) => {
                tracing::debug!(package = %delivered.package, "reconcile delivery recorded");
            }
            Ok(Written::Conflict) => {}
            Err(e) => {
                tracing::warn!(package = %delivered.package, error = %e, "reconcile delivery not recorded yet; will retry");
                self.marks.push(delivered);
            }
        }
    }

    /// Retries delivery records that could not be stored.
    pub(super) async fn retry_marks(&mut self) {
        for m in std::mem::take(&mut self.marks) {
            self.delivered(m).await;
        }
    }
}
