//! A daemon on a 3-member etcd cluster (`--etcd-endpoints` naming all three) while the raft
//! leader member is killed in the middle of a report stream: no acknowledged write is lost,
//! and at most a handful of requests are refused (`docs/contract.md#outages`).

use std::collections::BTreeMap;

use crate::{
    common::{ActionController, checker::check_stored, cluster::EtcdCluster, dump},
    harness::{dead, list, running},
    replica::Replica,
};

#[tokio::test]
async fn losing_the_etcd_leader_loses_nothing_acknowledged() {
    let mut cluster = EtcdCluster::start().await;
    let ac = ActionController::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let daemon = Replica::start(&cluster.urls(), &ac.url(), dir.path(), "r0").await;
    let mut client = daemon.client().await;
    let mut acked = BTreeMap::new();
    let mut refused = 0;
    let mut last_refusal = String::new();
    for i in 0..60usize {
        if i == 20 {
            let leader = cluster.leader().await;
            cluster.kill(leader);
        }
        let node = format!("n{}", i % 5);
        let name = format!("m{}_a", i % 5);
        let (containers, state) = if (i / 5).is_multiple_of(2) {
            (vec![running(&name)], "running")
        } else {
            (vec![dead(&name)], "dead")
        };
        match client
            .send_changed_container_list(list(&node, containers))
            .await
        {
            Ok(_) => {
                acked.insert(name, state);
            }
            Err(e) => {
                refused += 1;
                last_refusal = e.message().to_owned();
            }
        }
    }
    // Reported, not asserted exactly: how many depends on when the member dies.
    #[allow(clippy::print_stderr)]
    {
        eprintln!("reports refused while etcd elected a new leader: {refused} of 60");
    }
    assert!(
        refused <= 5,
        "{refused} reports refused while etcd elected a new leader; the last: {last_refusal}\n{}",
        daemon.log_text()
    );
    let stored = dump(&mut cluster.client().await).await;
    for (name, state) in &acked {
        let key = format!("/container/{name}/state");
        let value = stored
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, v, _)| v.as_str());
        // A refused report may still have been applied, so a later state is possible only for
        // a container whose last report was refused; this stream never refuses the last ones.
        assert_eq!(value, Some(*state), "{key}");
    }
    check_stored(&stored, &[]);
    drop(daemon);
}
