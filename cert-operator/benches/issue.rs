//! cert-operator with the built-in CA on the embedded API server: the time
//! from the first create of 1000 CertConfigs until all 1000 are Ready, and the
//! API requests per certificate the operator's client makes, once with
//! ECDSA P-256 keys and once with RSA 2048 keys.
//!
//! The key algorithm is the operator's `--key-algorithm`; the CertConfigs
//! leave `spec.keyAlgorithm` unset. They are spread over 10 clusters of 100
//! components each (created cluster by cluster, so the first loops of a
//! cluster race to make its CA, as when a cluster's CertConfigs are created
//! together), each with two DNS SANs, two IP SANs, two organisations and the
//! default lifetime. The operator runs with operatorkit's defaults (4 loops
//! at once).
//!
//! Every measured iteration starts a fresh embedded API server, installs the
//! CRD and starts the operator until its caches are synced (none of which is
//! timed), then creates the 1000 CertConfigs 16 at a time from the bench's
//! own client and waits, with a watch, until all are Ready=True. It panics if
//! they are not within 15 minutes, or if afterwards there are not exactly
//! 1000 certificate Secrets (`ca.crt`, `tls.crt`, `tls.key`, a bundle that
//! verifies, a key of the algorithm asked for) and 10 CA Secrets.
//!
//! Criterion takes at least 10 samples; in flat sampling mode, with
//! measurement times shorter than 10 runs, each sample is one iteration, so
//! with the one warm-up iteration that is 11 runs per key algorithm: about a
//! minute for ECDSA, about 20 minutes for RSA on 2 cores. It prints the first
//! run's figures and, per key algorithm, the min/mean/max over all runs,
//! with the share of the cores the whole process (API server, operator and
//! the bench's client) kept busy over the timed part, from `/proc/self/stat`.
//! Before the runs it prints, for reference, how long one thread takes to
//! issue one certificate of each algorithm (key generation and signature,
//! what the operator runs in `spawn_blocking` per CertConfig) and what that
//! makes the least time for 1000 on this machine's cores.
//!
//! Run with `cargo xtask bench issue`.

#![forbid(unsafe_code)]
// A benchmark: a failed setup step or a missed deadline must abort it, and
// `unwrap`/`expect` say so most plainly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use apiextensions::keys::{CLUSTER_LABEL, MANAGED_BY_LABEL};
use apiextensions::{CertConfig, CertConfigSpec, OperatorStatus};
use cert_operator::pki::{Ca, CertRequest, PrivateKey, verify_bundle};
use cert_operator::settings::{BackendKind, CertArgs, KeyAlgorithmArg};
use cert_operator::{CA_LABEL, OPERATOR};
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, PostParams};
use kube::{CustomResourceExt, ResourceExt};
use operatorkit::testing::{TestEnv, wait_for_count};
use rsa::traits::PublicKeyParts;

/// Guest clusters per run, each with its own CA.
const CLUSTERS: usize = 10;
/// CertConfigs per cluster.
const COMPONENTS: usize = 100;
/// Certificates per run.
const CERTIFICATES: usize = CLUSTERS * COMPONENTS;
/// Creates in flight from the bench's client.
const CREATES_IN_FLIGHT: usize = 16;
/// The version the operator reconciles (its version label on the CertConfigs).
const VERSION: &str = "1";
/// A run that takes longer fails the bench (RSA 2048 keys take 50–500 ms
/// each on one core).
const READY_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// How long the operator may take to sync its caches.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// After all are Ready, how long loops still triggered may run before the
/// requests are counted (not timed).
const SETTLE: Duration = Duration::from_secs(1);

/// A key algorithm under test.
#[derive(Clone, Copy, Debug)]
struct Contender {
    name: &'static str,
    key: KeyAlgorithmArg,
    /// Criterion's measurement time: under 10 runs, so that each sample is
    /// one run (criterion then warns that it cannot complete 10 samples in
    /// that time, and goes on).
    measurement_time: Duration,
}

const CONTENDERS: [Contender; 2] = [
    Contender {
        name: "ECDSA-P256",
        key: KeyAlgorithmArg::EcdsaP256,
        measurement_time: Duration::from_secs(20),
    },
    Contender {
        name: "RSA-2048",
        key: KeyAlgorithmArg::Rsa2048,
        measurement_time: Duration::from_secs(600),
    },
];

/// What one run measured.
struct Run {
    /// From the first create until the watch saw all Ready.
    elapsed: Duration,
    /// From the first create until the last create was answered.
    created: Duration,
    /// CPU time of the whole process (the API server, the operator, the
    /// bench's client) over `elapsed`, if known.
    cpu: Option<Duration>,
    /// Requests of the operator's client from the first create until the
    /// settle time was over, by verb.
    requests: BTreeMap<&'static str, u64>,
    reconciles: u64,
    issued: u64,
}

impl Run {
    fn per_certificate(n: u64) -> f64 {
        n as f64 / CERTIFICATES as f64
    }

    fn total(&self) -> u64 {
        self.requests.values().sum()
    }

    fn writes(&self) -> u64 {
        ["create", "update", "patch", "delete"]
            .iter()
            .filter_map(|v| self.requests.get(v))
            .sum()
    }

    /// The share of all cores the process kept busy over `elapsed`.
    fn cpu_share(&self) -> Option<f64> {
        self.cpu
            .map(|cpu| cpu.as_secs_f64() / self.elapsed.as_secs_f64() / cores() as f64)
    }

    fn report(&self, contender: Contender) {
        let per = Self::per_certificate;
        let verbs: Vec<String> = self
            .requests
            .iter()
            .map(|(v, n)| format!("{v} {:.3}", per(*n)))
            .collect();
        let seconds = self.elapsed.as_secs_f64();
        let cpu = self
            .cpu_share()
            .map(|share| format!(", CPU {:.0}% of {} cores", share * 100.0, cores()))
            .unwrap_or_default();
        eprintln!(
            "cert-operator {}: {CERTIFICATES} certificates Ready in {seconds:.2} s ({:.1}/s), created in {:.2} s{cpu}; requests/certificate: total {:.3}, writes {:.3} ({}); reconciles/certificate {:.3}, issuances {}",
            contender.name,
            CERTIFICATES as f64 / seconds,
            self.created.as_secs_f64(),
            per(self.total()),
            per(self.writes()),
            verbs.join(", "),
            per(self.reconciles),
            self.issued,
        );
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// CPU time (user and system) this process has used so far, from
/// `/proc/self/stat` (Linux; `None` elsewhere), where it is counted in
/// USER_HZ ticks, 100 a second.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name, which is in parentheses and may
    // hold spaces: utime and stime are the 12th and 13th of them.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

fn cluster_id(c: usize) -> String {
    format!("bench{c:02}")
}

fn spec(cluster: &str, component: &str) -> CertConfigSpec {
    CertConfigSpec {
        cluster_id: cluster.to_owned(),
        cluster_component: component.to_owned(),
        common_name: format!("{component}.{cluster}.k8s.example.com"),
        alt_names: vec!["kubernetes".into(), "kubernetes.default.svc".into()],
        ip_sans: vec!["172.31.0.1".into(), "127.0.0.1".into()],
        organizations: vec!["system:masters".into(), "operators".into()],
        ttl: "2160h".into(),
        key_algorithm: None,
        allow_bare_domains: false,
        disable_regeneration: false,
    }
}

/// The `i`-th CertConfig: cluster by cluster, component by component.
fn certconfig(i: usize) -> CertConfig {
    let cluster = cluster_id(i / COMPONENTS);
    let component = format!("comp{:03}", i % COMPONENTS);
    let mut c = CertConfig::new(
        &format!("{cluster}-{component}"),
        spec(&cluster, &component),
    );
    c.metadata.labels = Some(
        [
            (CLUSTER_LABEL.to_owned(), cluster),
            (OPERATOR.version_label(), VERSION.to_owned()),
        ]
        .into(),
    );
    c
}

fn is_ready(c: &CertConfig) -> bool {
    c.status.as_ref().is_some_and(OperatorStatus::is_ready)
}

/// The sum of the samples of `metric` (name and opening brace or space) in
/// the Prometheus text `text`.
fn metric_sum(text: &str, metric: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with(metric))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Checks the Secrets a run left: one CA per cluster, one whole, valid
/// bundle of the right key algorithm per CertConfig.
fn check_secrets(contender: Contender, secrets: &[Secret]) {
    let name = contender.name;
    let (cas, certs): (Vec<&Secret>, Vec<&Secret>) = secrets
        .iter()
        .partition(|s| s.labels().contains_key(CA_LABEL));
    assert_eq!(cas.len(), CLUSTERS, "{name}: CA Secrets");
    assert_eq!(certs.len(), CERTIFICATES, "{name}: certificate Secrets");
    let now = jiff::Timestamp::now().as_second();
    for secret in certs {
        let data = secret.data.as_ref().expect("certificate Secret data");
        let keys: Vec<&str> = data.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["ca.crt", "tls.crt", "tls.key"],
            "{name}: Secret {}",
            secret.name_any()
        );
        let text = |k: &str| std::str::from_utf8(&data[k].0).unwrap();
        verify_bundle(text("ca.crt"), text("tls.crt"), text("tls.key"), now)
            .unwrap_or_else(|e| panic!("{name}: Secret {}: {e}", secret.name_any()));
        let right_key = match (
            PrivateKey::from_pem(text("tls.key")).unwrap(),
            contender.key,
        ) {
            (PrivateKey::P256(_), KeyAlgorithmArg::EcdsaP256) => true,
            (PrivateKey::Rsa(k), KeyAlgorithmArg::Rsa2048) => k.size() * 8 == 2048,
            _ => false,
        };
        assert!(right_key, "{name}: Secret {}: key", secret.name_any());
    }
}

/// One run of `contender` on a fresh server: setup, the timed part, checks.
async fn run_once(contender: Contender) -> Run {
    let env = TestEnv::start().await.unwrap();
    env.install_crds([CertConfig::crd()]).await.unwrap();
    let configs: Api<CertConfig> = env.api();

    let (listening, listened) = tokio::sync::oneshot::channel();
    let waiter = tokio::spawn(wait_for_count(
        configs.clone(),
        CERTIFICATES,
        is_ready,
        listening,
    ));
    listened.await.unwrap();

    let args = CertArgs {
        backend: BackendKind::Builtin,
        key_algorithm: contender.key,
        renew_before: Duration::from_secs(720 * 3600),
        secret_namespace: None,
        vault_address: None,
        vault_token_file: None,
        vault_ca_file: None,
    };
    let operator =
        cert_operator::operator(VERSION, args.backend().unwrap(), args.settings()).unwrap();
    let run = env
        .run_operator(operator, operatorkit::Settings::default())
        .await
        .unwrap();
    // Its CertConfig, Secret and Pod caches have listed.
    tokio::time::timeout(START_TIMEOUT, async {
        while !run.is_ready() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("cert-operator did not sync its caches");
    let before = run.requests().snapshot();

    let cpu_start = cpu_time();
    let start = Instant::now();
    futures::stream::iter(0..CERTIFICATES)
        .map(|i| {
            let api = configs.clone();
            async move { api.create(&PostParams::default(), &certconfig(i)).await }
        })
        .buffer_unordered(CREATES_IN_FLIGHT)
        .try_for_each(|_| async { Ok(()) })
        .await
        .unwrap();
    let created = start.elapsed();
    let end = tokio::time::timeout(READY_TIMEOUT.saturating_sub(created), waiter)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{}: not all {CERTIFICATES} CertConfigs Ready within {READY_TIMEOUT:?}",
                contender.name
            )
        })
        .unwrap()
        .unwrap();
    let elapsed = end - start;
    let cpu = cpu_time()
        .zip(cpu_start)
        .map(|(now, then)| now.saturating_sub(then));

    tokio::time::sleep(SETTLE).await;
    let requests = run.requests().since(&before);
    let metrics = run.metrics().encode().unwrap();
    let reconciles = metric_sum(&metrics, "operatorkit_reconcile_total{");
    let issued = metric_sum(&metrics, "cert_operator_certificates_issued_total{");
    run.stop().await;

    let secrets: Api<Secret> = env.api();
    let made = secrets
        .list(&ListParams::default().labels(&format!("{MANAGED_BY_LABEL}={OPERATOR}")))
        .await
        .unwrap();
    check_secrets(contender, &made.items);
    env.stop().await;
    Run {
        elapsed,
        created,
        cpu,
        requests,
        reconciles,
        issued,
    }
}

/// For reference: how long one thread takes to issue one certificate of
/// each algorithm with the built-in CA, as the operator does per CertConfig
/// in `spawn_blocking`, and what that makes the least CPU time of a run.
fn keygen_reference() {
    let ca = Ca::generate("reference").unwrap();
    let cores = cores();
    // RSA key generation searches for primes: its time varies widely from
    // key to key, so even 50 make only a rough mean.
    for (contender, samples) in CONTENDERS.iter().zip([200, 50]) {
        let request =
            CertRequest::from_spec(&spec("reference", "api"), contender.key.into()).unwrap();
        let start = Instant::now();
        for _ in 0..samples {
            ca.issue(&request).unwrap();
        }
        let each = start.elapsed() / samples;
        let all = each * CERTIFICATES as u32;
        eprintln!(
            "reference {}: one thread issues a certificate in {:.2} ms (mean of {samples}); {CERTIFICATES} take {:.1} s of CPU, {:.1} s on {cores} cores",
            contender.name,
            each.as_secs_f64() * 1e3,
            all.as_secs_f64(),
            all.as_secs_f64() / cores as f64,
        );
    }
}

fn benches(c: &mut Criterion) {
    keygen_reference();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut group = c.benchmark_group("issue");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1));
    for contender in CONTENDERS {
        group.measurement_time(contender.measurement_time);
        let runs: RefCell<Vec<Run>> = RefCell::default();
        group.bench_function(
            format!("{} {CERTIFICATES} certificates to Ready", contender.name),
            |b| {
                b.to_async(&rt).iter_custom(|iters| {
                    let runs = &runs;
                    async move {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            let run = run_once(contender).await;
                            if runs.borrow().is_empty() {
                                run.report(contender);
                            }
                            total += run.elapsed;
                            runs.borrow_mut().push(run);
                        }
                        total
                    }
                });
            },
        );
        summarize(contender, &runs.borrow());
    }
    group.finish();
}

/// Over all runs of `contender` (min/mean/max): seconds, certificates per
/// second, requests per certificate.
fn summarize(contender: Contender, runs: &[Run]) {
    if runs.is_empty() {
        return;
    }
    let stats = |f: &dyn Fn(&Run) -> f64| {
        let xs: Vec<f64> = runs.iter().map(f).collect();
        let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
        let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        format!("{min:.3}/{mean:.3}/{max:.3}")
    };
    let mut verbs: Vec<&'static str> = runs
        .iter()
        .flat_map(|r| r.requests.keys().copied())
        .collect();
    verbs.sort_unstable();
    verbs.dedup();
    let by_verb: Vec<String> = verbs
        .iter()
        .map(|v| {
            let verb = stats(&|r| Run::per_certificate(r.requests.get(v).copied().unwrap_or(0)));
            format!("{v} {verb}")
        })
        .collect();
    eprintln!(
        "cert-operator {}: over {} runs (min/mean/max): seconds to Ready {}, certificates/s {}, CPU share of {} cores {}; per certificate: requests {} ({}), writes {}, reconciles {}, issuances {}",
        contender.name,
        runs.len(),
        stats(&|r| r.elapsed.as_secs_f64()),
        stats(&|r| CERTIFICATES as f64 / r.elapsed.as_secs_f64()),
        cores(),
        stats(&|r| r.cpu_share().unwrap_or(f64::NAN)),
        stats(&|r| Run::per_certificate(r.total())),
        by_verb.join(", "),
        stats(&|r| Run::per_certificate(r.writes())),
        stats(&|r| Run::per_certificate(r.reconciles)),
        stats(&|r| Run::per_certificate(r.issued)),
    );
}

criterion_group!(issue_benches, benches);
criterion_main!(issue_benches);
