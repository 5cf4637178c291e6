//! Any bytes as a NodeAgent's `ContainerList`: decode, validate, plan on a fleet with
//! topology, commit, and build the store writes. Nothing may panic, and a plan must apply.
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use state_core::{
    container::Limits,
    fleet::{Event, Fleet},
    name::{ModelName, PackageName, ScenarioName},
    writes::WriteSet,
};
use state_server::{convert, pb::monitoringserver::ContainerList};

fuzz_target!(|data: &[u8]| {
    let Ok(list) = ContainerList::decode(data) else {
        return;
    };
    let Ok(valid) = convert::container_list(&list, &Limits::default()) else {
        return;
    };
    let mut fleet = Fleet::new();
    let name = |s: &str| ModelName::new(s).expect("name");
    fleet.apply_event(&Event::PutPackage {
        package: PackageName::new("p").expect("name"),
        models: vec![name("m"), name("nginx")],
    });
    fleet.apply_event(&Event::PutScenario {
        scenario: ScenarioName::new("s").expect("name"),
        target: Some(PackageName::new("p").expect("name")),
    });
    let event = Event::NodeReport {
        node: valid.node,
        containers: valid.containers,
    };
    // Twice: the second time against what the first one left.
    for _ in 0..2 {
        let plan = fleet.plan(&event);
        let _ = WriteSet::of(&plan.changes);
        fleet.commit(plan).expect("a fresh plan applies");
    }
});
