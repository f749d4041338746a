//! kubectl against the API server (HTTPS), black-box: the session a platform
//! engineer would run. Uses /usr/bin/kubectl (or `KUBECTL`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use e2e::kubectl::session;

fn repo(path: &str) -> String {
    e2e::examples::repo_root().join(path).display().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kubectl_session() {
    let (env, k) = session().await;
    let crds = repo("manifests/crds");
    let examples = repo("manifests/examples");
    assert!(Path::new(&crds).is_dir());

    // kubectl blocks in these calls; keep the runtime free for the server.
    let out = tokio::task::spawn_blocking(move || {
        let mut log = String::new();
        let step = |log: &mut String, args: &[&str]| {
            let out = k.ok(args);
            log.push_str(&format!("$ kubectl {}\n{out}", args.join(" ")));
            out
        };
        step(&mut log, &["apply", "-f", &crds]);
        step(&mut log, &["wait", "--for=condition=Established", "crd/certconfigs.core.operatorkit.dev", "--timeout=30s"]);
        let applied = step(&mut log, &["apply", "-f", &examples]);
        assert!(applied.contains("certconfig.core.operatorkit.dev/abc12-api created"), "{applied}");
        let get = step(&mut log, &["get", "certconfigs"]);
        assert!(get.contains("CLUSTER") && get.contains("COMPONENT") && get.contains("abc12-worker"), "{get}");
        let all = step(&mut log, &["get", "operatorkit"]);
        for kind in ["certconfig", "flannelconfig", "ingressconfig", "kvmconfig", "awsconfig"] {
            assert!(all.contains(kind), "{kind} in {all}");
        }
        let described = step(&mut log, &["describe", "kvmconfig", "def34"]);
        assert!(described.contains("Masters"), "{described}");
        step(&mut log, &["label", "certconfig", "abc12-api", "team=platform"]);
        let labelled = step(&mut log, &["get", "certconfigs", "-l", "team=platform", "-o", "name"]);
        assert_eq!(labelled.trim(), "certconfig.core.operatorkit.dev/abc12-api");
        step(&mut log, &["patch", "certconfig", "abc12-api", "--type=merge", "-p", r#"{"spec":{"ttl":"48h"}}"#]);
        step(&mut log, &[
            "patch", "certconfig", "abc12-api", "--subresource=status", "--type=merge", "-p",
            r#"{"status":{"conditions":[{"type":"Ready","status":"True","reason":"Issued","message":"","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}"#,
        ]);
        step(&mut log, &["wait", "--for=condition=Ready", "certconfig/abc12-api", "--timeout=30s"]);
        let watched = k.run(&["get", "certconfigs", "--watch", "--request-timeout=2s"]);
        let watched = String::from_utf8_lossy(&watched.stdout).into_owned();
        assert!(watched.contains("abc12-api"), "{watched}");
        log.push_str(&format!("$ kubectl get certconfigs --watch --request-timeout=2s\n{watched}"));
        let invalid = k.run(&["apply", "-f", &repo("manifests/examples/invalid/flannelconfig-subnet-not-longer-than-network.yaml")]);
        let stderr = String::from_utf8_lossy(&invalid.stderr).into_owned();
        assert!(!invalid.status.success());
        assert!(stderr.contains("subnetLen must be longer than the network prefix"), "{stderr}");
        log.push_str(&format!("$ kubectl apply -f manifests/examples/invalid/flannelconfig-subnet-not-longer-than-network.yaml\n{stderr}"));
        step(&mut log, &["delete", "-f", &examples]);
        let left = step(&mut log, &["get", "operatorkit", "-o", "name"]);
        assert!(left.trim().is_empty(), "{left}");
        log
    })
    .await
    .unwrap();
    println!("{out}");
    env.stop().await;
}

/// `kubectl auth whoami`, `auth can-i` (with `--as`, `--list`) against the
/// server's RBAC.
#[tokio::test(flavor = "multi_thread")]
async fn kubectl_auth_answers_from_rbac() {
    let (env, k) = session().await;
    let ns = env.namespace().to_owned();
    let out = tokio::task::spawn_blocking(move || {
        let whoami = k.ok(&["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"]);
        assert_eq!(whoami.trim(), "operatorkit:admin");
        assert_eq!(k.ok(&["auth", "can-i", "create", "pods"]).trim(), "yes");
        // apply sends JSON (kubectl_create.rs covers the protobuf creates).
        let rbac = std::env::temp_dir().join(format!("{}-rbac.yaml", k.namespace));
        std::fs::write(
            &rbac,
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: pod-reader}\n\
             rules: [{apiGroups: [\"\"], resources: [pods], verbs: [get, list]}]\n---\n\
             apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: ivy-reads}\n\
             roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}\n\
             subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: ivy}]\n",
        )
        .unwrap();
        k.ok(&["apply", "-f", &rbac.display().to_string()]);
        let _ = std::fs::remove_file(&rbac);
        let as_ivy = |args: &[&str]| -> (bool, String) {
            let mut all = vec!["--as", "ivy"];
            all.extend_from_slice(args);
            let out = k.run(&all);
            (out.status.success(), String::from_utf8_lossy(&out.stdout).trim().to_owned())
        };
        assert_eq!(as_ivy(&["auth", "can-i", "list", "pods"]), (true, "yes".to_owned()));
        assert_eq!(as_ivy(&["auth", "can-i", "delete", "pods"]), (false, "no".to_owned()));
        assert_eq!(as_ivy(&["auth", "can-i", "list", "pods", "-n", "default"]), (false, "no".to_owned()));
        let (ok, list) = as_ivy(&["auth", "can-i", "--list"]);
        assert!(ok, "{list}");
        assert!(list.lines().any(|l| l.starts_with("pods ") && l.contains("[get list]")), "{list}");
        let (ok, whoami) = as_ivy(&["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"]);
        assert!(ok);
        assert_eq!(whoami, "ivy");
        let denied = k.run(&["--as", "ivy", "get", "secrets"]);
        let stderr = String::from_utf8_lossy(&denied.stderr).into_owned();
        assert!(!denied.status.success());
        assert!(
            stderr.contains(&format!("secrets is forbidden: User \"ivy\" cannot list resource \"secrets\" in API group \"\" in the namespace \"{ns}\"")),
            "{stderr}"
        );
        list
    })
    .await
    .unwrap();
    println!("{out}");
    env.stop().await;
}
