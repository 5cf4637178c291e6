//! The metrics endpoint (`--metrics-listen`): a real scrape whose values move with traffic,
//! the probes, and the example Grafana dashboard, every metric of which a scrape holds.

use std::time::Duration;

use crate::{
    common::{eventually, free_port, http_get as get},
    harness::{Harness, dead, running},
};

/// The example dashboard, shipped in the repository.
const DASHBOARD: &str = include_str!("../../../../deploy/grafana/statemanager.json");

/// The value of the series that starts with `series` (name and labels), 0 if absent.
pub(crate) fn value(scrape: &str, series: &str) -> f64 {
    scrape
        .lines()
        .filter(|l| l.starts_with(series))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test]
async fn a_real_scrape_moves_with_traffic_and_covers_the_dashboard() {
    let port = free_port();
    let mut h = Harness::start_with(|cfg| {
        cfg.metrics_listen = Some(([127, 0, 0, 1], port).into());
    })
    .await;
    h.report("n1", vec![running("m_a")]).await;
    eventually(Duration::from_secs(5), "/readyz answers 200", || async {
        (get(port, "/readyz").await.0 == 200).then_some(())
    })
    .await;
    assert_eq!(get(port, "/healthz").await.0, 200);

    let (code, before) = get(port, "/metrics").await;
    assert_eq!(code, 200);
    let reports = r#"statemanager_requests_total{rpc="SendChangedContainerList",outcome="ok"}"#;
    let running_models = r#"statemanager_resources{kind="model",state="running"}"#;
    assert_eq!(value(&before, running_models), 1.0, "{before}");
    h.report("n1", vec![running("m_a"), dead("m2_a")]).await;
    h.report("n2", vec![running("m3_a")]).await;
    let (_, after) = get(port, "/metrics").await;
    assert_eq!(
        value(&after, reports) - value(&before, reports),
        2.0,
        "{after}"
    );
    assert_eq!(value(&after, running_models), 2.0);
    assert_eq!(
        value(
            &after,
            r#"statemanager_resources{kind="model",state="dead"}"#
        ),
        1.0
    );
    assert!(
        value(
            &after,
            r#"statemanager_store_transactions_total{outcome="applied"}"#
        ) > value(
            &before,
            r#"statemanager_store_transactions_total{outcome="applied"}"#
        )
    );
    assert_eq!(value(&after, "statemanager_leader"), 1.0);
    // Elected at start with no other daemon about: the fleet was loaded once, as the leader,
    // not as a follower and then again.
    assert_eq!(value(&after, "statemanager_reloads_total"), 1.0, "{after}");
    assert_eq!(value(&after, "statemanager_store_up"), 1.0);

    // A refusal counts under its code.
    let _ = h
        .client
        .send_changed_container_list(crate::harness::list("../bad", vec![]))
        .await;
    let (_, refused) = get(port, "/metrics").await;
    assert_eq!(
        value(
            &refused,
            r#"statemanager_requests_total{rpc="SendChangedContainerList",outcome="invalid_argument"}"#
        ),
        1.0
    );

    // Every metric the example dashboard queries is in a real scrape.
    let mut names: Vec<&str> = DASHBOARD
        .match_indices("statemanager_")
        .map(|(i, _)| {
            let rest = &DASHBOARD[i..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    assert!(names.len() >= 10, "{names:?}");
    for name in names {
        assert!(
            refused.lines().any(|l| l.starts_with(name)),
            "the dashboard queries {name}, which no scrape holds"
        );
    }
    h.stop().await;
}
