//! The whole system as it runs in production, on one machine: the five
//! operators as separate processes built from their crates, each
//! authenticated as its own ServiceAccount bound to the roles of its
//! `manifests/<operator>/` (a token from the TokenRequest API in a
//! kubeconfig of its own), with leader election on its Lease as its
//! Deployment runs it; etcd for flannel-operator, moto for aws-operator,
//! the host ingress controller's objects and IngressClass for
//! ingress-operator and kvm-operator, and the simulated cluster (nodes,
//! kubelets, guest control planes) for the VMs.
//!
//! ```text
//!   test ──kubectl apply──▶ API server (TestEnv) ◀── simulation (nodes, pods, guest APIs)
//!                               ▲   ▲   ▲   ▲   ▲
//!          cert- flannel- ingress- kvm- aws-operator   (processes, one ServiceAccount each)
//!                    │                         │
//!                   etcd                      moto
//! ```
//!
//! The binaries are built once per test process with `cargo build` into the
//! target directory the test itself runs from, so a test never runs an
//! operator older than its sources (`cargo xtask test` builds them before
//! the tests run, so there this finds nothing to do). A benchmark runs from
//! `target/release`, so there it is `cargo build --release --workspace
//! --bins` (`cargo xtask bench system`, `tests/benches/system.rs`: the
//! first release build of the binaries takes minutes; later ones find
//! nothing to do). Each process logs (JSON) to its own
//! file; [`System::logs`] gives the ends of them for a failure message.
//! Processes still running when the [`System`] drops are killed.

// Test support: a failed step must fail the test that called it, plainly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use apiextensions::{AWSConfig, CertConfig, FlannelConfig, IngressConfig, KVMConfig};
use kube::CustomResourceExt;
use operatorkit::testing::{SimulationOptions, TestEnv};

use crate::aws_proxy::FaultProxy;
use crate::etcd::Etcd;
use crate::moto::Moto;
use crate::server_process::ServerProcess;
use crate::support::{self, NamespacedKind};

/// The operators, in the order they start (the ones others ask first).
pub const OPERATORS: [&str; 5] = [
    "cert-operator",
    "flannel-operator",
    "ingress-operator",
    "kvm-operator",
    "aws-operator",
];

/// How long a started process may take to answer on `/readyz`.
const READY: Duration = Duration::from_secs(60);

/// The version the upgrade test's "v2" serves: the `next-<operator>`
/// binaries (`tests/src/bin/`) are the operators' own code labelled with
/// another version.
pub const NEXT_VERSION: &str = "2.0.0";

/// The variable the `next-<operator>` binaries read their version from.
const NEXT_VERSION_VAR: &str = "NEXT_OPERATOR_VERSION";

/// The version a `next-<operator>` binary serves (`$NEXT_OPERATOR_VERSION`).
///
/// # Errors
/// When the variable is unset, empty or the crate's own version.
pub fn next_version() -> Result<String, String> {
    match std::env::var(NEXT_VERSION_VAR) {
        Ok(v) if !v.is_empty() && v != env!("CARGO_PKG_VERSION") => Ok(v),
        Ok(v) => Err(format!(
            "{NEXT_VERSION_VAR}={v:?}: a version other than {}",
            env!("CARGO_PKG_VERSION")
        )),
        Err(e) => Err(format!("{NEXT_VERSION_VAR}: {e}")),
    }
}

/// How to start one operator process.
#[derive(Clone, Debug)]
pub struct Launch {
    /// Which operator.
    pub operator: &'static str,
    /// `None`: its own binary, serving the crate's version. `Some(v)`:
    /// `next-<operator>`, serving `v` (cert-, flannel- and ingress-operator
    /// only), as its own ServiceAccount `<operator>-next` with a Lease of its
    /// own, as a second Deployment beside the first would run.
    pub version: Option<&'static str>,
    /// Flags after the system's own for the operator (a later one wins).
    pub flags: Vec<String>,
    /// `LOG_LEVEL` (a level or tracing directives).
    pub log_level: &'static str,
}

impl Launch {
    /// The operator's own build, as the system starts it.
    pub fn of(operator: &'static str) -> Self {
        Self {
            operator,
            version: None,
            flags: Vec::new(),
            log_level: "info",
        }
    }

    /// The version label it serves.
    pub fn version(&self) -> &str {
        self.version.unwrap_or(env!("CARGO_PKG_VERSION"))
    }

    /// The Lease its replicas elect a leader on: the shipped
    /// `<operator>-leader`, or `<operator>-<version>-leader`.
    pub fn lease(&self) -> String {
        match self.version {
            None => format!("{}-leader", self.operator),
            Some(v) => format!("{}-{v}-leader", self.operator),
        }
    }

    fn account(&self) -> String {
        match self.version {
            None => self.operator.to_owned(),
            Some(_) => format!("{}-next", self.operator),
        }
    }

    fn binary(&self) -> String {
        match self.version {
            None => self.operator.to_owned(),
            Some(_) => format!("next-{}", self.operator),
        }
    }
}

/// The User-Agent prefix of `operator`'s requests: all of them, those of
/// one version, or those of one replica of a version (operatorkit sends
/// `<operator>/<version> (<replica>-<suffix>)`).
pub fn agent(operator: &str, version: Option<&str>, replica: Option<&str>) -> String {
    match (version, replica) {
        (None, None) => format!("{operator}/"),
        (Some(v), None) => format!("{operator}/{v} ("),
        (v, Some(r)) => format!(
            "{operator}/{} ({r}-",
            v.unwrap_or(env!("CARGO_PKG_VERSION"))
        ),
    }
}

/// The directory of the operator binaries, built on first use (panics,
/// failing the test, with cargo's output when the build fails).
pub fn binaries() -> &'static Path {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match BUILT.get_or_init(build) {
        Ok(dir) => dir,
        Err(e) => panic!("building the operators: {e}"),
    }
}

/// `cargo build` of the operators into the target directory this test
/// binary lives in (`<target>/<profile>/deps/<test>`).
fn build() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("the test binary is not in <target>/<profile>/deps")?;
    let target = profile_dir.parent().ok_or("no target directory")?;
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("debug");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    // Not the variables cargo set for this test as package e2e's process:
    // build scripts that rerun when they change (ring's names
    // `CARGO_PKG_NAME`) would rebuild everything above them here, and again
    // in the next `cargo test` (as `cargo xtask`'s `cmd::cargo` does).
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(package_var) {
            command.env_remove(name);
        }
    }
    command
        .current_dir(crate::examples::repo_root())
        .args(["build", "--quiet", "--workspace", "--bins", "--target-dir"])
        .arg(target);
    match profile {
        // With the tests, as `cargo test --workspace` builds them: the same
        // features everywhere, so nothing it built is built again with
        // other ones (only the binaries are added).
        "debug" => {
            command.arg("--tests");
        }
        // A benchmark: the binaries only.
        "release" => {
            command.arg("--release");
        }
        other => {
            command.args(["--profile", other]);
        }
    }
    let out = command.output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(profile_dir.to_path_buf())
}

/// Whether cargo set variable `name` for this process to describe its
/// package (rather than to configure builds, as `CARGO_HOME` does).
fn package_var(name: &str) -> bool {
    const SET_FOR_A_RUN: [&str; 9] = [
        "CARGO_RUSTC_CURRENT_DIR",
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_MANIFEST_LINKS",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "OUT_DIR",
    ];
    name.starts_with("CARGO_PKG_") || SET_FOR_A_RUN.contains(&name)
}

/// What a [`System`] runs on.
pub struct Options {
    /// Simulated nodes.
    pub nodes: usize,
    /// Replicas of every operator (leader election picks one).
    pub replicas: usize,
    /// Their `LOG_LEVEL`.
    pub log_level: &'static str,
    /// The API server as a process of its own with its data on disk, which
    /// [`System::restart_server`] kills and starts again; else embedded in
    /// the test (its request counts are then available).
    pub restartable_server: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            nodes: 3,
            replicas: 1,
            log_level: "info",
            restartable_server: false,
        }
    }
}

/// One operator process.
struct Replica {
    operator: &'static str,
    /// The version label it serves.
    version: String,
    child: Child,
    metrics: String,
    log: PathBuf,
}

/// The system: the environment, etcd, moto and the operator processes.
pub struct System {
    /// The API server and the test's namespace.
    pub env: TestEnv,
    /// The API server's process, when it is one ([`Options::restartable_server`]).
    server: Option<ServerProcess>,
    /// The simulated cluster, when the server is a process (an embedded
    /// server's is the environment's).
    simulation: Option<operatorkit_simulation::Simulation>,
    /// flannel-operator's etcd.
    pub etcd: Etcd,
    /// aws-operator's AWS.
    pub moto: Moto,
    /// Between aws-operator and moto: counts its AWS calls by action.
    pub aws: FaultProxy,
    /// Where the kubeconfigs and logs are.
    dir: PathBuf,
    /// The kubeconfig of each ServiceAccount (its token), by account name.
    kubeconfigs: Mutex<BTreeMap<String, PathBuf>>,
    /// Running replicas.
    replicas: Replicas,
    /// Replicas started so far, for fresh names.
    started: Mutex<usize>,
    /// This system's turn: one system runs at a time in a test process
    /// (each is five operators, a server and a simulation on two cores).
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

/// Whose turn it is to run a system.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl System {
    /// Starts everything: etcd, moto (with the example's hosted zone), the
    /// API server with the five CRDs, the simulated cluster, the ingress
    /// controller's objects and IngressClass, each operator's ServiceAccount
    /// and `options.replicas` processes of each operator; returns once every
    /// process answers on `/readyz`.
    pub async fn start(options: Options) -> Self {
        let turn = TURN.lock().await;
        let bin = binaries();
        assert!(bin.join(OPERATORS[0]).is_file(), "no binaries in {bin:?}");
        let etcd = Etcd::start().await.unwrap();
        let moto = Moto::start().await.unwrap();
        let aws = FaultProxy::start(moto.endpoint()).await;
        crate::aws::hosted_zone(&moto, crate::aws::EXAMPLE_ZONE).await;
        let dir = std::env::temp_dir().join(format!("system-{:08x}", fastrand::u32(..)));
        std::fs::create_dir_all(&dir).unwrap();
        let (env, server, simulation) = environment(&options, &dir).await;
        let system = Self {
            env,
            server,
            simulation,
            etcd,
            moto,
            aws,
            dir,
            kubeconfigs: Mutex::default(),
            replicas: Replicas::default(),
            started: Mutex::default(),
            _turn: turn,
        };
        for operator in OPERATORS {
            system.kubeconfig(&Launch::of(operator)).await;
        }
        for operator in OPERATORS {
            for _ in 0..options.replicas {
                let launch = Launch {
                    log_level: options.log_level,
                    ..Launch::of(operator)
                };
                system.launch(launch).await;
            }
        }
        system
    }

    /// The kubeconfig of `launch`'s ServiceAccount, made on first use: the
    /// operator's ClusterRole and leader-election Role from its
    /// `manifests/<operator>/`, the Role granting the Lease of `launch`'s
    /// version (another version needs a Lease of its own, as a second
    /// Deployment would).
    async fn kubeconfig(&self, launch: &Launch) -> PathBuf {
        let account = launch.account();
        if let Some(path) = self.kubeconfigs.lock().unwrap().get(&account) {
            return path.clone();
        }
        let (cluster_roles, mut roles) = crate::manifests::rbac_roles(launch.operator);
        let shipped = Launch::of(launch.operator).lease();
        for rule in roles.iter_mut().flat_map(|r| r.rules.iter_mut().flatten()) {
            for name in rule.resource_names.iter_mut().flatten() {
                if *name == shipped {
                    name.clone_from(&launch.lease());
                }
            }
        }
        let identity = self
            .env
            .service_account(&account, cluster_roles, roles)
            .await
            .unwrap();
        let path = self.dir.join(format!("{account}.kubeconfig"));
        self.env.write_kubeconfig_as(&identity, &path).unwrap();
        self.kubeconfigs
            .lock()
            .unwrap()
            .insert(account, path.clone());
        path
    }

    /// Starts one more process of `operator` and waits until it answers on
    /// `/readyz`; returns its name.
    pub async fn start_replica(&self, operator: &'static str) -> String {
        self.launch(Launch::of(operator)).await
    }

    /// Starts a process as `launch` says and waits until it answers on
    /// `/readyz` (a standby is ready too); returns its name
    /// (`<operator>-<n>`, its `POD_NAME`).
    pub async fn launch(&self, launch: Launch) -> String {
        let kubeconfig = self.kubeconfig(&launch).await;
        let n = {
            let mut started = self.started.lock().unwrap();
            *started += 1;
            *started
        };
        let operator = launch.operator;
        let name = format!("{operator}-{n}");
        let port = support::free_port().unwrap();
        let metrics = format!("127.0.0.1:{port}");
        let log = self.dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).unwrap();
        let mut command = Command::new(binaries().join(launch.binary()));
        if let Some(version) = launch.version {
            command.env(NEXT_VERSION_VAR, version);
        }
        let child = command
            .arg("run")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["--metrics-address", &metrics])
            .args(["--leader-elect", "--lease-name", &launch.lease()])
            .args(["--lease-namespace", self.env.namespace()])
            .args(["--shutdown-timeout", "5s", "--log-format", "json"])
            .args(self.flags(operator))
            .args(&launch.flags)
            .env("POD_NAME", &name)
            .env("LOG_LEVEL", launch.log_level)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {operator}: {e}"));
        let url = format!("http://{metrics}/readyz");
        let replica = Replica {
            operator,
            version: launch.version().to_owned(),
            child,
            metrics,
            log: log.clone(),
        };
        // Kept before the wait, so that a failed start is killed too.
        self.replicas.lock().unwrap().insert(name.clone(), replica);
        wait_answering(&name, &url, &log).await;
        name
    }

    /// Each operator's own flags here.
    fn flags(&self, operator: &str) -> Vec<String> {
        match operator {
            "flannel-operator" => vec!["--etcd-endpoints".into(), self.etcd.endpoint()],
            "ingress-operator" => vec![
                "--controller-namespace".into(),
                self.env.namespace().to_owned(),
            ],
            "kvm-operator" => vec![
                // The simulated nodes' taint (KWOK's); the guest APIs answer
                // where the simulation publishes them.
                "--tolerate-taints=kwok.x-k8s.io/node".into(),
                // The ingress controller ingress-operator serves.
                format!("--ingress-namespace={}", self.env.namespace()),
                format!(
                    "--guest-api-address-annotation={}",
                    operatorkit_simulation::keys::GUEST_API_ADDRESS
                ),
            ],
            "aws-operator" => vec!["--endpoint-url".into(), self.aws.endpoint()],
            _ => Vec::new(),
        }
    }

    /// The names of the running replicas of `operator`.
    pub fn replicas_of(&self, operator: &str) -> Vec<String> {
        let replicas = self.replicas.lock().unwrap();
        replicas
            .iter()
            .filter(|(_, r)| r.operator == operator)
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// The versions `operator` runs now (one entry per running replica).
    pub fn versions_of(&self, operator: &str) -> Vec<String> {
        let replicas = self.replicas.lock().unwrap();
        replicas
            .values()
            .filter(|r| r.operator == operator)
            .map(|r| r.version.clone())
            .collect()
    }

    /// Kills replica `name` with SIGKILL (no shutdown, no cleanup) and
    /// reaps it.
    pub fn kill(&self, name: &str) {
        let replica = self.replicas.lock().unwrap().remove(name);
        if let Some(mut replica) = replica {
            let _ = replica.child.kill();
            let _ = replica.child.wait();
        }
    }

    /// Where replica `name` serves `/metrics`, `/healthz` and `/readyz`.
    pub fn metrics_address(&self, name: &str) -> Option<String> {
        self.replicas
            .lock()
            .unwrap()
            .get(name)
            .map(|r| r.metrics.clone())
    }

    /// The process ID of replica `name`, while it runs.
    pub fn pid(&self, name: &str) -> Option<u32> {
        self.replicas
            .lock()
            .unwrap()
            .get(name)
            .map(|r| r.child.id())
    }

    /// The resident memory of replica `name` in bytes (`VmRSS` of
    /// `/proc/<pid>/status`).
    pub fn resident_bytes(&self, name: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid(name)?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    /// The requests the API server has had from `operator` (all its
    /// replicas; with `replica`, only that one), by verb: the operators
    /// send `<operator>/<version> (<replica>-<suffix>)` as their
    /// User-Agent. `None` against a real cluster (the counts are the
    /// embedded server's).
    pub fn api_requests(
        &self,
        operator: &str,
        replica: Option<&str>,
    ) -> Option<std::collections::HashMap<String, u64>> {
        let server = self.env.embedded()?;
        Some(
            server
                .requests()
                .by_user_agent(&agent(operator, None, replica)),
        )
    }

    /// The writes (create, update, patch, delete) the API server has had
    /// from `operator` (or only its `replica`), by resource; `None` against
    /// a real cluster.
    pub fn api_writes(
        &self,
        operator: &str,
        replica: Option<&str>,
    ) -> Option<BTreeMap<String, u64>> {
        self.api_writes_by(&agent(operator, None, replica))
    }

    /// The writes of every client whose User-Agent starts with `prefix`
    /// ([`agent`]), by resource; `None` against a real cluster.
    pub fn api_writes_by(&self, prefix: &str) -> Option<BTreeMap<String, u64>> {
        let server = self.env.embedded()?;
        let mut writes = BTreeMap::new();
        for ((verb, resource), n) in server.requests().by_user_agent_and_resource(prefix) {
            if operatorkit::testing::is_write(&verb) {
                *writes.entry(resource).or_default() += n;
            }
        }
        Some(writes)
    }

    /// `operator`'s leader terms of its shipped Lease and who wrote what
    /// in each, from the embedded API server's write log (kept from the
    /// start); `None` against a real cluster or a server process.
    pub fn terms(&self, operator: &'static str) -> Option<crate::terms::Terms> {
        let log = self.env.embedded()?.requests().writes();
        let lease = Launch::of(operator).lease();
        Some(crate::terms::Terms::of(
            &log,
            &agent(operator, None, None),
            &lease,
        ))
    }

    /// The replica holding `operator`'s shipped Lease.
    pub async fn leader(&self, operator: &str) -> Option<String> {
        self.holder(&format!("{operator}-leader")).await
    }

    /// The replica holding Lease `lease`.
    pub async fn holder(&self, lease: &str) -> Option<String> {
        let leases = self.env.api::<k8s_openapi::api::coordination::v1::Lease>();
        let lease = leases.get_opt(lease).await.ok()??;
        let holder = lease.spec?.holder_identity?;
        // `<replica>-<six random characters>` (operatorkit's instance).
        holder
            .rsplit_once('-')
            .map(|(replica, _)| replica.to_owned())
    }

    /// Stops replica `name` as a rollout does: SIGTERM, then waits (up to
    /// 30 s) until it exited: its loops finish, it releases its Lease.
    pub async fn stop_replica(&self, name: &str) {
        let Some(pid) = self.pid(name) else { return };
        let sent = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -TERM {pid} ({name})");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let exited = {
                let mut replicas = self.replicas.lock().unwrap();
                let replica = replicas.get_mut(name).unwrap();
                replica.child.try_wait().unwrap().is_some()
            };
            if exited {
                self.replicas.lock().unwrap().remove(name);
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name} did not stop within 30 s of SIGTERM:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `kill -9` of the API server process, `pause`, and a start on the
    /// same data, port, certificate and tokens; returns once it serves.
    /// Panics when the server is embedded ([`Options::restartable_server`]).
    pub async fn restart_server(&self, pause: Duration) {
        let server = self.server.as_ref().expect("a restartable server");
        server.kill();
        tokio::time::sleep(pause).await;
        server.restart().await;
    }

    /// The log file of replica `name` (also after it stopped).
    pub fn log_file(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.log"))
    }

    /// Replicas (and the API server process) that exited on their own,
    /// with the end of their logs.
    pub fn exited(&self) -> Vec<String> {
        let mut replicas = self.replicas.lock().unwrap();
        let mut exited: Vec<String> = replicas
            .iter_mut()
            .filter_map(|(name, r)| match r.child.try_wait() {
                Ok(Some(status)) => Some(format!("{name} exited ({status}):\n{}", tail(&r.log))),
                _ => None,
            })
            .collect();
        exited.extend(self.server.as_ref().and_then(ServerProcess::exited));
        exited
    }

    /// The last lines of every replica's log (and the API server
    /// process's), for a failure message.
    pub fn logs(&self) -> String {
        let replicas = self.replicas.lock().unwrap();
        let mut logs: Vec<String> = replicas
            .iter()
            .map(|(name, r)| format!("--- {name}\n{}", tail(&r.log)))
            .collect();
        if let Some(server) = &self.server {
            logs.push(format!("--- apiserver\n{}", server.log_tail()));
        }
        logs.join("\n")
    }

    /// Stops every replica (SIGKILL: nothing of the test depends on a
    /// graceful stop) and the environment.
    pub async fn stop(self) {
        let names: Vec<String> = self.replicas.lock().unwrap().keys().cloned().collect();
        for name in names {
            self.kill(&name);
        }
        if let Some(simulation) = self.simulation {
            simulation.stop();
        }
        self.env.stop().await;
        drop(self.server);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The running replicas by name (`<operator>-<n>`); whatever still runs
/// when they drop is killed.
#[derive(Default)]
struct Replicas(Mutex<BTreeMap<String, Replica>>);

impl std::ops::Deref for Replicas {
    type Target = Mutex<BTreeMap<String, Replica>>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Drop for Replicas {
    fn drop(&mut self) {
        let replicas = std::mem::take(
            &mut *self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for (_, mut replica) in replicas {
            let _ = replica.child.kill();
            let _ = replica.child.wait();
        }
    }
}

/// Waits until replica `name` answers 200 on `url`; fails with the end of
/// its `log` when it does not in time.
async fn wait_answering(name: &str, url: &str, log: &Path) {
    let deadline = tokio::time::Instant::now() + READY;
    loop {
        if answers(url).await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name} did not answer on {url} within {READY:?}:\n{}",
            tail(log)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Whether `url` answers 200 (not yet listening is not an error).
async fn answers(url: &str) -> bool {
    let answer = reqwest::Client::new()
        .get(url)
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    answer.is_ok_and(|a| a.status().is_success())
}

/// The last lines of a log file.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    support::last_lines(&text, 20).join("\n")
}

/// The API server (embedded, or a process of its own in `dir`) with the
/// five CRDs, a simulated cluster of `options.nodes` with guest control
/// planes, the ingress controller's objects (in the test's namespace, which
/// plays ingress-nginx's) and its IngressClass.
async fn environment(
    options: &Options,
    dir: &Path,
) -> (
    TestEnv,
    Option<ServerProcess>,
    Option<operatorkit_simulation::Simulation>,
) {
    if let Ok(filter) = std::env::var("SYSTEM_TEST_LOG") {
        let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
    }
    let simulation = SimulationOptions {
        nodes: options.nodes,
        ..crate::kvm::simulation()
    };
    let (env, server, simulation) = if options.restartable_server {
        let binary = binaries().join("operatorkit-apiserver");
        let server = ServerProcess::start(&binary, &dir.join("apiserver")).await;
        let env = TestEnv::connect(&server.kubeconfig(), None).await.unwrap();
        let simulation = operatorkit_simulation::Simulation::start(env.client(), simulation)
            .await
            .unwrap();
        (env, Some(server), Some(simulation))
    } else {
        // HTTPS, as kubectl expects of a server (it downloads the OpenAPI
        // document over it to validate what it applies).
        let config = operatorkit::testing::ServerConfig {
            tls: true,
            ..operatorkit::testing::ServerConfig::default()
        };
        let env = TestEnv::start_with(config).await.unwrap();
        if let Some(server) = env.embedded() {
            server.requests().start_recording_writes();
        }
        env.simulate(simulation).await.unwrap();
        (env, None, None)
    };
    env.install_crds([
        CertConfig::crd(),
        FlannelConfig::crd(),
        IngressConfig::crd(),
        KVMConfig::crd(),
        AWSConfig::crd(),
    ])
    .await
    .unwrap();
    crate::ingress::controller_objects(&env).await;
    crate::kvm::ingress_class(&env).await;
    (env, server, simulation)
}

impl System {
    /// Waits (up to `timeout`) until `name` of kind `K` satisfies `done`,
    /// looking every 250 ms (a failed request, as while the API server
    /// restarts, is tried again); fails with its last state, the processes
    /// that exited and the operators' logs.
    pub async fn wait_until<K: NamespacedKind>(
        &self,
        name: &str,
        what: &str,
        timeout: Duration,
        done: impl Fn(Option<&K>) -> bool,
    ) -> Option<K> {
        let api = self.env.api::<K>();
        let deadline = tokio::time::Instant::now() + timeout;
        let mut last = Ok(None);
        while tokio::time::Instant::now() < deadline {
            last = api.get_opt(name).await;
            if let Ok(found) = &last
                && done(found.as_ref())
            {
                return found.clone();
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let last = last.map(|found| serde_json::to_string_pretty(&found).unwrap());
        panic!(
            "{name}: never {what} within {timeout:?}\nlast: {last:?}\nexited: {:#?}\n{}",
            self.exited(),
            self.logs()
        )
    }

    /// `kubectl delete <resource> <name>`, then waits (up to `timeout`)
    /// until it is gone.
    pub async fn delete<K: NamespacedKind>(&self, resource: &str, name: &str, timeout: Duration) {
        self.kubectl()
            .ok(&["delete", resource, name, "--wait=false"]);
        self.wait_until::<K>(name, "deleted", timeout, |c| c.is_none())
            .await;
    }

    /// kubectl as the test's admin, in the test's namespace.
    pub fn kubectl(&self) -> crate::kubectl::Kubectl {
        crate::kubectl::Kubectl {
            kubeconfig: self.env.kubeconfig_path().unwrap(),
            namespace: self.env.namespace().to_owned(),
        }
    }

    /// `kubectl apply -f` of `object` (written to a file of the system's).
    pub fn apply(&self, object: &impl serde::Serialize) {
        let path = self.dir.join(format!("apply-{}.yaml", fastrand::u32(..)));
        std::fs::write(&path, serde_yaml::to_string(object).unwrap()).unwrap();
        self.kubectl().ok(&["apply", "-f", path.to_str().unwrap()]);
    }

    /// What is left of guest cluster `cluster` anywhere in the API server:
    /// every object of every listable kind (found by discovery) that is
    /// labelled with the cluster, named after it or carries a finalizer of
    /// an operator of this repository; the entries of its ingress in the
    /// controller's ConfigMaps and Service; its keys in etcd. Empty when
    /// the cluster is gone without a trace.
    pub async fn leftovers(&self, cluster: &str) -> Vec<String> {
        let clusters = [cluster.to_owned()];
        self.leftovers_of(&clusters)
            .await
            .remove(cluster)
            .unwrap_or_default()
    }

    /// [`System::leftovers`] of each of `clusters`, in one pass over the API
    /// server, the ingress controller's objects and etcd (a benchmark of
    /// many clusters polls this; a pass per cluster would load the server
    /// it measures). The controller Service's ports are one set for all:
    /// while they differ from the chart's, every cluster has them left.
    pub async fn leftovers_of(&self, clusters: &[String]) -> BTreeMap<String, Vec<String>> {
        let mut left = api_leftovers_of(&self.env, clusters).await;
        let ingress = self.ingress_leftovers(clusters).await;
        let mut etcd = crate::flannel::client(&self.etcd).await;
        let keys = crate::flannel::keys(&mut etcd, "/").await;
        for cluster in clusters {
            let mine = left.entry(cluster.clone()).or_default();
            mine.extend(ingress.get(cluster).into_iter().flatten().cloned());
            for key in &keys {
                if key.contains(cluster.as_str()) {
                    mine.push(format!("etcd key {key}"));
                }
            }
        }
        left
    }

    /// The clusters' entries in the ingress controller's ConfigMaps and
    /// ports of its Service.
    async fn ingress_leftovers(&self, clusters: &[String]) -> BTreeMap<String, Vec<String>> {
        let mut left: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut entries = Vec::new();
        for map in [crate::ingress::TCP, crate::ingress::UDP] {
            for (port, target) in crate::ingress::entries(&self.env, map).await {
                entries.push((map, port, target));
            }
        }
        let ports = crate::ingress::service_ports(&self.env).await;
        for cluster in clusters {
            let mine = left.entry(cluster.clone()).or_default();
            for (map, port, target) in &entries {
                if target.contains(cluster.as_str()) {
                    mine.push(format!("{map} entry {port}: {target}"));
                }
            }
            if ports != crate::ingress::chart_ports() {
                mine.push(format!("controller Service ports {ports:?}"));
            }
        }
        left
    }

    /// What moto still holds of AWS guest cluster `cluster`: EC2 resources
    /// tagged with it, its stacks' load balancers, Auto Scaling groups, IAM
    /// roles and instance profiles and its Route53 records
    /// ([`crate::aws::tagged_leftovers`]), stacks not deleted, its bucket,
    /// its key alias and keys tagged with it not scheduled for deletion.
    pub async fn aws_leftovers(&self, cluster: &str) -> Vec<String> {
        let mut left = crate::aws::tagged_leftovers(&self.moto, cluster).await;
        let account = crate::aws::account(&self.moto).await;
        let stacks = account
            .cloudformation
            .describe_stacks()
            .send()
            .await
            .unwrap();
        for stack in stacks.stacks() {
            let name = stack.stack_name().unwrap_or_default();
            if name.contains(cluster) {
                left.push(format!("stack {name} {:?}", stack.stack_status()));
            }
        }
        let buckets = account.s3.list_buckets().send().await.unwrap();
        for bucket in buckets.buckets() {
            let name = bucket.name().unwrap_or_default();
            if name.contains(cluster) {
                left.push(format!("bucket {name}"));
            }
        }
        let aliases = account.kms.list_aliases().send().await.unwrap();
        for alias in aliases.aliases() {
            let name = alias.alias_name().unwrap_or_default();
            if name.contains(cluster) {
                left.push(format!("key alias {name}"));
            }
        }
        left.extend(live_keys(&account, cluster).await);
        left
    }
}

/// KMS keys tagged with `cluster` that are not scheduled for deletion (a
/// key cannot be deleted at once: it waits its 7 days, as AWS's).
async fn live_keys(account: &aws_operator::aws::Account, cluster: &str) -> Vec<String> {
    let mut left = Vec::new();
    let keys = account.kms.list_keys().send().await.unwrap();
    for key in keys.keys() {
        let id = key.key_id().unwrap_or_default();
        let tags = account
            .kms
            .list_resource_tags()
            .key_id(id)
            .send()
            .await
            .unwrap();
        if !tags.tags().iter().any(|t| t.tag_value() == cluster) {
            continue;
        }
        let described = account.kms.describe_key().key_id(id).send().await.unwrap();
        let state = described.key_metadata().and_then(|m| m.key_state());
        if state != Some(&aws_sdk_kms::types::KeyState::PendingDeletion) {
            left.push(format!("key {id} {state:?}"));
        }
    }
    left
}

/// Objects of every listable kind, in any namespace, that belong to
/// `cluster` (its label, its name) or carry a finalizer of this
/// repository's operators (`*.operatorkit.dev/*`).
pub async fn api_leftovers(env: &TestEnv, cluster: &str) -> Vec<String> {
    let clusters = [cluster.to_owned()];
    api_leftovers_of(env, &clusters)
        .await
        .remove(cluster)
        .unwrap_or_default()
}

/// [`api_leftovers`] of each of `clusters`, in one pass (an object with a
/// finalizer of ours but of none of them counts for every one).
pub async fn api_leftovers_of(env: &TestEnv, clusters: &[String]) -> BTreeMap<String, Vec<String>> {
    use kube::api::{Api, DynamicObject, ListParams};
    use kube::discovery::{Discovery, verbs};
    let client = env.client();
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let mut left: BTreeMap<String, Vec<String>> =
        clusters.iter().map(|c| (c.clone(), Vec::new())).collect();
    for group in discovery.groups() {
        for (resource, caps) in group.recommended_resources() {
            if !caps.supports_operation(verbs::LIST) {
                continue;
            }
            let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
            let list = match api.list(&ListParams::default()).await {
                Ok(list) => list,
                // Gone since discovery (a CRD deleted meanwhile).
                Err(kube::Error::Api(e)) if e.code == 404 => continue,
                // Not looked at is not nothing left: it counts until a
                // list succeeds.
                Err(e) => {
                    for mine in left.values_mut() {
                        mine.push(format!("{} not listed: {e}", resource.kind));
                    }
                    continue;
                }
            };
            for object in list.items {
                let meta = &object.metadata;
                let label = meta
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(apiextensions::keys::CLUSTER_LABEL));
                let finalizers: Vec<&String> = meta
                    .finalizers
                    .iter()
                    .flatten()
                    .filter(|f| f.contains("operatorkit.dev"))
                    .collect();
                for (cluster, mine) in left.iter_mut() {
                    let labelled = label == Some(cluster);
                    let named = meta.name.as_ref() == Some(cluster)
                        || meta.namespace.as_ref() == Some(cluster);
                    if labelled || named || !finalizers.is_empty() {
                        mine.push(format!(
                            "{} {}/{} finalizers {finalizers:?}",
                            resource.kind,
                            meta.namespace.clone().unwrap_or_default(),
                            meta.name.clone().unwrap_or_default()
                        ));
                    }
                }
            }
        }
    }
    left
}

/// Waits until `what()` is empty; fails with what is left and the
/// operators' logs after `timeout`.
pub async fn wait_empty<F, Fut>(system: &System, what: &str, timeout: Duration, mut left: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Vec<String>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let now = left().await;
        if now.is_empty() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: left after {timeout:?}: {now:#?}\n{}",
            system.logs()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
