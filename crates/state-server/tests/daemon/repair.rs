//! No half-written plans (ARCHITECTURE.md, "No half-written plans"): a plan split over several
//! transactions whose later transaction fails leaves etcd half-written; the engine reloads
//! before it answers anything else and writes what the stored containers call for. The store
//! here is real etcd behind a wrapper that fails transactions on request.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use state_core::{
    ContainerState, ModelState,
    container::ReportedContainer,
    kind::{Resource, State},
    name::{ContainerName, ModelName, NodeName},
};
use state_server::{
    engine::{Command, Engine, EngineConfig, EngineError, EngineHandle},
    leader::Role,
    reconcile::{Backoff, Reconciler},
    store::{Committed, Kv, Snapshot, Store, StoreError, WatchEvent, Write, etcd::EtcdStore},
};
use tokio::{sync::mpsc, time::Instant};

use crate::common::{ActionController, Etcd, checker::check_consistent};

/// etcd, except that from the `fail_at`-th transaction on, transactions fail (unapplied)
/// until `until`.
struct Faulty {
    inner: EtcdStore,
    commits: AtomicUsize,
    fail_at: AtomicUsize,
    fail_for: Mutex<Duration>,
    until: Mutex<Option<Instant>>,
}

#[derive(Debug, thiserror::Error)]
#[error("injected failure")]
struct Injected;

impl Faulty {
    /// Fails the transaction after the next one, and every one for `fail_for` after it.
    fn fail_second_from_now(&self, fail_for: Duration) {
        *self.fail_for.lock().expect("lock") = fail_for;
        let n = self.commits.load(Ordering::SeqCst);
        self.fail_at.store(n + 1, Ordering::SeqCst);
    }
}

impl Store for Faulty {
    fn name(&self) -> &'static str {
        "faulty etcd"
    }
    async fn load(&self, prefix: &str) -> Result<Snapshot, StoreError> {
        self.inner.load(prefix).await
    }
    async fn get(&self, key: &str) -> Result<Option<Kv>, StoreError> {
        self.inner.get(key).await
    }
    async fn commit(&self, write: &Write) -> Result<Committed, StoreError> {
        let n = self.commits.fetch_add(1, Ordering::SeqCst);
        let now = Instant::now();
        {
            let mut until = self.until.lock().expect("lock");
            if n == self.fail_at.load(Ordering::SeqCst) {
                *until = Some(now + *self.fail_for.lock().expect("lock"));
            }
            if until.is_some_and(|u| now < u) {
                return Err(StoreError::unavailable("injected", Injected));
            }
        }
        self.inner.commit(write).await
    }
    async fn watch(
        &self,
        prefix: &str,
        from: i64,
        events: mpsc::Sender<WatchEvent>,
    ) -> Result<(), StoreError> {
        self.inner.watch(prefix, from, events).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}

fn containers(state: ContainerState) -> Vec<ReportedContainer> {
    ["m1_a", "m1_b", "m1_c"]
        .into_iter()
        .map(|c| ReportedContainer {
            name: ContainerName::new(c).expect("name"),
            state,
            model: Some(ModelName::new("m1").expect("name")),
            package: None,
        })
        .collect()
}

async fn report(engine: &EngineHandle, state: ContainerState) -> Result<(), EngineError> {
    engine
        .call(Duration::from_secs(10), |reply| Command::Report {
            received: 0,
            node: NodeName::new("n1").expect("name"),
            containers: containers(state),
            reply,
        })
        .await?
        .map(|_| ())
}

#[tokio::test]
async fn a_split_write_that_fails_halfway_is_repaired() {
    let etcd = Etcd::start().await;
    let ac = ActionController::start().await;
    let store = Arc::new(Faulty {
        inner: EtcdStore::connect(&[etcd.url()], Duration::from_secs(2))
            .await
            .expect("connect"),
        commits: AtomicUsize::new(0),
        fail_at: AtomicUsize::new(usize::MAX),
        fail_for: Mutex::new(Duration::ZERO),
        until: Mutex::new(None),
    });
    let channel = tonic::transport::Endpoint::from_shared(ac.url())
        .expect("url")
        .connect_lazy();
    let reconcile = Reconciler::start(
        channel,
        Backoff::default(),
        state_server::metrics::Metrics::new(),
    );
    let cfg = EngineConfig {
        // Three containers and their model: four writes, so two transactions.
        max_txn_ops: 3,
        store_deadline: Duration::from_secs(1),
        ..EngineConfig::default()
    };
    let (health, _) = tonic_health::server::health_reporter();
    // Alone on its etcd: the leader, with no fence.
    let (_role_tx, roles) = tokio::sync::watch::channel(Role::Leader(None));
    let (engine, task, commands) = Engine::new(store.clone(), reconcile, roles, health, cfg);
    tokio::spawn(task.run(commands));
    report(&engine, ContainerState::Running)
        .await
        .expect("first list stored");
    assert_eq!(
        etcd.value("/model/m1/state").await.as_deref(),
        Some(ModelState::Running.stored())
    );

    // The containers die; the second transaction (the model) fails for longer than the
    // request may wait. The list is refused, and etcd is left half-written for a moment.
    store.fail_second_from_now(Duration::from_millis(1500));
    let refused = report(&engine, ContainerState::Dead).await;
    assert!(
        matches!(refused, Err(EngineError::Unavailable(_))),
        "{refused:?}"
    );
    assert_eq!(
        etcd.value("/container/m1_a/state").await.as_deref(),
        Some(ContainerState::Dead.stored()),
        "the first transaction was stored"
    );

    // Once the store takes writes again, the engine repairs etcd before answering.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let model = engine
        .call(Duration::from_secs(10), |reply| Command::Get {
            resource: Resource::Model(ModelName::new("m1").expect("name")),
            reply,
        })
        .await
        .expect("answered")
        .expect("state");
    assert_eq!(model, Some(State::Model(ModelState::Dead)));
    assert_eq!(
        etcd.value("/model/m1/state").await.as_deref(),
        Some(ModelState::Dead.stored()),
        "the model was not repaired"
    );
    assert_eq!(check_consistent(&etcd, &[]).await, 1);

    // A failure that passes within the deadline: the list is stored whole and acknowledged.
    store.fail_second_from_now(Duration::from_millis(300));
    report(&engine, ContainerState::Running)
        .await
        .expect("stored after a retry");
    assert_eq!(
        etcd.value("/model/m1/state").await.as_deref(),
        Some(ModelState::Running.stored())
    );
    assert_eq!(check_consistent(&etcd, &[]).await, 1);
}
