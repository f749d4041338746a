//! `cargo xtask dev`: the system on one machine.
//!
//! Starts the embedded API server (data kept in `target/dev`), the simulated
//! cluster (three fake nodes, kubelets and workload controllers, printed with
//! `kubectl get nodes`), installs the CRDs and the valid examples with
//! kubectl (and the ingress controller's objects ingress-operator edits, and
//! the AWS credentials Secret the AWSConfig example names), starts etcd for
//! flannel-operator (Debian's `etcd-server` on loopback, data in
//! `target/dev/etcd`) and moto for aws-operator (on loopback, in memory,
//! with the example's hosted zone), runs the operators (cert-operator,
//! flannel-operator, ingress-operator, kvm-operator, aws-operator) against
//! it until their examples are Ready, and says how to reach it. Ctrl-C
//! stops everything; the server's and etcd's data stay (moto's does not).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, bail};

use crate::{cmd, workspace};

/// Arguments of `cargo xtask dev`.
#[derive(clap::Args)]
pub struct Args {
    /// Port of the API server (0: any free port).
    #[arg(long, default_value_t = 6443)]
    port: u16,
}

/// Operators that run here, with the address of their metrics, the kind
/// whose examples they make Ready, and their own flags.
const OPERATORS: &[(&str, &str, &str, &[&str])] = &[
    ("cert-operator", "127.0.0.1:8081", "certconfigs", &[]),
    ("ingress-operator", "127.0.0.1:8082", "ingressconfigs", &[]),
    (
        "flannel-operator",
        "127.0.0.1:8083",
        "flannelconfigs",
        &["--etcd-endpoints", "http://127.0.0.1:23790"],
    ),
    (
        "kvm-operator",
        "127.0.0.1:8084",
        "kvmconfigs",
        // The simulated nodes are tainted (KWOK's convention); the guest
        // APIs answer on loopback where the simulation publishes them.
        &[
            "--tolerate-taints",
            "kwok.x-k8s.io/node",
            "--guest-api-address-annotation",
            "simulation.operatorkit.dev/guest-api-address",
        ],
    ),
    (
        "aws-operator",
        "127.0.0.1:8085",
        "awsconfigs",
        &["--endpoint-url", MOTO_URL],
    ),
];

/// moto's address (not its default, 5000, often taken), and as a URL.
const MOTO_ADDRESS: &str = "127.0.0.1:50050";
const MOTO_URL: &str = "http://127.0.0.1:50050";
/// The hosted zone of the AWSConfig example's records.
const EXAMPLE_ZONE: &str = "aws.example.com";

/// etcd's client and peer addresses (not etcd's defaults, 2379 and 2380, so
/// that an etcd already running on the machine is left alone).
const ETCD_CLIENT: &str = "127.0.0.1:23790";
const ETCD_PEER: &str = "127.0.0.1:23800";

/// Runs the development environment until the API server stops.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let root = workspace::root();
    let data_dir = workspace::target_dir().join("dev");
    let cargo = cmd::cargo();
    eprintln!(
        "==> dev: building and starting the embedded API server (data in {})",
        data_dir.display()
    );
    let mut server = Command::new(&cargo)
        .current_dir(&root)
        .args([
            "run",
            "--quiet",
            "--package",
            "operatorkit-apiserver",
            "--",
            "--port",
        ])
        .arg(args.port.to_string())
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["--authorization-mode", "RBAC"])
        .stdout(Stdio::piped())
        .spawn()
        .context("starting the API server")?;
    let mut line = String::new();
    if let Some(out) = server.stdout.take() {
        BufReader::new(out)
            .read_line(&mut line)
            .context("reading the kubeconfig path")?;
    }
    let kubeconfig = line.trim().to_owned();
    if kubeconfig.is_empty() {
        let status = server.wait()?;
        bail!("the API server stopped before it was ready ({status})");
    }
    let mut simulation = match simulate(&root, &cargo, Path::new(&kubeconfig)) {
        Ok(child) => child,
        Err(e) => {
            let _ = server.kill();
            return Err(e);
        }
    };
    let installed = install(&root, Path::new(&kubeconfig));
    if let Err(e) = installed {
        let _ = simulation.kill();
        let _ = server.kill();
        return Err(e);
    }
    let mut etcd = match start_etcd(&data_dir.join("etcd")) {
        Ok(child) => child,
        Err(e) => {
            let _ = simulation.kill();
            let _ = server.kill();
            return Err(e);
        }
    };
    let mut moto = match start_moto() {
        Ok(child) => child,
        Err(e) => {
            let _ = etcd.kill();
            let _ = simulation.kill();
            let _ = server.kill();
            return Err(e);
        }
    };
    let operators = match start_operators(&root, &cargo, Path::new(&kubeconfig)) {
        Ok(o) => o,
        Err(e) => {
            let _ = moto.kill();
            let _ = etcd.kill();
            let _ = simulation.kill();
            let _ = server.kill();
            return Err(e);
        }
    };
    let running: Vec<String> = OPERATORS
        .iter()
        .map(|(name, metrics, _, _)| format!("{name} (metrics on http://{metrics}/metrics)"))
        .collect();
    println!(
        "\nThe embedded API server is running (RBAC enforced) with a simulated cluster of \
         {SIMULATED_NODES} fake nodes, etcd on http://{ETCD_CLIENT}, moto (AWS) on {MOTO_URL}, and {}.\n\n  \
         export KUBECONFIG={kubeconfig}   # an admin (cluster-admin) kubeconfig\n  kubectl get operatorkit\n\n\
         Ctrl-C stops everything; the server's data stays in {}.",
        running.join(", "),
        data_dir.display()
    );
    let status = server.wait().context("waiting for the API server")?;
    let _ = simulation.kill();
    let _ = simulation.wait();
    let _ = etcd.kill();
    let _ = etcd.wait();
    let _ = moto.kill();
    let _ = moto.wait();
    for mut operator in operators {
        let _ = operator.kill();
        let _ = operator.wait();
    }
    if !status.success() {
        bail!("the API server exited with {status}");
    }
    Ok(())
}

/// Fake nodes the development cluster has.
const SIMULATED_NODES: usize = 3;

/// Builds and starts the simulated cluster, waits for its nodes to be Ready
/// and prints them.
fn simulate(root: &Path, cargo: &str, kubeconfig: &Path) -> anyhow::Result<Child> {
    cmd::run(
        "build the simulated cluster",
        Command::new(cargo).current_dir(root).args([
            "build",
            "--quiet",
            "--package",
            "operatorkit-simulation",
        ]),
    )?;
    let binary = workspace::target_dir()
        .join("debug")
        .join("operatorkit-simulation");
    let mut child = Command::new(&binary)
        .current_dir(root)
        .env("KUBECONFIG", kubeconfig)
        .args(["--nodes", &SIMULATED_NODES.to_string(), "--guest-clusters"])
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let ready = wait_for_nodes(root, kubeconfig).and_then(|()| {
        kubectl(
            root,
            kubeconfig,
            "kubectl get nodes",
            &["get", "nodes", "-o", "wide"],
        )
    });
    if let Err(e) = ready {
        let _ = child.kill();
        return Err(e);
    }
    Ok(child)
}

/// Waits until the fake nodes exist and are Ready (they appear a moment
/// after the simulation starts).
fn wait_for_nodes(root: &Path, kubeconfig: &Path) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let waited = kubectl(
            root,
            kubeconfig,
            "wait for the fake nodes",
            &[
                "wait",
                "--for=condition=Ready",
                "nodes",
                "--all",
                "--timeout=30s",
            ],
        );
        match waited {
            Ok(()) => return Ok(()),
            Err(_) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Starts etcd (`etcd` on the PATH, Debian's `etcd-server`) on loopback
/// with its data in `data_dir`, and waits until it takes connections.
fn start_etcd(data_dir: &Path) -> anyhow::Result<Child> {
    eprintln!(
        "==> dev: starting etcd on {ETCD_CLIENT} (data in {})",
        data_dir.display()
    );
    let client = format!("http://{ETCD_CLIENT}");
    let peer = format!("http://{ETCD_PEER}");
    let mut child = Command::new("etcd")
        .arg("--data-dir")
        .arg(data_dir)
        .args([
            "--name",
            "dev",
            "--listen-client-urls",
            &client,
            "--advertise-client-urls",
            &client,
        ])
        .args([
            "--listen-peer-urls",
            &peer,
            "--initial-advertise-peer-urls",
            &peer,
        ])
        .args(["--initial-cluster", &format!("dev={peer}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting etcd (run `cargo xtask tools` to install it)")?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::net::TcpStream::connect(ETCD_CLIENT).is_err() {
        if let Some(status) = child.try_wait()? {
            bail!("etcd stopped before it took connections ({status})");
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            bail!("etcd took no connection on {ETCD_CLIENT} within 30 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    Ok(child)
}

/// Starts moto (`cargo xtask tools` puts it in its venv) on
/// [`MOTO_ADDRESS`], waits until it answers, and makes the example's hosted
/// zone in it (with the venv's boto3, which moto is built on).
fn start_moto() -> anyhow::Result<Child> {
    eprintln!("==> dev: starting moto (AWS) on {MOTO_ADDRESS}");
    let bin = workspace::target_dir().join("tools/venv/bin");
    let (host, port) = MOTO_ADDRESS.split_once(':').unwrap_or((MOTO_ADDRESS, ""));
    let mut child = Command::new(bin.join("moto_server"))
        .args(["-H", host, "-p", port])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting moto (run `cargo xtask tools` to install it)")?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::net::TcpStream::connect(MOTO_ADDRESS).is_err() {
        if let Some(status) = child.try_wait()? {
            bail!("moto stopped before it took connections ({status})");
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            bail!("moto took no connection on {MOTO_ADDRESS} within 30 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let zone = format!(
        "import boto3\n\
         c = boto3.client('route53', endpoint_url='{MOTO_URL}', region_name='us-east-1', \
         aws_access_key_id='testing', aws_secret_access_key='testing')\n\
         c.create_hosted_zone(Name='{EXAMPLE_ZONE}', CallerReference='dev')\n"
    );
    let made = cmd::run(
        "make the example's hosted zone in moto",
        Command::new(bin.join("python")).args(["-c", &zone]),
    );
    if let Err(e) = made {
        let _ = child.kill();
        return Err(e);
    }
    Ok(child)
}

/// Applies the CRDs, waits for them, makes the host ingress controller's
/// objects (`manifests/dev/`: ingress-nginx's namespace, ConfigMaps and
/// Service, which ingress-operator edits), and applies the valid examples.
fn install(root: &Path, kubeconfig: &Path) -> anyhow::Result<()> {
    let run = |step: &str, args: &[&str]| kubectl(root, kubeconfig, step, args);
    run("install CRDs", &["apply", "-f", "manifests/crds"])?;
    run(
        "wait for CRDs",
        &[
            "wait",
            "--for=condition=Established",
            "crd",
            "--all",
            "--timeout=60s",
        ],
    )?;
    run(
        "make ingress-nginx's objects",
        &["apply", "-f", "manifests/dev/ingress-nginx.yaml"],
    )?;
    run(
        "make the AWS credentials Secret",
        &["apply", "-f", "manifests/dev/aws-credentials.yaml"],
    )?;
    run("apply examples", &["apply", "-f", "manifests/examples"])
}

/// Builds and starts the operators that are built, and waits until the
/// examples of their kinds are Ready.
fn start_operators(root: &Path, cargo: &str, kubeconfig: &Path) -> anyhow::Result<Vec<Child>> {
    let mut build = Command::new(cargo);
    build.current_dir(root).args(["build", "--quiet"]);
    for (name, _, _, _) in OPERATORS {
        build.args(["--package", name]);
    }
    cmd::run("build operators", &mut build)?;
    let mut children = Vec::new();
    for (name, metrics, _, flags) in OPERATORS {
        let binary = workspace::target_dir().join("debug").join(name);
        let child = Command::new(&binary)
            .current_dir(root)
            .arg("--kubeconfig")
            .arg(kubeconfig)
            .args(["--metrics-address", metrics])
            .args(*flags)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()));
        match child {
            Ok(c) => children.push(c),
            Err(e) => {
                for mut c in children {
                    let _ = c.kill();
                }
                return Err(e);
            }
        }
    }
    for (name, _, kind, _) in OPERATORS {
        let waited = kubectl(
            root,
            kubeconfig,
            &format!("wait for {name} to make the {kind} examples Ready"),
            &[
                "wait",
                "--for=condition=Ready",
                kind,
                "--all",
                "--timeout=120s",
            ],
        )
        .and_then(|()| {
            kubectl(
                root,
                kubeconfig,
                &format!("kubectl get {kind}"),
                &["get", kind],
            )
        });
        if let Err(e) = waited {
            for mut c in children {
                let _ = c.kill();
            }
            return Err(e);
        }
    }
    Ok(children)
}

/// Runs kubectl (`KUBECTL`, else the one on the PATH) from `root` against
/// `kubeconfig`, as step `step` of the output.
fn kubectl(root: &Path, kubeconfig: &Path, step: &str, args: &[&str]) -> anyhow::Result<()> {
    let kubectl = std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".to_owned());
    cmd::run(
        step,
        Command::new(kubectl)
            .current_dir(root)
            .env("KUBECONFIG", kubeconfig)
            .args(args),
    )
}
