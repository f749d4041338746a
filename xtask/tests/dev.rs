//! `cargo xtask dev` for real: started on free ports (`--port 0`) with a
//! data directory of its own, so that it cannot collide with a developer's
//! running one; waited for until its summary says everything is Ready;
//! then stopped with SIGINT, as Ctrl-C would, after which none of the
//! processes it listed may be left and their ports must be free.
//!
//! It needs etcd and moto (`cargo xtask tools`) and builds the server, the
//! simulation and the operators once (the first run takes a while).

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The xtask process; interrupted (then killed) if the test fails first.
struct Dev(Child);

impl Drop for Dev {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            signal(self.0.id(), "INT");
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline && matches!(self.0.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args(["-s", name, &pid.to_string()])
        .status();
    assert!(status.is_ok_and(|s| s.success()), "kill -s {name} {pid}");
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"),
        PathBuf::from,
    )
}

/// The loopback ports of the URLs in `text` (`http[s]://127.0.0.1:N`).
fn ports(text: &str) -> Vec<u16> {
    let mut out: Vec<u16> = text
        .split("://127.0.0.1:")
        .skip(1)
        .filter_map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

#[test]
fn ctrl_c_stops_every_process_it_started() {
    let data_dir = target_dir().join(format!("dev-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    std::fs::create_dir_all(&data_dir).unwrap();
    let stderr = std::fs::File::create(data_dir.with_extension("stderr")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["dev", "--port", "0", "--ready-timeout-seconds", "180"])
        .arg("--data-dir")
        .arg(&data_dir)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut dev = Dev(child);
    let stderr_text =
        || std::fs::read_to_string(data_dir.with_extension("stderr")).unwrap_or_default();

    // Its stdout up to the summary's last line.
    let mut summary = String::new();
    let mut reader = BufReader::new(dev.0.stdout.take().unwrap());
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line).unwrap();
        assert!(
            n > 0,
            "dev stopped before its summary:\n{summary}\n{}",
            stderr_text()
        );
        summary.push_str(&line);
        if line.starts_with("Ctrl-C stops everything") {
            break;
        }
    }
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    assert!(
        summary.contains("The examples and the operators are Ready"),
        "{summary}\n{}",
        stderr_text()
    );
    assert!(
        summary.contains("kubectl get secret def34-kubeconfig"),
        "{summary}"
    );

    let pids: Vec<(String, u32)> = std::fs::read_to_string(data_dir.join("pids"))
        .unwrap()
        .lines()
        .map(|l| {
            let (name, pid) = l.split_once(' ').unwrap();
            (name.to_owned(), pid.parse().unwrap())
        })
        .collect();
    let names: Vec<&str> = pids.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "apiserver",
            "simulation",
            "etcd",
            "moto",
            "cert-operator",
            "ingress-operator",
            "flannel-operator",
            "kvm-operator",
            "aws-operator"
        ]
    );
    let ports = ports(&summary);
    // The server, etcd, moto and five operators' metrics.
    assert!(ports.len() >= 8, "{ports:?} in\n{summary}");

    signal(dev.0.id(), "INT");
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = dev.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "dev did not stop within 90 s:\n{}",
            stderr_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status}:\n{}", stderr_text());
    for (name, pid) in &pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "{name} (pid {pid}) is left behind"
        );
    }
    for port in ports {
        assert!(
            TcpListener::bind(("127.0.0.1", port)).is_ok(),
            "port {port} is still taken"
        );
    }
    assert!(!data_dir.join("pids").exists(), "the PID file stays");
    let _ = std::fs::remove_dir_all(&data_dir);
    let _ = std::fs::remove_file(data_dir.with_extension("stderr"));
}
