//! Per-operator upgrades in the running system, the point of
//! micro-operators. While a KVM guest cluster stays Ready, cert-operator v1
//! (its crate's version) gets v2 (`next-cert-operator`: the same code
//! serving [`NEXT_VERSION`]) beside it as a second Deployment would run it
//! (its own ServiceAccount and Lease); kvm-operator is rolled out with
//! `--cert-operator-version=v2` (aws-operator too) and relabels the
//! CertConfigs; v2 takes them over; v1 is removed. Then it is rolled back
//! the same way, and the same is done for flannel-operator and
//! ingress-operator. Checked:
//! - at every sample (every 250 ms) the guest cluster is Ready and every
//!   object's version label names a version that runs: none is left to
//!   neither;
//! - no loop of one version on an object overlaps a loop of the other on
//!   it (operatorkit's `loop started` and `loop ended` debug lines; a loop
//!   that found the object labelled for another version and left it alone
//!   does not count), and the new version ran a loop on every object it
//!   took over;
//! - no loop of the old version that started between the moment every
//!   object carried the new label (as the test saw it, polling every
//!   200 ms) and the old version's stop acted on one of them;
//! - during a switch neither version writes to the API server (Leases
//!   apart) or to etcd: no certificate is reissued (the Secrets are the
//!   same byte for byte), no network re-claimed, no ingress entry
//!   rewritten.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use apiextensions::keys::{CERT_OPERATOR, FLANNEL_OPERATOR, INGRESS_OPERATOR};
use apiextensions::{CertConfig, FlannelConfig, IngressConfig, KVMConfig, OperatorStatus};
use e2e::support::NamespacedKind;
use e2e::system::{Launch, NEXT_VERSION, Options, System, agent, wait_empty};
use e2e::{ingress, kvm};
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::ListParams;
use operatorkit::keys::OperatorName;

/// How long a guest cluster or a switch may take here.
const WAIT: Duration = Duration::from_secs(180);

/// The version every operator runs first: its crate's.
const V1: &str = env!("CARGO_PKG_VERSION");

/// Every loop's debug lines (operatorkit::reconcile), info for the rest.
const LOOPS: &str = "info,operatorkit::reconcile=debug";

/// The operators upgraded here (their objects are kvm-operator's inputs),
/// with their kinds' plural names.
const UPGRADED: [(&OperatorName, &str); 3] = [
    (&CERT_OPERATOR, "certconfigs"),
    (&FLANNEL_OPERATOR, "flannelconfigs"),
    (&INGRESS_OPERATOR, "ingressconfigs"),
];

#[tokio::test(flavor = "multi_thread")]
async fn cert_flannel_and_ingress_operator_are_upgraded_and_rolled_back_while_the_guest_stays_ready()
 {
    let system = System::start(Options {
        log_level: LOOPS,
        ..Options::default()
    })
    .await;
    let env = &system.env;
    let cluster = kvm::cluster_id(env, "up");
    let name = env.name("kvm");
    let mut config = kvm::kvm_config(&name, &cluster, 311, &["m1"], &["w1"], &[31310]);
    config.metadata.namespace = Some(env.namespace().to_owned());
    system.apply(&config);
    system
        .wait_until::<KVMConfig>(&name, "Ready", WAIT, |c| {
            c.and_then(|c| c.status.as_ref())
                .is_some_and(|s| s.is_ready())
        })
        .await;

    let mut upgrade = Upgrade::new(&system);
    let done = AtomicBool::new(false);
    let (problems, ()) = tokio::join!(watch(&system, &name, &done), async {
        for (operator, _) in UPGRADED {
            upgrade.switch(operator.as_str(), NEXT_VERSION).await;
            upgrade.switch(operator.as_str(), V1).await;
        }
        done.store(true, Ordering::Release);
    });
    assert_eq!(problems, Vec::<String>::new(), "{}", system.logs());
    for (operator, _) in UPGRADED {
        let overlaps = overlapping_loops(&system, &upgrade.started[operator.as_str()]);
        assert_eq!(overlaps, Vec::<String>::new(), "{operator}");
    }
    for line in &upgrade.report {
        println!("{line}");
    }

    system.delete::<KVMConfig>("kvmconfig", &name, WAIT).await;
    wait_empty(&system, "the guest cluster", WAIT, || {
        system.leftovers(&cluster)
    })
    .await;
    assert_eq!(system.exited(), Vec::<String>::new(), "no operator exited");
    system.stop().await;
}

/// The upgrades so far: which version of each upgraded operator
/// kvm-operator's flags name, and every replica started (with its version).
struct Upgrade<'a> {
    system: &'a System,
    pinned: BTreeMap<&'static str, &'static str>,
    started: BTreeMap<&'static str, Vec<(String, String)>>,
    report: Vec<String>,
}

impl<'a> Upgrade<'a> {
    fn new(system: &'a System) -> Self {
        let started = UPGRADED
            .iter()
            .map(|(op, _)| {
                let replicas = system.replicas_of(op.as_str());
                let versioned = replicas.into_iter().map(|r| (r, V1.to_owned()));
                (op.as_str(), versioned.collect())
            })
            .collect();
        Self {
            system,
            pinned: UPGRADED.iter().map(|(op, _)| (op.as_str(), V1)).collect(),
            started,
            report: Vec::new(),
        }
    }

    /// Moves `operator`'s objects to version `to`: starts `to` beside the
    /// running version, rolls kvm-operator (and aws-operator, for
    /// cert-operator) out with the new flag, waits until every object is
    /// labelled `to` and `to` ran a loop on it, checks nothing was written,
    /// then stops the old version.
    async fn switch(&mut self, operator: &'static str, to: &'static str) {
        let system = self.system;
        let from = self.pinned[operator];
        let old = system.replicas_of(operator);
        let launch = Launch {
            version: (to != V1).then_some(to),
            log_level: LOOPS,
            ..Launch::of(operator)
        };
        let lease = launch.lease();
        let new = system.launch(launch).await;
        self.started
            .get_mut(operator)
            .unwrap()
            .push((new.clone(), to.to_owned()));
        wait_holder(system, &lease, &new).await;

        let before = Snapshot::take(system, from, to, operator).await;
        let started = tokio::time::Instant::now();
        self.pinned.insert(operator, to);
        roll_out(system, "kvm-operator", self.flags()).await;
        if operator == CERT_OPERATOR.as_str() {
            let flag = format!("--cert-operator-version={to}");
            roll_out(system, "aws-operator", vec![flag]).await;
        }
        let objects = wait_labelled(system, operator, to).await;
        let labelled = jiff::Timestamp::now();
        wait_taken_over(system, operator, &new, &objects).await;
        let took = started.elapsed();
        let after = Snapshot::take(system, from, to, operator).await;
        assert_eq!(
            after.since(&before),
            Vec::<String>::new(),
            "{operator} {from} -> {to}"
        );
        for name in &old {
            system.stop_replica(name).await;
        }
        // Its logs are complete now, up to its stop.
        assert_eq!(
            acted_after(system, &old, &objects, labelled),
            Vec::<String>::new(),
            "{operator} {from} acted on objects labelled {to}"
        );
        self.report.push(format!(
            "{operator} {from} -> {to}: {} objects taken over in {:.1} s, nothing written",
            objects.len(),
            took.as_secs_f64()
        ));
    }

    /// kvm-operator's version flags.
    fn flags(&self) -> Vec<String> {
        self.pinned
            .iter()
            .map(|(op, v)| format!("--{op}-version={v}"))
            .collect()
    }
}

/// A rollout of `operator` with `flags`: a new replica beside the old ones,
/// then the old ones stopped (SIGTERM: they release the Lease), then the
/// new one leads.
async fn roll_out(system: &System, operator: &'static str, flags: Vec<String>) {
    let old = system.replicas_of(operator);
    let new = system
        .launch(Launch {
            flags,
            ..Launch::of(operator)
        })
        .await;
    for name in old {
        system.stop_replica(&name).await;
    }
    wait_holder(system, &format!("{operator}-leader"), &new).await;
}

/// Waits until replica `name` holds Lease `lease`.
async fn wait_holder(system: &System, lease: &str, name: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    while system.holder(lease).await.as_deref() != Some(name) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} never held {lease}:\n{}",
            system.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The names of `operator`'s objects in the test's namespace, once every
/// one is labelled `version`.
async fn wait_labelled(system: &System, operator: &str, version: &str) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let labels = version_labels(system, operator).await;
        if !labels.is_empty() && labels.values().all(|v| v.as_deref() == Some(version)) {
            return labels.into_keys().collect();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{operator}'s objects never all labelled {version}: {labels:?}\n{}",
            system.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until replica `name` of `operator` ran a loop on each of
/// `objects` that acted on it and ended well.
async fn wait_taken_over(system: &System, operator: &str, name: &str, objects: &[String]) {
    let what = format!("{name} ({operator}): objects it never reconciled");
    wait_empty(system, &what, WAIT, || async {
        let loops = loops(&system.log_file(name));
        let reconciled = |o: &&String| loops.iter().any(|l| &l.object == *o && l.acted && l.ok);
        objects.iter().filter(|o| !reconciled(o)).cloned().collect()
    })
    .await;
}

/// Loops of the old version's replicas `old` that started after every
/// one of `objects` was labelled for the new version (`labelled`) and
/// acted on one of them: none may. (The old version's watch selects its
/// own version label, so a relabelled object leaves its cache; a loop
/// already queued re-checks the label and leaves the object alone.)
fn acted_after(
    system: &System,
    old: &[String],
    objects: &[String],
    labelled: jiff::Timestamp,
) -> Vec<String> {
    old.iter()
        .flat_map(|name| {
            loops(&system.log_file(name))
                .into_iter()
                .filter(|l| l.acted && l.start > labelled && objects.contains(&l.object))
                .map(move |l| format!("{} by {name} from {}", l.object, l.start))
        })
        .collect()
}

/// Each of `operator`'s objects (in the test's namespace) with its version
/// label.
async fn version_labels(system: &System, operator: &str) -> BTreeMap<String, Option<String>> {
    match operator {
        "cert-operator" => labels_of::<CertConfig>(system, &CERT_OPERATOR).await,
        "flannel-operator" => labels_of::<FlannelConfig>(system, &FLANNEL_OPERATOR).await,
        "ingress-operator" => labels_of::<IngressConfig>(system, &INGRESS_OPERATOR).await,
        other => panic!("{other} is not upgraded here"),
    }
}

async fn labels_of<K: NamespacedKind>(
    system: &System,
    operator: &OperatorName,
) -> BTreeMap<String, Option<String>> {
    let label = operator.version_label();
    let list = system.env.api::<K>().list(&ListParams::default()).await;
    list.unwrap()
        .items
        .iter()
        .map(|o| (o.name_any(), o.labels().get(&label).cloned()))
        .collect()
}

/// Samples every 250 ms until `done`: KVMConfig `name` Ready, and every
/// object of an upgraded operator labelled with a version that runs.
async fn watch(system: &System, name: &str, done: &AtomicBool) -> Vec<String> {
    let mut problems = Vec::new();
    let started = tokio::time::Instant::now();
    while !done.load(Ordering::Acquire) {
        let at = started.elapsed().as_secs_f64();
        let config = system.env.api::<KVMConfig>().get(name).await.unwrap();
        if !config.status.as_ref().is_some_and(|s| s.is_ready()) {
            problems.push(format!("{at:.1} s: {name} not Ready: {:?}", config.status));
        }
        for (operator, _) in UPGRADED {
            let running = system.versions_of(operator.as_str());
            for (object, label) in version_labels(system, operator.as_str()).await {
                if !label.as_ref().is_some_and(|v| running.contains(v)) {
                    problems.push(format!(
                        "{at:.1} s: {object} labelled {label:?}, {operator} runs {running:?}"
                    ));
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    problems
}

/// What a switch must not change: the writes of both versions (Leases
/// apart), etcd's writes, the certificate Secrets and the ingress entries.
#[derive(PartialEq)]
struct Snapshot {
    writes: BTreeMap<String, BTreeMap<String, u64>>,
    etcd: f64,
    secrets: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
    entries: BTreeMap<String, String>,
}

impl Snapshot {
    async fn take(system: &System, from: &str, to: &str, operator: &str) -> Self {
        let mut writes = BTreeMap::new();
        for version in [from, to] {
            let mut by = system
                .api_writes_by(&agent(operator, Some(version), None))
                .expect("the embedded server's request counts");
            by.remove("leases");
            writes.insert(format!("{operator} {version}"), by);
        }
        // A count of puts and deletes (a Prometheus counter).
        let etcd = system.etcd.metrics().await.unwrap().writes;
        let mut secrets = BTreeMap::new();
        let certs = system.env.api::<CertConfig>();
        for c in certs.list(&ListParams::default()).await.unwrap().items {
            let secret = system.env.api::<Secret>().get(&c.name_any()).await.unwrap();
            let data = secret.data.unwrap_or_default().into_iter();
            secrets.insert(c.name_any(), data.map(|(k, v)| (k, v.0)).collect());
        }
        let mut entries = ingress::entries(&system.env, ingress::TCP).await;
        entries.extend(ingress::entries(&system.env, ingress::UDP).await);
        Self {
            writes,
            etcd,
            secrets,
            entries,
        }
    }

    /// What changed since `before`.
    fn since(&self, before: &Self) -> Vec<String> {
        let mut changed = Vec::new();
        if self.writes != before.writes {
            changed.push(format!(
                "API writes {:?} -> {:?}",
                before.writes, self.writes
            ));
        }
        if self.etcd != before.etcd {
            changed.push(format!("etcd writes {} -> {}", before.etcd, self.etcd));
        }
        for (name, data) in &self.secrets {
            if before.secrets.get(name) != Some(data) {
                changed.push(format!("Secret {name} rewritten"));
            }
        }
        if self.entries != before.entries {
            changed.push(format!(
                "ingress {:?} -> {:?}",
                before.entries, self.entries
            ));
        }
        changed
    }
}

/// One loop of one replica on one object, from its debug lines.
struct Loop {
    object: String,
    start: jiff::Timestamp,
    /// `None` while running (or when the process died in it).
    end: Option<jiff::Timestamp>,
    /// False when it found the object labelled for another version.
    acted: bool,
    ok: bool,
}

/// The loops in a replica's JSON log.
fn loops(log: &std::path::Path) -> Vec<Loop> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut open: BTreeMap<String, Loop> = BTreeMap::new();
    let mut done = Vec::new();
    for line in text.lines() {
        let Ok(entry) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if entry["target"] != "operatorkit::reconcile" {
            continue;
        }
        let Some(span) = entry["spans"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["name"] == "reconcile"))
        else {
            continue;
        };
        let object = span["object"].as_str().unwrap_or_default().to_owned();
        let at: jiff::Timestamp = entry["timestamp"].as_str().unwrap().parse().unwrap();
        match entry["fields"]["message"].as_str().unwrap_or_default() {
            "loop started" => {
                let started = Loop {
                    object: object.clone(),
                    start: at,
                    end: None,
                    acted: true,
                    ok: false,
                };
                if let Some(unfinished) = open.insert(object, started) {
                    done.push(unfinished);
                }
            }
            "not labelled for this version; left alone" => {
                if let Some(l) = open.get_mut(&object) {
                    l.acted = false;
                }
            }
            "loop ended" => {
                if let Some(mut l) = open.remove(&object) {
                    l.end = Some(at);
                    l.ok = entry["fields"]["ok"] == true;
                    done.push(l);
                }
            }
            _ => {}
        }
    }
    done.extend(open.into_values());
    done
}

/// Loops on the same object by replicas of different versions that overlap
/// in time (loops that left the object alone apart).
fn overlapping_loops(system: &System, replicas: &[(String, String)]) -> Vec<String> {
    let acting: Vec<(&String, &String, Loop)> = replicas
        .iter()
        .flat_map(|(name, version)| {
            loops(&system.log_file(name))
                .into_iter()
                .filter(|l| l.acted)
                .map(move |l| (name, version, l))
        })
        .collect();
    let mut overlaps = Vec::new();
    for (i, (a, va, la)) in acting.iter().enumerate() {
        for (b, vb, lb) in &acting[i + 1..] {
            let before = |x: &Loop, y: &Loop| x.end.is_some_and(|end| end <= y.start);
            if va != vb && la.object == lb.object && !before(la, lb) && !before(lb, la) {
                overlaps.push(format!(
                    "{} by {a} ({va}) from {} and by {b} ({vb}) from {}",
                    la.object, la.start, lb.start
                ));
            }
        }
    }
    overlaps
}
