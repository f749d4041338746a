//! The whole system, as in production: the five operators as separate
//! processes, each as its own ServiceAccount under the roles of its
//! `manifests/<operator>/` with leader election (`e2e::system`). A KVM guest
//! cluster goes from `kubectl apply` to Ready (certificates, network config
//! in etcd, flanneld DaemonSet, ingress entries, VM pods, status) and is
//! deleted to nothing (no object labelled with it or named after it, no
//! finalizer of ours anywhere, no etcd key, no ingress entry, no
//! CertConfig); an AWS guest cluster the same against moto (nothing of
//! it left, `System::aws_leftovers`). Two replicas of each operator with their
//! leaders killed (the API server's write log shows every write coming from
//! the Lease holder of the time); ten guest clusters and five minutes
//! without a write;
//! guest clusters coming and going while operator processes and the API
//! server (then a process with its data on disk) are killed at random.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use apiextensions::certificates::{KUBECONFIG_KEY, kubeconfig_secret_name};
use apiextensions::{AWSConfig, CertConfig, FlannelConfig, IngressConfig, KVMConfig};
use e2e::support::NamespacedKind;
use e2e::system::{OPERATORS, Options, System, wait_empty};
use e2e::{aws, flannel, ingress, kvm};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::ListParams;
use kube::{Api, ResourceExt};

/// How long a guest cluster may take to come up or go away here: five
/// processes share two cores with the server and the simulation.
const WAIT: Duration = Duration::from_secs(180);

/// Waits until `name` of kind `K` satisfies `done` (up to [`WAIT`]).
async fn wait_until<K: NamespacedKind>(
    system: &System,
    name: &str,
    what: &str,
    done: impl Fn(Option<&K>) -> bool,
) -> Option<K> {
    system.wait_until(name, what, WAIT, done).await
}

/// `kubectl delete <resource> <name>`, and waits until it is gone.
async fn delete<K: NamespacedKind>(system: &System, resource: &str, name: &str) {
    system.delete::<K>(resource, name, WAIT).await;
}

/// The guest's admin kubeconfig (Secret `<cluster>-kubeconfig`): a
/// kubeconfig naming the guest's API server with a client certificate.
async fn guest_kubeconfig(system: &System, cluster: &str) {
    let secret = system
        .env
        .api::<Secret>()
        .get(&kubeconfig_secret_name(cluster))
        .await
        .unwrap();
    let text = &secret.data.unwrap()[KUBECONFIG_KEY].0;
    let file: kube::config::Kubeconfig = serde_yaml::from_slice(text).unwrap();
    let server = file.clusters[0].cluster.as_ref().unwrap().server.clone();
    assert!(server.is_some_and(|s| s.starts_with("https://")));
    let user = file.auth_infos[0].auth_info.as_ref().unwrap();
    assert!(user.client_certificate_data.is_some() && user.client_key_data.is_some());
}

fn ready<K: apiextensions::OperatorStatus>(status: Option<&K>) -> bool {
    status.is_some_and(|s| s.is_ready())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kvm_guest_cluster_comes_up_from_kubectl_apply_and_goes_without_a_trace() {
    let system = System::start(Options::default()).await;
    let env = &system.env;
    let cluster = kvm::cluster_id(env, "sys");
    let name = env.name("kvm");
    let mut config = kvm::kvm_config(&name, &cluster, 301, &["m1"], &["w1", "w2"], &[31300]);
    config.metadata.namespace = Some(env.namespace().to_owned());
    system.apply(&config);

    let up = wait_until::<KVMConfig>(&system, &name, "Ready", |c| {
        ready(c.and_then(|c| c.status.as_ref()))
            && c.and_then(|c| c.status.as_ref())
                .and_then(|s| s.observed_generation)
                == c.and_then(|c| c.metadata.generation)
    })
    .await
    .unwrap();
    let status = up.status.as_ref().unwrap();
    assert_eq!(
        (status.ready_masters, status.ready_workers),
        (Some(1), Some(2))
    );
    assert!(
        status
            .nodes
            .iter()
            .all(|n| n.ready && n.phase.as_deref() == Some("Running")),
        "{:?}",
        status.nodes
    );

    // Certificates: every CertConfig Ready, each Secret with the three keys.
    let certs = env
        .api::<CertConfig>()
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    assert_eq!(
        certs.len(),
        6,
        "{:?}",
        certs.iter().map(|c| c.name_any()).collect::<Vec<_>>()
    );
    for c in &certs {
        assert!(ready(c.status.as_ref()), "{} not Ready", c.name_any());
        let secret = env.api::<Secret>().get(&c.name_any()).await.unwrap();
        let data = secret.data.unwrap_or_default();
        for key in ["ca.crt", "tls.crt", "tls.key"] {
            assert!(data.contains_key(key), "{} has no {key}", c.name_any());
        }
    }
    // The network: flannel-operator's config in etcd, flanneld on every node.
    let flannel_config = env.api::<FlannelConfig>().get(&cluster).await.unwrap();
    assert!(ready(flannel_config.status.as_ref()));
    let mut etcd = flannel::client(&system.etcd).await;
    let (network, _) = flannel::get(&mut etcd, &flannel::config_key(&cluster))
        .await
        .expect("the network config in etcd");
    assert!(network.contains("\"VNI\":301"), "{network}");
    let daemonsets: Api<DaemonSet> = Api::namespaced(
        env.client(),
        &flannel_operator::network::namespace_name(&cluster),
    );
    let flanneld = daemonsets.get("flanneld").await.unwrap();
    let ds = flanneld.status.unwrap();
    assert_eq!((ds.desired_number_scheduled, ds.number_ready), (3, 3));
    // The ingress: the API, etcd and port mapping entries of the cluster.
    let ingress_config = env.api::<IngressConfig>().get(&cluster).await.unwrap();
    assert!(ready(ingress_config.status.as_ref()));
    let mut entries = ingress::entries(env, ingress::TCP).await;
    entries.extend(ingress::entries(env, ingress::UDP).await);
    let mine = entries.values().filter(|t| t.contains(&cluster)).count();
    assert_eq!(
        mine,
        ingress_config.spec.protocol_ports.len(),
        "{entries:?}"
    );
    // The VMs: one Running pod per node in the cluster's namespace.
    let pods: Api<Pod> = Api::namespaced(env.client(), &cluster);
    let running = pods.list(&ListParams::default()).await.unwrap().items;
    let phases: Vec<_> = running
        .iter()
        .map(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(
        phases,
        ["Running"; 3],
        "{:?}",
        running.iter().map(|p| p.name_any()).collect::<Vec<_>>()
    );
    // The admin kubeconfig of the guest.
    guest_kubeconfig(&system, &cluster).await;

    delete::<KVMConfig>(&system, "kvmconfig", &name).await;
    wait_empty(&system, "the guest cluster", WAIT, || {
        system.leftovers(&cluster)
    })
    .await;
    let certconfigs = Api::<CertConfig>::all(env.client())
        .list(&ListParams::default())
        .await
        .unwrap();
    assert!(certconfigs.items.is_empty(), "CertConfigs left");
    assert_eq!(system.exited(), Vec::<String>::new(), "no operator exited");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_aws_guest_cluster_comes_up_against_moto_and_goes_without_a_trace() {
    let system = System::start(Options::default()).await;
    let env = &system.env;
    let cluster = aws::cluster_id(env, "sys");
    let name = env.name("aws");
    let secret = env.name("aws-creds");
    aws::credentials(env, &secret, &aws::moto_credentials()).await;
    system.apply(&aws::aws_config(env, &name, &cluster, &secret));

    let up = wait_until::<AWSConfig>(&system, &name, "Ready", |c| {
        ready(c.and_then(|c| c.status.as_ref()))
    })
    .await
    .unwrap();
    assert!(up.status.is_some());
    let certs = env
        .api::<CertConfig>()
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    assert!(!certs.is_empty() && certs.iter().all(|c| ready(c.status.as_ref())));
    let before = system.aws_leftovers(&cluster).await;
    assert!(
        before.iter().any(|l| l.starts_with("stack "))
            && before.iter().any(|l| l.starts_with("vpc ")),
        "the cluster's stack and VPC in moto: {before:?}"
    );
    guest_kubeconfig(&system, &cluster).await;

    delete::<AWSConfig>(&system, "awsconfig", &name).await;
    wait_empty(&system, "the AWS guest cluster in moto", WAIT, || {
        system.aws_leftovers(&cluster)
    })
    .await;
    wait_empty(&system, "the AWS guest cluster in the API", WAIT, || {
        e2e::system::api_leftovers(env, &cluster)
    })
    .await;
    assert_eq!(system.exited(), Vec::<String>::new(), "no operator exited");
    system.stop().await;
}

/// Writes of every operator to the API server (Lease renewals apart), to
/// etcd and to AWS (through the counting proxy in front of moto), at one
/// moment.
struct Writes {
    api: BTreeMap<String, BTreeMap<String, u64>>,
    etcd: f64,
    aws: usize,
}

impl Writes {
    async fn now(system: &System) -> Self {
        let api = OPERATORS
            .iter()
            .map(|op| {
                (
                    op.to_string(),
                    system.api_writes(op, None).unwrap_or_default(),
                )
            })
            .collect();
        let etcd = system.etcd.metrics().await.unwrap().writes;
        let aws = system
            .aws
            .calls()
            .iter()
            .filter(|(action, _)| e2e::aws_proxy::is_write(action))
            .map(|(_, n)| n)
            .sum();
        Self { api, etcd, aws }
    }

    /// What was written since `before`: API writes by operator and
    /// resource (Leases apart), etcd keys put or deleted, AWS write calls;
    /// and the Lease renewals.
    fn since(&self, before: &Self) -> (Vec<String>, f64, usize, u64) {
        let mut api = Vec::new();
        let mut leases = 0;
        for (op, writes) in &self.api {
            for (resource, n) in writes {
                let was = before
                    .api
                    .get(op)
                    .and_then(|w| w.get(resource))
                    .copied()
                    .unwrap_or(0);
                if *n == was {
                    continue;
                }
                if resource == "leases" {
                    leases += n - was;
                } else {
                    api.push(format!("{op} {resource}: {}", n - was));
                }
            }
        }
        (api, self.etcd - before.etcd, self.aws - before.aws, leases)
    }
}

/// How long the steady state is watched.
const STEADY: Duration = Duration::from_secs(300);

#[tokio::test(flavor = "multi_thread")]
async fn ten_ready_guest_clusters_cost_no_write_for_five_minutes() {
    let system = System::start(Options::default()).await;
    let env = &system.env;
    let started = tokio::time::Instant::now();
    let mut kvm = Vec::new();
    for i in 0..8 {
        let cluster = kvm::cluster_id(env, "st");
        let name = env.name("kvm");
        let config = kvm::kvm_config(&name, &cluster, 400 + i, &["m1"], &["w1"], &[31400 + i]);
        kvm::create(env, &config).await;
        kvm.push(name);
    }
    let secret = env.name("aws-creds");
    aws::credentials(env, &secret, &aws::moto_credentials()).await;
    let mut aws_names = Vec::new();
    for _ in 0..2 {
        let name = env.name("aws");
        aws::create(
            env,
            &aws::aws_config(env, &name, &aws::cluster_id(env, "st"), &secret),
        )
        .await;
        aws_names.push(name);
    }
    for name in &kvm {
        wait_until::<KVMConfig>(&system, name, "Ready", |c| {
            ready(c.and_then(|c| c.status.as_ref()))
        })
        .await;
    }
    for name in &aws_names {
        wait_until::<AWSConfig>(&system, name, "Ready", |c| {
            ready(c.and_then(|c| c.status.as_ref()))
        })
        .await;
    }
    let up = started.elapsed();
    // What is still in flight when the last cluster turns Ready (a status
    // written a moment after) settles first; it is reported, not hidden.
    let ready_at = Writes::now(&system).await;
    tokio::time::sleep(Duration::from_secs(20)).await;
    let before = Writes::now(&system).await;
    let settling = before.since(&ready_at);
    tokio::time::sleep(STEADY).await;
    let after = Writes::now(&system).await;
    let (api, etcd, aws_writes, leases) = after.since(&before);
    eprintln!(
        "10 guest clusters Ready in {up:?}; in the 20 s after: {settling:?}; \
         in {STEADY:?} of steady state: API writes {api:?}, etcd writes {etcd}, \
         AWS writes {aws_writes}, Lease renewals {leases}"
    );
    assert_eq!(
        (api, etcd, aws_writes),
        (Vec::<String>::new(), 0.0, 0),
        "writes in steady state (API by operator and resource, etcd, AWS)\n{}",
        system.logs()
    );
    assert!(leases > 0, "the leaders renew their Leases");
    assert_eq!(system.exited(), Vec::<String>::new(), "no operator exited");
    system.stop().await;
}

/// client-go's proportions, as operatorkit sets them from
/// `--lease-duration` (15 s by default): a standby tries every seventh of
/// the lease.
const LEASE: Duration = Duration::from_secs(15);
const RETRY: Duration = Duration::from_millis(15_000 / 7);

#[tokio::test(flavor = "multi_thread")]
async fn with_two_replicas_of_each_operator_killing_the_leaders_hands_over_and_only_leaders_write()
{
    let system = System::start(Options {
        replicas: 2,
        ..Options::default()
    })
    .await;
    let env = &system.env;
    let cluster = kvm::cluster_id(env, "le");
    let name = env.name("kvm");
    kvm::create(
        env,
        &kvm::kvm_config(&name, &cluster, 350, &["m1"], &["w1"], &[31350]),
    )
    .await;
    wait_until::<KVMConfig>(&system, &name, "Ready", |c| {
        ready(c.and_then(|c| c.status.as_ref()))
    })
    .await;

    let mut leaders = BTreeMap::new();
    for op in OPERATORS {
        let leader = system
            .leader(op)
            .await
            .unwrap_or_else(|| panic!("{op} has no leader"));
        leaders.insert(op, leader);
    }
    assert!(
        ["cert-operator", "flannel-operator", "kvm-operator"]
            .iter()
            .all(|op| non_lease(system.api_writes(op, Some(&leaders[op])).unwrap()) > 0),
        "the leaders did the work"
    );

    // kill -9 every leader at once; each standby takes over once the
    // Lease expires: within the lease duration of the last renewal plus
    // one retry period of the kill.
    let killed_at = tokio::time::Instant::now();
    for leader in leaders.values() {
        system.kill(leader);
    }
    let mut handovers = BTreeMap::new();
    while handovers.len() < OPERATORS.len() {
        for op in OPERATORS {
            if handovers.contains_key(op) {
                continue;
            }
            if let Some(now) = system.leader(op).await.filter(|l| *l != leaders[op]) {
                handovers.insert(op, (now, killed_at.elapsed()));
            }
        }
        assert!(
            killed_at.elapsed() < LEASE + RETRY + Duration::from_secs(5),
            "no handover within {:?}: {handovers:?}\n{}",
            LEASE + RETRY,
            system.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("handovers after kill -9 of every leader: {handovers:?}");
    for (op, (_, took)) in &handovers {
        assert!(
            *took <= LEASE + RETRY + Duration::from_secs(1),
            "{op} took {took:?}"
        );
    }

    // The new leaders work (the cluster goes away); a replica started
    // beside them stays a standby and writes nothing.
    let mut standbys = Vec::new();
    for op in OPERATORS {
        standbys.push((op, system.start_replica(op).await));
    }
    delete::<KVMConfig>(&system, "kvmconfig", &name).await;
    wait_empty(&system, "the guest cluster", WAIT, || {
        system.leftovers(&cluster)
    })
    .await;
    for (op, standby) in &standbys {
        let writes = non_lease(system.api_writes(op, Some(standby)).unwrap());
        assert_eq!(
            writes, 0,
            "{standby} wrote while {} led {op}",
            handovers[op].0
        );
        assert_eq!(
            system.leader(op).await.as_deref(),
            Some(handovers[op].0.as_str())
        );
    }
    for op in OPERATORS {
        let terms = system
            .terms(op)
            .expect("the embedded server keeps its writes");
        only_the_holder_writes(op, &terms, [&leaders[op], &handovers[op].0]);
    }
    assert_eq!(system.exited(), Vec::<String>::new(), "no operator exited");
    system.stop().await;
}

/// From the API server's write log: `op` had exactly the terms of
/// `holders` (replica names), every write apart from the Lease came from
/// the replica holding it then, and no object was written by two replicas
/// in one term.
fn only_the_holder_writes(op: &str, terms: &e2e::terms::Terms, holders: [&String; 2]) {
    eprintln!(
        "{op}: terms held by {:?}; writes by (field manager, identity): {:?}",
        terms.holders, terms.by_manager_and_identity
    );
    assert_eq!(
        terms.outside_term,
        Vec::<String>::new(),
        "{op}: written outside the writer's term"
    );
    assert_eq!(
        terms.shared,
        Vec::<String>::new(),
        "{op}: written by two replicas in one term"
    );
    let replicas: Vec<_> = terms
        .holders
        .iter()
        .map(|instance| {
            instance
                .rsplit_once('-')
                .map_or(instance.as_str(), |(r, _)| r)
        })
        .collect();
    assert_eq!(
        replicas, holders,
        "{op}: one term before the kill, one after"
    );
}

/// Writes apart from Leases.
fn non_lease(writes: BTreeMap<String, u64>) -> u64 {
    writes
        .iter()
        .filter(|(resource, _)| *resource != "leases")
        .map(|(_, n)| n)
        .sum()
}

/// The seed of the chaos test: `CHAOS_SEED`, else a fresh one (printed, so
/// that a failure can be replayed with it).
fn chaos_seed() -> u64 {
    std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..))
}

/// How many operator processes the chaos test kills: `CHAOS_KILLS`, else
/// 12 (`cargo xtask chaos` asks for 100).
fn chaos_kills() -> usize {
    std::env::var("CHAOS_KILLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12)
}

/// How many guest clusters come and go during the chaos test (every fifth
/// on AWS, the others KVM): `CHAOS_CLUSTERS`, else 4 (`cargo xtask chaos`
/// asks for 10).
fn chaos_clusters() -> usize {
    std::env::var("CHAOS_CLUSTERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(4)
}

/// Creates `object`, awaits `up`, deletes `object`: each request tried
/// again (for up to [`WAIT`]) while it fails, as while the API server
/// restarts; a create or delete that took effect before its answer was
/// lost counts as done.
async fn create_and_delete<K, F>(system: &System, object: &K, up: impl FnOnce() -> F)
where
    K: NamespacedKind,
    F: std::future::Future,
{
    let api = system.env.api::<K>();
    let name = object.name_any();
    retry(&format!("creating {name}"), || async {
        match api.create(&Default::default(), object).await {
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
            done => done.map(drop),
        }
    })
    .await;
    up().await;
    retry(&format!("deleting {name}"), || async {
        match api.delete(&name, &Default::default()).await {
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            done => done.map(drop),
        }
    })
    .await;
}

/// Calls `call` until it succeeds, for up to [`WAIT`], as long as it fails
/// as a restarting server makes it fail (no connection, 5xx, 429).
async fn retry<F>(what: &str, call: impl Fn() -> F)
where
    F: std::future::Future<Output = Result<(), kube::Error>>,
{
    let transient = |e: &kube::Error| match e {
        kube::Error::Api(status) => status.code >= 500 || status.code == 429,
        _ => true,
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match call().await {
            Ok(()) => return,
            Err(e) if transient(&e) && tokio::time::Instant::now() < deadline => {
                eprintln!("{what}: {e}; trying again");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

/// A guest cluster of the chaos test: its object's name and cluster ID.
enum Guest {
    Kvm(String, String),
    Aws(String, String),
}

impl Guest {
    /// The `i`th guest cluster: every fifth (from the fourth) on AWS.
    fn nth(env: &operatorkit::testing::TestEnv, i: usize) -> Self {
        if i % 5 == 3 {
            Self::Aws(env.name("aws"), aws::cluster_id(env, "ch"))
        } else {
            Self::Kvm(env.name("kvm"), kvm::cluster_id(env, "ch"))
        }
    }

    /// Creates it, waits until it is Ready, deletes it (without waiting
    /// for it to go). Requests are tried again while the API server
    /// restarts.
    async fn come_and_go(&self, system: &System, i: usize, credentials: &str) {
        let env = &system.env;
        match self {
            Self::Kvm(name, cluster) => {
                let (vni, port) = (500 + i as i32, 31500 + i as i32);
                let config = kvm::kvm_config(name, cluster, vni, &["m1"], &["w1"], &[port]);
                create_and_delete(system, &config, || {
                    system.wait_until::<KVMConfig>(name, "Ready", WAIT, |c| {
                        ready(c.and_then(|c| c.status.as_ref()))
                    })
                })
                .await;
            }
            Self::Aws(name, cluster) => {
                let config = aws::aws_config(env, name, cluster, credentials);
                create_and_delete(system, &config, || {
                    system.wait_until::<AWSConfig>(name, "Ready", WAIT, |c| {
                        ready(c.and_then(|c| c.status.as_ref()))
                    })
                })
                .await;
            }
        }
    }

    /// Waits until it and everything made for it are gone.
    async fn wait_gone(&self, system: &System) {
        match self {
            Self::Kvm(name, cluster) => {
                wait_until::<KVMConfig>(system, name, "deleted", |c| c.is_none()).await;
                wait_empty(system, "a guest cluster", WAIT, || {
                    system.leftovers(cluster)
                })
                .await;
            }
            Self::Aws(name, cluster) => {
                wait_until::<AWSConfig>(system, name, "deleted", |c| c.is_none()).await;
                wait_empty(system, "an AWS guest cluster", WAIT, || {
                    system.aws_leftovers(cluster)
                })
                .await;
                wait_empty(system, "an AWS guest cluster's objects", WAIT, || {
                    e2e::system::api_leftovers(&system.env, cluster)
                })
                .await;
            }
        }
    }
}

/// Every certificate (`tls.crt`) each Secret of the namespace has held, by
/// Secret and the CertConfig spec it was issued for (cert-operator's
/// spec-hash annotation: one request), until `done` is set.
///
/// A watch, not a poll: it sees every write of a Secret while connected,
/// also a certificate overwritten at once. When the API server is killed
/// the watcher resumes from the last version it saw once the server is
/// back (its backoff may wait some seconds), or lists again if writes it
/// had not seen were made before the kill (a restarted server keeps no
/// history older than its start): then only the last of those writes is
/// seen. Nothing is written while the server is down.
async fn collect_certificates(
    env: &operatorkit::testing::TestEnv,
    done: &std::sync::atomic::AtomicBool,
) -> BTreeMap<String, std::collections::BTreeSet<Vec<u8>>> {
    use kube::runtime::{WatchStreamExt, watcher};
    let mut seen: BTreeMap<String, std::collections::BTreeSet<Vec<u8>>> = BTreeMap::new();
    let mut secrets =
        std::pin::pin!(watcher(env.api::<Secret>(), watcher::Config::default()).default_backoff());
    while !done.load(std::sync::atomic::Ordering::Relaxed) {
        let next = tokio::time::timeout(Duration::from_millis(250), secrets.next()).await;
        let Ok(Some(Ok(watcher::Event::Apply(secret) | watcher::Event::InitApply(secret)))) = next
        else {
            continue;
        };
        if let Some(crt) = secret.data.as_ref().and_then(|d| d.get("tls.crt")) {
            let spec = secret.annotations().get(cert_operator::HASH_ANNOTATION);
            let request = format!(
                "{} (spec {})",
                secret.name_any(),
                spec.map_or("-", String::as_str)
            );
            seen.entry(request).or_default().insert(crt.0.clone());
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn guest_clusters_come_and_go_while_operators_and_the_api_server_are_killed_at_random() {
    let seed = chaos_seed();
    let kills = chaos_kills();
    eprintln!("chaos: seed {seed} (CHAOS_SEED={seed} replays it), {kills} kills");
    let mut rng = fastrand::Rng::with_seed(seed);
    let system = System::start(Options {
        restartable_server: true,
        ..Options::default()
    })
    .await;
    let env = &system.env;
    let secret = env.name("aws-creds");
    aws::credentials(env, &secret, &aws::moto_credentials()).await;
    let guests: Vec<Guest> = (0..chaos_clusters()).map(|i| Guest::nth(env, i)).collect();
    let pauses: Vec<(Duration, usize, Duration)> = (0..kills)
        .map(|_| {
            let before = Duration::from_millis(rng.u64(500..6_000));
            let pause = Duration::from_millis(rng.u64(0..4_000));
            // One in six kills the API server.
            (before, rng.usize(..=OPERATORS.len()), pause)
        })
        .collect();

    let mut victims: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, victim, _) in &pauses {
        *victims
            .entry(OPERATORS.get(*victim).copied().unwrap_or("apiserver"))
            .or_default() += 1;
    }
    eprintln!("chaos: kills by process: {victims:?}");

    let done = std::sync::atomic::AtomicBool::new(false);
    // Kills so far: guest cluster i starts no earlier than kill
    // i * kills / clusters, so that they come and go over the whole run.
    let killed = std::sync::atomic::AtomicUsize::new(0);
    // Processes that exited on their own, seen before a kill hid them.
    let mut exits = Vec::new();
    let chaos = async {
        for (before, victim, pause) in &pauses {
            tokio::time::sleep(*before).await;
            exits.extend(system.exited());
            killed.fetch_add(1, std::sync::atomic::Ordering::Release);
            let Some(op) = OPERATORS.get(*victim) else {
                // The API server: killed, restarted on its data after the pause.
                system.restart_server(*pause).await;
                continue;
            };
            for replica in system.replicas_of(op) {
                system.kill(&replica);
            }
            tokio::time::sleep(*pause).await;
            system.start_replica(op).await;
        }
    };
    // At most two guest clusters at a time, each created, waited Ready and
    // deleted, started in step with the kills.
    let clusters = guests.len();
    let work =
        futures::stream::iter(guests.iter().enumerate()).for_each_concurrent(2, |(i, guest)| {
            let (killed, secret, system) = (&killed, &secret, &system);
            async move {
                let due = i * kills / clusters;
                while killed.load(std::sync::atomic::Ordering::Acquire) < due {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                guest.come_and_go(system, i, secret).await;
            }
        });
    let watched = collect_certificates(env, &done);
    let finish = async {
        tokio::join!(chaos, work);
        // Everything converges once the kills and the deletions ended;
        // certificates are watched until then.
        let ended = tokio::time::Instant::now();
        for guest in &guests {
            guest.wait_gone(&system).await;
        }
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        ended.elapsed()
    };
    let (converged, seen) = tokio::join!(finish, watched);
    let twice: Vec<_> = seen
        .iter()
        .filter(|(_, certs)| certs.len() > 1)
        .map(|(s, c)| format!("{s}: {}", c.len()))
        .collect();
    eprintln!(
        "chaos: seed {seed}, {kills} kills survived ({victims:?}), {} guest clusters came and went, \
         converged {converged:?} after the last kill and the last deletion; \
         {} certificates seen, issued twice: {twice:?}",
        guests.len(),
        seen.len()
    );
    assert_eq!(
        twice,
        Vec::<String>::new(),
        "certificates issued twice (seed {seed})"
    );
    exits.extend(system.exited());
    assert_eq!(exits, Vec::<String>::new(), "no process exited on its own");
    system.stop().await;
}
