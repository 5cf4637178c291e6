//! Any bytes as a `StateChange`: decode, validate, decide against a fleet whose scenario has a
//! state, and apply the decision. Nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use state_core::{
    ScenarioState,
    change::validate,
    fleet::{Event, Fleet},
    name::{PackageName, ScenarioName},
};
use state_server::{convert, pb::statemanager::StateChange};

fuzz_target!(|data: &[u8]| {
    let Ok(sc) = StateChange::decode(data) else {
        return;
    };
    let Ok(change) = validate(&convert::change_request(&sc)) else {
        return;
    };
    let mut fleet = Fleet::new();
    fleet.apply_event(&Event::PutScenario {
        scenario: ScenarioName::new("s").expect("name"),
        target: Some(PackageName::new("p").expect("name")),
    });
    fleet.apply_event(&Event::SetScenario {
        scenario: ScenarioName::new("s").expect("name"),
        state: ScenarioState::Idle,
    });
    for strict in [false, true] {
        if let Ok(decision) = change.decide(&fleet, &sc.source, strict) {
            let mut after = fleet.clone();
            after.apply_event(&decision.event);
        }
    }
});
