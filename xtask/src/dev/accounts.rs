//! Each operator runs as the ServiceAccount of its `manifests/<operator>/`,
//! bound to that ClusterRole (and Roles): the RBAC objects of
//! `kubectl kustomize manifests/<operator>` are applied (not its
//! Deployment, Service or budget: the operator runs here as a process), a
//! token is asked of the TokenRequest API, and a kubeconfig with it is
//! written. The server enforces RBAC, so a rule missing from the manifests
//! shows up as the operator failing here.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::cmd;

/// The namespace the operators' ServiceAccounts and Leases are in
/// (`manifests/namespace.yaml`).
pub const NAMESPACE: &str = "operatorkit-system";

/// Kinds of a kustomization applied here.
const RBAC_KINDS: &[&str] = &[
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
];

/// How long the tokens last: a year, far less than the server's longest
/// (2^32 s, as kube-apiserver's), more than any development session. Each
/// `cargo xtask dev` asks for new ones.
const TOKEN_DURATION: &str = "8760h";

/// The RBAC objects of `manifests/<operator>` (rendered by
/// `kubectl kustomize`), as one List.
pub fn rbac_objects(rendered: &str) -> anyhow::Result<serde_json::Value> {
    let mut items = Vec::new();
    // kubectl kustomize separates its documents with `---` lines.
    for doc in rendered.split("\n---\n") {
        let value: serde_json::Value =
            serde_yaml::from_str(doc).context("reading kubectl kustomize's output")?;
        if value.is_null() {
            continue;
        }
        let kind = value["kind"].as_str().unwrap_or_default();
        if RBAC_KINDS.contains(&kind) {
            items.push(value);
        }
    }
    Ok(serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items}))
}

/// The name of the ServiceAccount among `objects` (one is expected).
pub fn service_account(objects: &serde_json::Value) -> anyhow::Result<String> {
    let accounts: Vec<&str> = objects["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| o["kind"] == "ServiceAccount")
        .filter_map(|o| o["metadata"]["name"].as_str())
        .collect();
    match accounts.as_slice() {
        [one] => Ok((*one).to_owned()),
        other => bail!("expected one ServiceAccount, found {other:?}"),
    }
}

/// A kubeconfig reaching the cluster of `admin` (its server and CA) with
/// `token`.
pub fn kubeconfig(admin: &serde_json::Value, user: &str, token: &str) -> anyhow::Result<String> {
    let cluster = admin["clusters"]
        .as_array()
        .and_then(|c| c.first())
        .map(|c| c["cluster"].clone())
        .filter(|c| c.is_object())
        .context("the admin kubeconfig has no cluster")?;
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "operatorkit", "cluster": cluster}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": user, "context": {"cluster": "operatorkit", "user": user, "namespace": NAMESPACE}}],
        "current-context": user,
    });
    serde_yaml::to_string(&config).context("writing a kubeconfig")
}

/// An operator's identity here.
pub struct Account {
    pub service_account: String,
    pub kubeconfig: PathBuf,
}

/// Applies the RBAC objects of `manifests/<operator>`, asks for a token of
/// its ServiceAccount and writes `<dir>/<operator>.kubeconfig` with it.
pub fn set_up(
    root: &Path,
    kubectl: &str,
    admin_kubeconfig: &Path,
    operator: &str,
    dir: &Path,
) -> anyhow::Result<Account> {
    let run = |what: &str, args: &[&str]| {
        cmd::stdout(
            what,
            Command::new(kubectl)
                .current_dir(root)
                .env("KUBECONFIG", admin_kubeconfig)
                .args(args),
        )
    };
    let manifests = format!("manifests/{operator}");
    let rendered = run(
        &format!("kubectl kustomize {manifests}"),
        &["kustomize", &manifests],
    )?;
    let objects = rbac_objects(&String::from_utf8_lossy(&rendered))?;
    let service_account =
        service_account(&objects).with_context(|| format!("the RBAC objects of {manifests}"))?;
    let rbac = dir.join(format!("{operator}.rbac.json"));
    std::fs::write(&rbac, serde_json::to_vec_pretty(&objects)?)
        .with_context(|| format!("writing {}", rbac.display()))?;
    let rbac_arg = rbac.to_string_lossy().into_owned();
    run(
        &format!("apply {operator}'s RBAC objects"),
        &["apply", "-f", &rbac_arg],
    )?;
    let duration = format!("--duration={TOKEN_DURATION}");
    let token = run(
        &format!("a token of ServiceAccount {service_account}"),
        &[
            "create",
            "token",
            &service_account,
            "-n",
            NAMESPACE,
            &duration,
        ],
    )?;
    let token = String::from_utf8_lossy(&token).trim().to_owned();
    let admin_text = std::fs::read_to_string(admin_kubeconfig)
        .with_context(|| format!("reading {}", admin_kubeconfig.display()))?;
    let admin: serde_json::Value = serde_yaml::from_str(&admin_text)
        .with_context(|| format!("reading {}", admin_kubeconfig.display()))?;
    let user = format!("system:serviceaccount:{NAMESPACE}:{service_account}");
    let text = kubeconfig(&admin, &user, &token)?;
    let path = dir.join(format!("{operator}.kubeconfig"));
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("==> dev: {operator} runs as {user} ({})", path.display());
    Ok(Account {
        service_account,
        kubeconfig: path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RENDERED: &str = "\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: kvm-operator
  namespace: operatorkit-system
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: operatorkit:kvm-operator
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: kvm-operator
---
apiVersion: v1
kind: Service
metadata:
  name: kvm-operator
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: kvm-operator-leader-election
";

    #[test]
    fn keeps_only_rbac_objects() {
        let objects = rbac_objects(RENDERED).unwrap();
        let kinds: Vec<&str> = objects["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["ServiceAccount", "ClusterRole", "RoleBinding"]);
        assert_eq!(service_account(&objects).unwrap(), "kvm-operator");
    }

    #[test]
    fn kubeconfig_keeps_the_cluster_and_uses_the_token() {
        let admin = serde_json::json!({"clusters": [{"name": "operatorkit", "cluster": {
            "server": "https://127.0.0.1:6443", "certificate-authority-data": "Q0E="}}],
            "users": [{"name": "operatorkit", "user": {"token": "admin"}}]});
        let text = kubeconfig(&admin, "system:serviceaccount:ns:sa", "t0ken").unwrap();
        let config: serde_json::Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(
            config["clusters"][0]["cluster"],
            admin["clusters"][0]["cluster"]
        );
        assert_eq!(config["users"][0]["user"]["token"], "t0ken");
        assert_eq!(config["current-context"], "system:serviceaccount:ns:sa");
        assert!(kubeconfig(&serde_json::json!({}), "u", "t").is_err());
    }
}
