//! Any text as artifact YAML: parse every document within the budget, and apply the topology
//! of those that read. Nothing may panic, and no input may take more than the budget allows.
#![no_main]

use libfuzzer_sys::fuzz_target;
use state_core::fleet::Fleet;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut fleet = Fleet::new();
    for parsed in state_artifact::parse(&text).into_iter().flatten() {
        if let Some(event) = parsed.artifact.event() {
            fleet.apply_event(&event);
        }
        // What is stored reads back the same.
        let again = state_artifact::parse_one(&parsed.yaml).expect("a stored document reads back");
        assert_eq!(again.artifact, parsed.artifact);
    }
});
