//! `cargo xtask dev`: the system on one machine.
//!
//! Builds everything once, then starts the embedded API server in RBAC mode
//! (data kept in `target/dev`), the simulated cluster (three fake nodes,
//! kubelets and workload controllers, and the guest clusters' APIs),
//! installs the CRDs, the namespace `operatorkit-system`, the valid
//! examples and what they need (ingress-nginx's objects, the AWS
//! credentials Secret), starts etcd for flannel-operator (Debian's
//! `etcd-server` on loopback, data in `target/dev/etcd`) and moto for
//! aws-operator (on loopback, in memory, with the example's hosted zone),
//! and runs the five operators as processes, each as the ServiceAccount of
//! its `manifests/<operator>/` ([`accounts`]), with the Deployment's
//! leader election and flags. While the examples come up it shows their
//! conditions and the operators' state ([`progress`]), then a summary of
//! what runs where and the kubectl commands to look further. Ctrl-C (or
//! SIGTERM) stops every process it started ([`processes`]); the server's
//! and etcd's data stay (moto's does not).

mod accounts;
mod processes;
mod progress;

use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::{cmd, workspace};
use processes::{Processes, Stop};

/// Arguments of `cargo xtask dev`.
#[derive(clap::Args)]
pub struct Args {
    /// Port of the API server. 0: any free port, for the server and for
    /// etcd, moto and the operators' metrics too (printed in the summary),
    /// so that it runs beside another `cargo xtask dev`.
    #[arg(long, default_value_t = 6443)]
    port: u16,
    /// Where the server's and etcd's data, the logs, the operators'
    /// kubeconfigs and the PIDs go (default: target/dev).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// How long the examples may take to be Ready before the summary says
    /// which are not (it keeps running either way).
    #[arg(long, default_value = "300")]
    ready_timeout_seconds: u64,
}

/// The operators, in the order they start.
const OPERATORS: &[&str] = &[
    "cert-operator",
    "ingress-operator",
    "flannel-operator",
    "kvm-operator",
    "aws-operator",
];

/// The ports besides the API server's.
struct Ports {
    etcd_client: u16,
    etcd_peer: u16,
    moto: u16,
    /// One per operator of [`OPERATORS`], in order.
    metrics: Vec<u16>,
}

impl Ports {
    /// The fixed ones (not etcd's 2379/2380 nor moto's 5000, so that those
    /// running on the machine are left alone), checked to be free.
    fn fixed(api: u16) -> anyhow::Result<Self> {
        let ports = Self {
            etcd_client: 23790,
            etcd_peer: 23800,
            moto: 50050,
            metrics: (8081..).take(OPERATORS.len()).collect(),
        };
        let api = ("the API server".to_owned(), api);
        for (what, port) in std::iter::once(api).chain(ports.named()) {
            if TcpListener::bind(("127.0.0.1", port)).is_err() {
                bail!(
                    "port {port} ({what}) is taken: is another `cargo xtask dev` running? \
                     `--port 0` runs one on free ports"
                );
            }
        }
        Ok(ports)
    }

    /// Free ones, chosen by the kernel (all held open until all are chosen).
    fn free() -> anyhow::Result<Self> {
        let listeners = (0..3 + OPERATORS.len())
            .map(|_| TcpListener::bind("127.0.0.1:0"))
            .collect::<Result<Vec<_>, _>>()
            .context("choosing free ports")?;
        let mut ports = listeners
            .iter()
            .map(|l| l.local_addr().map(|a| a.port()))
            .collect::<Result<Vec<_>, _>>()?
            .into_iter();
        let mut next = || ports.next().context("too few ports");
        Ok(Self {
            etcd_client: next()?,
            etcd_peer: next()?,
            moto: next()?,
            metrics: (0..OPERATORS.len())
                .map(|_| next())
                .collect::<Result<_, _>>()?,
        })
    }

    fn named(&self) -> Vec<(String, u16)> {
        let mut out = vec![
            ("etcd".to_owned(), self.etcd_client),
            ("etcd's peers".to_owned(), self.etcd_peer),
            ("moto".to_owned(), self.moto),
        ];
        out.extend(
            OPERATORS
                .iter()
                .zip(&self.metrics)
                .map(|(o, p)| (format!("{o}'s metrics"), *p)),
        );
        out
    }

    fn moto_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.moto)
    }

    fn etcd_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.etcd_client)
    }
}

/// The hosted zone of the AWSConfig example's records.
const EXAMPLE_ZONE: &str = "aws.example.com";

/// Fake nodes the development cluster has.
const SIMULATED_NODES: usize = 3;

/// How long an operator may take to stop after SIGTERM (its
/// --shutdown-timeout, shorter than the Deployment's 25 s: nothing here
/// waits for it), and what is left before it is killed.
const OPERATOR_SHUTDOWN: &str = "5s";
const OPERATOR_GRACE: Duration = Duration::from_secs(10);
/// The same for the server, the simulation, etcd and moto.
const GRACE: Duration = Duration::from_secs(10);

/// The flags an operator gets besides the kubeconfig, metrics address and
/// leader election: its Deployment's (`manifests/<operator>/deployment.yaml`)
/// where they make sense here, and what only this machine needs.
fn operator_flags(name: &str, ports: &Ports) -> Vec<String> {
    let version = env!("CARGO_PKG_VERSION");
    let flags: Vec<String> = match name {
        "cert-operator" => vec!["--backend=builtin".into()],
        "ingress-operator" => vec!["--controller-namespace=ingress-nginx".into()],
        // The Deployment's etcd is the host cluster's, over TLS; here it is
        // the one started on loopback, without.
        "flannel-operator" => vec![format!("--etcd-endpoints={}", ports.etcd_url())],
        "kvm-operator" => vec![
            format!("--cert-operator-version={version}"),
            format!("--flannel-operator-version={version}"),
            format!("--ingress-operator-version={version}"),
            // Here only: the simulated nodes are tainted (KWOK's
            // convention); the guest APIs answer on loopback where the
            // simulation publishes them.
            "--tolerate-taints=kwok.x-k8s.io/node".into(),
            "--guest-api-address-annotation=simulation.operatorkit.dev/guest-api-address".into(),
        ],
        "aws-operator" => vec![
            "--aws-rate=10".into(),
            "--aws-timeout=30s".into(),
            "--recheck=5m".into(),
            format!("--cert-operator-version={version}"),
            // Here only: moto instead of AWS.
            format!("--endpoint-url={}", ports.moto_url()),
        ],
        _ => Vec::new(),
    };
    flags
}

/// kubectl: `KUBECTL`, else the one on the PATH.
fn kubectl_program() -> String {
    std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".to_owned())
}

/// Runs the development environment until Ctrl-C (or SIGTERM), or until the
/// API server or the simulation stops.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let stop = Stop::install()?;
    match run_until_stopped(args, &stop) {
        // Ctrl-C while starting: everything started is stopped already.
        Err(_) if stop.requested() => {
            eprintln!("==> dev: interrupted");
            Ok(())
        }
        result => result,
    }
}

fn run_until_stopped(args: &Args, stop: &Stop) -> anyhow::Result<()> {
    let dirs = Dirs::make(args)?;
    let ports = if args.port == 0 {
        Ports::free()?
    } else {
        Ports::fixed(args.port)?
    };
    build(&dirs.root)?;
    stop.check()?;
    let mut procs = Processes::new(dirs.data.join("pids"));
    let kubeconfig = start_server(&dirs, args.port, &mut procs)?;
    let server_url = server_url(&kubeconfig)?;
    let kube = Kube {
        root: dirs.root.clone(),
        kubeconfig: kubeconfig.clone(),
    };
    start_simulation(&dirs, &kubeconfig, &mut procs)?;
    wait_for_nodes(&kube, stop)?;
    kube.run("kubectl get nodes", &["get", "nodes", "-o", "wide"])?;
    install(&kube)?;
    stop.check()?;
    start_etcd(&dirs, &ports, &mut procs, stop)?;
    start_moto(&dirs, &ports, &mut procs, stop)?;
    let running = start_operators(&dirs, &ports, &kubeconfig, &mut procs, stop)?;

    let started = Instant::now();
    let mut denials = Denials::default();
    let state = watch_progress(
        &kube,
        &mut procs,
        stop,
        &running,
        &dirs.logs,
        &mut denials,
        Duration::from_secs(args.ready_timeout_seconds),
    )?;
    if stop.requested() {
        return Ok(());
    }
    let summary = Summary {
        server_url: &server_url,
        kubeconfig: &kubeconfig,
        data_dir: &dirs.data,
        ports: &ports,
        operators: &running,
        state: &state,
        elapsed: started.elapsed(),
    };
    println!("{}", summary.render());
    let _ = std::io::stdout().flush();
    let denied = state
        .operators
        .iter()
        .flat_map(|o| o.denied.iter().map(|d| (o.name.clone(), d.clone())))
        .collect();
    let exited = state
        .operators
        .iter()
        .filter(|o| matches!(o.process, progress::Process::Exited { .. }))
        .map(|o| o.name.clone())
        .collect();
    let said = Said { exited, denied };
    watch_until_stopped(&dirs, &running, &mut procs, stop, denials, said)
}

/// The repository, the data directory and where logs and the operators'
/// kubeconfigs go.
struct Dirs {
    root: PathBuf,
    data: PathBuf,
    logs: PathBuf,
    operators: PathBuf,
}

impl Dirs {
    /// `--data-dir` (else `target/dev`) and its `logs/` and `operators/`,
    /// made if missing.
    fn make(args: &Args) -> anyhow::Result<Self> {
        let data = match &args.data_dir {
            Some(d) => std::path::absolute(d)?,
            None => workspace::target_dir().join("dev"),
        };
        let dirs = Self {
            root: workspace::root(),
            logs: data.join("logs"),
            operators: data.join("operators"),
            data,
        };
        for dir in [&dirs.data, &dirs.logs, &dirs.operators] {
            std::fs::create_dir_all(dir).with_context(|| format!("making {}", dir.display()))?;
        }
        Ok(dirs)
    }

    /// Where `name`'s log is.
    fn log(&self, name: &str) -> PathBuf {
        self.logs.join(format!("{name}.log"))
    }
}

/// The built binaries.
fn bin() -> PathBuf {
    workspace::target_dir().join("debug")
}

/// Starts the API server on `port` and returns the path of the admin
/// kubeconfig it writes.
fn start_server(dirs: &Dirs, port: u16, procs: &mut Processes) -> anyhow::Result<PathBuf> {
    eprintln!(
        "==> dev: starting the embedded API server (RBAC; data in {}, log in {})",
        dirs.data.display(),
        dirs.log("apiserver").display()
    );
    let server = procs.spawn(
        "apiserver",
        Command::new(bin().join("operatorkit-apiserver"))
            .current_dir(&dirs.root)
            .arg("--port")
            .arg(port.to_string())
            .arg("--data-dir")
            .arg(&dirs.data)
            .args(["--authorization-mode", "RBAC"])
            .stdout(Stdio::piped())
            .stderr(log_file(&dirs.logs, "apiserver")?.1),
        // It stops gracefully on Ctrl-C (SIGINT) only.
        "INT",
        GRACE,
    )?;
    match read_kubeconfig_path(server)? {
        Some(kubeconfig) => Ok(kubeconfig),
        None => {
            let status = procs.exited("apiserver");
            bail!(
                "the API server stopped before it was ready ({status:?}); see {}",
                dirs.log("apiserver").display()
            )
        }
    }
}

/// Starts the simulated cluster against the server of `kubeconfig`.
fn start_simulation(dirs: &Dirs, kubeconfig: &Path, procs: &mut Processes) -> anyhow::Result<()> {
    eprintln!("==> dev: starting the simulated cluster ({SIMULATED_NODES} fake nodes)");
    let (out, err) = log_file(&dirs.logs, "simulation")?;
    procs.spawn(
        "simulation",
        Command::new(bin().join("operatorkit-simulation"))
            .current_dir(&dirs.root)
            .env("KUBECONFIG", kubeconfig)
            .args(["--nodes", &SIMULATED_NODES.to_string(), "--guest-clusters"])
            .stdout(out)
            .stderr(err),
        "TERM",
        GRACE,
    )?;
    Ok(())
}

/// Starts etcd (data in `<data-dir>/etcd`) and waits until it listens.
fn start_etcd(
    dirs: &Dirs,
    ports: &Ports,
    procs: &mut Processes,
    stop: &Stop,
) -> anyhow::Result<()> {
    eprintln!("==> dev: starting etcd on {}", ports.etcd_url());
    let client = ports.etcd_url();
    let peer = format!("http://127.0.0.1:{}", ports.etcd_peer);
    procs
        .spawn(
            "etcd",
            Command::new("etcd")
                .arg("--data-dir")
                .arg(dirs.data.join("etcd"))
                .args(["--name", "dev"])
                .args(["--listen-client-urls", &client])
                .args(["--advertise-client-urls", &client])
                .args(["--listen-peer-urls", &peer])
                .args(["--initial-advertise-peer-urls", &peer])
                .args(["--initial-cluster", &format!("dev={peer}")])
                .stdout(Stdio::null())
                .stderr(log_file(&dirs.logs, "etcd")?.1),
            "TERM",
            GRACE,
        )
        .context("run `cargo xtask tools` to install etcd")?;
    wait_for_port(procs, stop, "etcd", ports.etcd_client)
}

/// Starts moto, waits until it listens and makes the example's hosted zone.
fn start_moto(
    dirs: &Dirs,
    ports: &Ports,
    procs: &mut Processes,
    stop: &Stop,
) -> anyhow::Result<()> {
    eprintln!("==> dev: starting moto (AWS) on {}", ports.moto_url());
    let venv = workspace::target_dir().join("tools/venv/bin");
    procs
        .spawn(
            "moto",
            Command::new(venv.join("moto_server"))
                .args(["-H", "127.0.0.1", "-p", &ports.moto.to_string()])
                .stdout(Stdio::null())
                .stderr(log_file(&dirs.logs, "moto")?.1),
            "TERM",
            GRACE,
        )
        .context("run `cargo xtask tools` to install moto")?;
    wait_for_port(procs, stop, "moto", ports.moto)?;
    hosted_zone(&venv, &ports.moto_url())?;
    stop.check()
}

/// Starts every operator as its ServiceAccount; returns each with its
/// metrics address and account.
fn start_operators(
    dirs: &Dirs,
    ports: &Ports,
    kubeconfig: &Path,
    procs: &mut Processes,
    stop: &Stop,
) -> anyhow::Result<Vec<(&'static str, String, accounts::Account)>> {
    let kubectl = kubectl_program();
    let mut running = Vec::new();
    for (name, port) in OPERATORS.iter().zip(&ports.metrics) {
        let account = accounts::set_up(&dirs.root, &kubectl, kubeconfig, name, &dirs.operators)?;
        let metrics = format!("127.0.0.1:{port}");
        let (out, err) = log_file(&dirs.logs, name)?;
        procs.spawn(
            name,
            Command::new(bin().join(name))
                .current_dir(&dirs.root)
                .env("POD_NAMESPACE", accounts::NAMESPACE)
                .env("POD_NAME", format!("{name}-dev"))
                .arg("--kubeconfig")
                .arg(&account.kubeconfig)
                .arg(format!("--metrics-address={metrics}"))
                .arg("--leader-elect")
                .arg(format!("--lease-name={name}-leader"))
                .arg(format!("--shutdown-timeout={OPERATOR_SHUTDOWN}"))
                .args(operator_flags(name, ports))
                .stdout(out)
                .stderr(err),
            "TERM",
            OPERATOR_GRACE,
        )?;
        running.push((*name, metrics, account));
        stop.check()?;
    }
    Ok(running)
}

/// What the wait for the examples said already, not to be said again.
struct Said {
    /// The operators seen exited.
    exited: Vec<String>,
    /// (operator, refusal) of the requests seen refused.
    denied: Vec<(String, String)>,
}

/// Until Ctrl-C, or until the server or the simulation stops (an error);
/// an operator that stops, or a request refused to it, is said as it
/// happens, unless the wait for the examples said it (`said`).
fn watch_until_stopped(
    dirs: &Dirs,
    running: &[(&'static str, String, accounts::Account)],
    procs: &mut Processes,
    stop: &Stop,
    mut denials: Denials,
    said: Said,
) -> anyhow::Result<()> {
    let Said {
        exited: mut reported,
        mut denied,
    } = said;
    while !stop.requested() {
        for name in ["apiserver", "simulation"] {
            if let Some(status) = procs.exited(name) {
                bail!(
                    "{name} stopped ({status}); see {}",
                    dirs.log(name).display()
                );
            }
        }
        for (name, _, _) in running {
            if !reported.iter().any(|r| r == name)
                && let Some(status) = procs.exited(name)
            {
                eprintln!(
                    "==> dev: {name} stopped ({status}); see {}",
                    dirs.log(name).display()
                );
                reported.push((*name).to_owned());
            }
            for d in denials.of(&dirs.log(name)) {
                let key = ((*name).to_owned(), d);
                if !denied.contains(&key) {
                    eprintln!("==> dev: {name}: RBAC denied: {}", key.1);
                    denied.push(key);
                }
            }
        }
        stop.sleep(Duration::from_millis(500));
    }
    eprintln!("==> dev: interrupted");
    Ok(())
}

/// Builds the server, the simulation and the operators in one cargo run.
fn build(root: &Path) -> anyhow::Result<()> {
    let mut build = cmd::cargo();
    build.current_dir(root).args([
        "build",
        "--quiet",
        "--package",
        "operatorkit-apiserver",
        "--package",
        "operatorkit-simulation",
    ]);
    for name in OPERATORS {
        build.args(["--package", name]);
    }
    cmd::run(
        "build the API server, the simulation and the operators",
        &mut build,
    )
}

/// `<logs>/<name>.log`, made anew (each run has its own logs), as stdout
/// and stderr.
fn log_file(logs: &Path, name: &str) -> anyhow::Result<(std::fs::File, std::fs::File)> {
    let path = logs.join(format!("{name}.log"));
    let file =
        std::fs::File::create(&path).with_context(|| format!("making {}", path.display()))?;
    Ok((file.try_clone()?, file))
}

/// The kubeconfig path the server prints first on its stdout (None if it
/// stopped before); the rest of its stdout is read and dropped.
fn read_kubeconfig_path(server: &mut std::process::Child) -> anyhow::Result<Option<PathBuf>> {
    let Some(out) = server.stdout.take() else {
        return Ok(None);
    };
    let mut reader = BufReader::new(out);
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .context("reading the kubeconfig path")?;
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    let path = line.trim();
    Ok((!path.is_empty()).then(|| PathBuf::from(path)))
}

/// The server's URL, from the admin kubeconfig.
fn server_url(kubeconfig: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(kubeconfig)
        .with_context(|| format!("reading {}", kubeconfig.display()))?;
    let config: serde_json::Value =
        serde_yaml::from_str(&text).with_context(|| format!("reading {}", kubeconfig.display()))?;
    config["clusters"][0]["cluster"]["server"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no server in {}", kubeconfig.display()))
}

/// kubectl as the admin.
struct Kube {
    root: PathBuf,
    kubeconfig: PathBuf,
}

impl Kube {
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(kubectl_program());
        c.current_dir(&self.root)
            .env("KUBECONFIG", &self.kubeconfig)
            .args(args);
        c
    }

    /// Runs kubectl as step `step` of the output.
    fn run(&self, step: &str, args: &[&str]) -> anyhow::Result<()> {
        cmd::run(step, &mut self.command(args))
    }

    /// Runs kubectl quietly and reads its JSON output.
    fn json(&self, what: &str, args: &[&str]) -> anyhow::Result<serde_json::Value> {
        let out = cmd::stdout(what, &mut self.command(args))?;
        serde_json::from_slice(&out).with_context(|| format!("{what}: reading kubectl's JSON"))
    }
}

/// Waits until the fake nodes exist and are Ready (they appear a moment
/// after the simulation starts).
fn wait_for_nodes(kube: &Kube, stop: &Stop) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    eprintln!("==> dev: waiting for the fake nodes to be Ready");
    loop {
        stop.check()?;
        let nodes = kube.json("kubectl get nodes", &["get", "nodes", "-o", "json"]);
        let ready = |n: &serde_json::Value| {
            n["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["type"] == apiextensions::status::READY && c["status"] == "True")
        };
        if let Ok(nodes) = &nodes
            && let Some(items) = nodes["items"].as_array()
            && items.len() >= SIMULATED_NODES
            && items.iter().all(ready)
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the fake nodes were not Ready within 60 s (last: {nodes:?})");
        }
        stop.sleep(Duration::from_millis(300));
    }
}

/// Waits until process `name` takes connections on `port`.
fn wait_for_port(procs: &mut Processes, stop: &Stop, name: &str, port: u16) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        stop.check()?;
        if let Some(status) = procs.exited(name) {
            bail!("{name} stopped before it took connections ({status})");
        }
        if Instant::now() > deadline {
            bail!("{name} took no connection on port {port} within 30 s");
        }
        stop.sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Makes the example's hosted zone in moto (with the venv's boto3, which
/// moto is built on).
fn hosted_zone(venv: &Path, moto_url: &str) -> anyhow::Result<()> {
    let zone = format!(
        "import boto3\n\
         c = boto3.client('route53', endpoint_url='{moto_url}', region_name='us-east-1', \
         aws_access_key_id='testing', aws_secret_access_key='testing')\n\
         c.create_hosted_zone(Name='{EXAMPLE_ZONE}', CallerReference='dev')\n"
    );
    cmd::run(
        "make the example's hosted zone in moto",
        Command::new(venv.join("python")).args(["-c", &zone]),
    )
}

/// Applies the CRDs, waits for them, makes the operators' namespace and the
/// host ingress controller's objects (`manifests/dev/`: ingress-nginx's
/// namespace, ConfigMaps and Service, which ingress-operator edits) and the
/// AWS credentials Secret, and applies the valid examples.
fn install(kube: &Kube) -> anyhow::Result<()> {
    kube.run("install CRDs", &["apply", "-f", "manifests/crds"])?;
    kube.run(
        "wait for CRDs",
        &[
            "wait",
            "--for=condition=Established",
            "crd",
            "--all",
            "--timeout=60s",
        ],
    )?;
    kube.run(
        "make the operators' namespace",
        &["apply", "-f", "manifests/namespace.yaml"],
    )?;
    kube.run(
        "make ingress-nginx's objects",
        &["apply", "-f", "manifests/dev/ingress-nginx.yaml"],
    )?;
    kube.run(
        "make the AWS credentials Secret",
        &["apply", "-f", "manifests/dev/aws-credentials.yaml"],
    )?;
    kube.run("apply examples", &["apply", "-f", "manifests/examples"])
}

/// Whether `/readyz` on `address` answers 200 (None: no answer).
fn readyz(address: &str) -> Option<bool> {
    let addr: std::net::SocketAddr = address.parse().ok()?;
    let timeout = Duration::from_millis(500);
    let mut stream = TcpStream::connect_timeout(&addr, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    stream
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut head = [0u8; 16];
    let n = stream.read(&mut head).ok()?;
    let head = String::from_utf8_lossy(&head[..n]);
    let code = head.split_whitespace().nth(1)?;
    Some(code == "200")
}

/// The last non-empty line of `path` (a log), cut to a useful length.
fn last_line(path: &Path) -> String {
    let text = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    progress::fit(line.trim(), 200)
}

/// What the operators' logs say the API server refused them, read as the
/// logs grow.
#[derive(Default)]
struct Denials {
    /// Per log: the bytes read (whole lines) and what was refused.
    read: std::collections::BTreeMap<PathBuf, (u64, Vec<String>)>,
}

impl Denials {
    /// The refusals in `log` so far.
    fn of(&mut self, log: &Path) -> Vec<String> {
        use std::io::Seek;
        let (offset, denied) = self.read.entry(log.to_path_buf()).or_default();
        let mut new = Vec::new();
        if let Ok(mut file) = std::fs::File::open(log)
            && file.seek(std::io::SeekFrom::Start(*offset)).is_ok()
            && file.read_to_end(&mut new).is_ok()
        {
            // Whole lines only: the rest is read next time.
            let end = new.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            *offset += end as u64;
            for d in progress::forbidden(&String::from_utf8_lossy(&new[..end])) {
                if !denied.contains(&d) {
                    denied.push(d);
                }
            }
            denied.sort();
        }
        denied.clone()
    }
}

/// What is running now.
fn observe(
    kube: &Kube,
    procs: &mut Processes,
    running: &[(&str, String, accounts::Account)],
    logs: &Path,
    denials: &mut Denials,
) -> progress::State {
    let kinds = "kvmconfigs,awsconfigs,certconfigs,flannelconfigs,ingressconfigs";
    let resources = kube
        .json("kubectl get", &["get", kinds, "-A", "-o", "json"])
        .map(|list| progress::parse_resources(&list))
        .unwrap_or_default();
    let operators = running
        .iter()
        .map(|(name, metrics, _)| {
            let process = match procs.exited(name) {
                Some(status) => progress::Process::Exited {
                    status: status.to_string(),
                    last_log: last_line(&logs.join(format!("{name}.log"))),
                },
                None => progress::Process::Running {
                    ready: readyz(metrics),
                },
            };
            progress::Operator {
                name: (*name).to_owned(),
                metrics: format!("http://{metrics}"),
                process,
                denied: denials.of(&logs.join(format!("{name}.log"))),
            }
        })
        .collect();
    progress::State {
        resources,
        operators,
    }
}

/// The width of the terminal on stderr (`stty size`), else 100.
fn columns() -> usize {
    std::fs::File::open("/dev/tty")
        .ok()
        .and_then(|tty| Command::new("stty").arg("size").stdin(tty).output().ok())
        .and_then(|out| {
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .nth(1)
                .and_then(|c| c.parse().ok())
        })
        .unwrap_or(100)
}

/// Shows the examples and the operators until all are Ready, `timeout`
/// passes or a signal comes; returns the last state.
fn watch_progress(
    kube: &Kube,
    procs: &mut Processes,
    stop: &Stop,
    running: &[(&str, String, accounts::Account)],
    logs: &Path,
    denials: &mut Denials,
    timeout: Duration,
) -> anyhow::Result<progress::State> {
    let terminal = std::io::stderr().is_terminal();
    let mut display = progress::Display::new(terminal, columns());
    let started = Instant::now();
    eprintln!(
        "==> dev: waiting for the examples to be Ready (operators' logs in {})",
        logs.display()
    );
    loop {
        let state = observe(kube, procs, running, logs, denials);
        let header = format!(
            "waiting for the examples to be Ready ({}s); Ctrl-C stops everything",
            started.elapsed().as_secs()
        );
        display.show(&header, &state);
        if state.all_ready() || stop.requested() || started.elapsed() > timeout {
            display.finish();
            return Ok(state);
        }
        stop.sleep(Duration::from_secs(1));
    }
}

/// What runs where, and how to look further.
struct Summary<'a> {
    server_url: &'a str,
    kubeconfig: &'a Path,
    data_dir: &'a Path,
    ports: &'a Ports,
    operators: &'a [(&'a str, String, accounts::Account)],
    state: &'a progress::State,
    elapsed: Duration,
}

impl Summary<'_> {
    fn render(&self) -> String {
        let mut s = String::new();
        let not_ready = self.state.not_ready();
        if not_ready.is_empty() {
            s.push_str(&format!(
                "\nThe examples and the operators are Ready (in {}s).\n\n",
                self.elapsed.as_secs()
            ));
        } else {
            s.push_str(&format!(
                "\nNot Ready after {}s: {} (see the logs below).\n\n",
                self.elapsed.as_secs(),
                not_ready.join(", ")
            ));
        }
        let logs = self.data_dir.join("logs");
        s.push_str(&format!(
            "  API server   {} (RBAC enforced; data in {})\n",
            self.server_url,
            self.data_dir.display()
        ));
        s.push_str(&format!(
            "  simulation   {SIMULATED_NODES} fake nodes; the KVM guest clusters' APIs on loopback\n"
        ));
        s.push_str(&format!(
            "  etcd         {} (data in {})\n",
            self.ports.etcd_url(),
            self.data_dir.join("etcd").display()
        ));
        s.push_str(&format!("  moto (AWS)   {}\n", self.ports.moto_url()));
        for (name, metrics, account) in self.operators {
            s.push_str(&format!(
                "  {name:<17} http://{metrics}/metrics, as ServiceAccount {}/{} ({})\n",
                accounts::NAMESPACE,
                account.service_account,
                account.kubeconfig.display()
            ));
        }
        s.push_str(&format!(
            "  logs in {}, PIDs in {}\n\n",
            logs.display(),
            self.data_dir.join("pids").display()
        ));
        s.push_str(&format!(
            "Look further (an admin, cluster-admin, kubeconfig):\n\n  export KUBECONFIG={}\n  \
             kubectl get operatorkit\n  kubectl get pods -A\n",
            self.kubeconfig.display()
        ));
        let guests = self
            .state
            .resources
            .iter()
            .filter(|r| r.kind == "KVMConfig" || r.kind == "AWSConfig");
        for r in guests {
            s.push_str(&format!(
                "  kubectl describe {} {} -n {}\n",
                r.kind.to_lowercase(),
                r.name,
                r.namespace
            ));
        }
        if let Some((_, _, account)) = self.operators.first() {
            s.push_str(&format!(
                "  kubectl auth can-i --list --as=system:serviceaccount:{}:{}   # what an operator may do\n",
                accounts::NAMESPACE,
                account.service_account
            ));
        }
        let kvm = self
            .state
            .resources
            .iter()
            .filter(|r| r.kind == "KVMConfig");
        for r in kvm {
            let id = r.cluster_id.as_deref().unwrap_or(&r.name);
            s.push_str(&format!(
                "\n  # guest cluster {id}'s own API (simulated), with its admin kubeconfig:\n  \
                 kubectl get secret {} -n {} -o jsonpath='{{.data.value}}' | base64 -d > {id}.kubeconfig\n  \
                 kubectl --kubeconfig {id}.kubeconfig get nodes\n",
                apiextensions::certificates::kubeconfig_secret_name(id),
                r.namespace
            ));
        }
        s.push_str(
            "\nCtrl-C stops everything; the server's and etcd's data stay (moto's does not).",
        );
        s
    }
}
