//! Hostile artifacts (`docs/contract.md#applyartifacts`): a YAML document whose anchors and
//! aliases expand to millions of nodes is refused within its budget, through `ApplyArtifacts`
//! and when it is written straight into etcd; other callers are answered meanwhile, and a
//! daemon starts while such a key is stored.

use std::time::{Duration, Instant};

use state_server::pb::statemanager::ApplyArtifactsRequest;

use crate::harness::{Harness, running};

/// A Package of about 160 KB whose model list expands, through one anchor aliased 20,000
/// times, to some six million YAML nodes.
fn bomb() -> String {
    let base: Vec<String> = (0..100).map(|i| format!("{{name: m{i}}}")).collect();
    let mut yaml = format!(
        "kind: Package\nmetadata:\n  name: bomb\nbase: &a [{}]\nspec:\n  models:\n",
        base.join(", ")
    );
    for _ in 0..20_000 {
        yaml.push_str("    - *a\n");
    }
    yaml
}

/// A few hundred bytes that the YAML reader's own alias limit stops before the budget does.
fn laughs() -> String {
    let mut yaml =
        String::from("kind: Package\nmetadata:\n  name: laughs\nx0: &x0 [{name: m}, {name: m}]\n");
    for i in 1..=21 {
        yaml.push_str(&format!("x{i}: &x{i} [*x{}, *x{}]\n", i - 1, i - 1));
    }
    yaml.push_str("spec:\n  models: *x21\n");
    yaml
}

#[tokio::test]
async fn an_alias_bomb_is_refused_within_budget_and_others_are_served() {
    let mut h = Harness::start().await;
    let mut client = h.client.clone();
    let refused = tokio::spawn(async move {
        client
            .apply_artifacts(ApplyArtifactsRequest { yaml: bomb() })
            .await
    });
    let asked = Instant::now();
    h.report("n1", vec![running("m_a")]).await;
    let waited = asked.elapsed();
    #[allow(clippy::print_stderr)]
    {
        eprintln!("a report sent beside the bomb was answered after {waited:?}");
    }
    let e = refused
        .await
        .expect("task")
        .expect_err("the bomb is refused");
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    assert!(
        e.message().contains("the limit is 100000"),
        "{}",
        e.message()
    );
    assert_eq!(h.etcd.value("Package/bomb").await, None, "nothing applied");
    let e = h
        .client
        .apply_artifacts(ApplyArtifactsRequest { yaml: laughs() })
        .await
        .expect_err("refused by the reader's own limit");
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    h.stop().await;
}

#[tokio::test]
async fn an_alias_bomb_stored_in_etcd_is_skipped_and_the_daemon_serves() {
    let mut h = Harness::start().await;
    h.etcd
        .client()
        .await
        .put("Package/bomb", bomb(), None)
        .await
        .expect("outside put");
    // The watch reads it, skips it with a warning, and the daemon goes on.
    tokio::time::sleep(Duration::from_millis(300)).await;
    h.report("n1", vec![running("m_a")]).await;
    h.assert_stored("/container/m_a/state", "running").await;

    // A daemon starting while the key is stored comes up.
    let (etcd, ac) = h.stop_daemon().await;
    let h = Harness::on(etcd, ac).await;
    h.report_when_serving(Duration::from_secs(10), "n1", vec![running("m_b")])
        .await;
    h.assert_stored("/container/m_b/state", "running").await;
    h.stop().await;
}
