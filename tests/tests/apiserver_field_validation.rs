//! Strict decoding as kube-apiserver does it, black-box: unknown and
//! duplicate fields under each `fieldValidation` mode for built-in kinds and
//! custom resources, on create, update and every patch type; undecodable
//! base64. Expected messages and their order are those of kube-apiserver's
//! own field validation integration test (test/integration/apiserver/
//! field_validation_test.go).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::client::Body;
use operatorkit::testing::TestEnv;
use serde_json::{Value, json};

/// What the server answered: status, `Warning` texts, body.
struct Answer {
    code: u16,
    warnings: Vec<String>,
    body: Value,
}

async fn send(env: &TestEnv, method: &str, uri: &str, content_type: &str, body: &str) -> Answer {
    let req = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("Content-Type", content_type)
        .body(Body::from(body.as_bytes().to_vec()))
        .unwrap();
    let res = env.client().send(req).await.unwrap();
    let code = res.status().as_u16();
    let warnings = res
        .headers()
        .get_all("warning")
        .iter()
        .map(|v| {
            let text = v.to_str().unwrap().strip_prefix("299 - ").unwrap();
            serde_json::from_str::<String>(text).unwrap()
        })
        .collect();
    let bytes = res.into_body().collect_bytes().await.unwrap();
    Answer {
        code,
        warnings,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    }
}

const JSON: &str = "application/json";

/// kube-apiserver's test body: duplicates and unknown fields at every level.
fn invalid_deployment(name: &str) -> String {
    format!(
        r#"{{
  "apiVersion": "apps/v1",
  "kind": "Deployment",
  "metadata": {{
    "name": "dupename",
    "name": "{name}",
    "labels": {{"app": "nginx"}},
    "unknownMeta": "metaVal"
  }},
  "spec": {{
    "unknown1": "val1",
    "unknownDupe": "valDupe",
    "unknownDupe": "valDupe2",
    "paused": true,
    "paused": false,
    "selector": {{"matchLabels": {{"app": "nginx"}}}},
    "template": {{
      "metadata": {{"labels": {{"app": "nginx"}}}},
      "spec": {{
        "containers": [{{
          "name": "nginx",
          "image": "nginx:latest",
          "unknownNested": "val1",
          "imagePullPolicy": "Always",
          "imagePullPolicy": "Never"
        }}]
      }}
    }}
  }}
}}"#
    )
}

fn valid_deployment(name: &str) -> String {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": "nginx"}},
        "spec": {"selector": {"matchLabels": {"app": "nginx"}},
                 "template": {"metadata": {"labels": {"app": "nginx"}},
                              "spec": {"containers": [{"name": "nginx", "image": "nginx:latest"}]}}}
    })
    .to_string()
}

/// Creates a valid Deployment `name`; returns the answer.
async fn create_valid(env: &TestEnv, name: &str) -> Answer {
    let created = send(
        env,
        "POST",
        &deployments(env),
        JSON,
        &valid_deployment(name),
    )
    .await;
    assert_eq!(created.code, 201, "{:?}", created.body);
    created
}

const BODY_PROBLEMS: [&str; 7] = [
    r#"duplicate field "metadata.name""#,
    r#"unknown field "metadata.unknownMeta""#,
    r#"unknown field "spec.unknown1""#,
    r#"unknown field "spec.unknownDupe""#,
    r#"duplicate field "spec.paused""#,
    r#"unknown field "spec.template.spec.containers[0].unknownNested""#,
    r#"duplicate field "spec.template.spec.containers[0].imagePullPolicy""#,
];

fn deployments(env: &TestEnv) -> String {
    format!("/apis/apps/v1/namespaces/{}/deployments", env.namespace())
}

#[tokio::test(flavor = "multi_thread")]
async fn create_and_update_of_a_built_in_kind_under_each_mode() {
    let env = TestEnv::start().await.unwrap();
    let api: Api<Deployment> = env.api();
    let strict = format!(
        "Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: {}",
        BODY_PROBLEMS.join(", ")
    );
    for (verb, mode) in [
        ("create", ""),
        ("create", "Warn"),
        ("create", "Ignore"),
        ("create", "Strict"),
        ("update", ""),
        ("update", "Warn"),
        ("update", "Ignore"),
        ("update", "Strict"),
    ] {
        let name =
            format!("{verb}-{}", if mode.is_empty() { "default" } else { mode }).to_lowercase();
        let query = if mode.is_empty() {
            String::new()
        } else {
            format!("?fieldValidation={mode}")
        };
        let answer = if verb == "create" {
            send(
                &env,
                "POST",
                &format!("{}{query}", deployments(&env)),
                JSON,
                &invalid_deployment(&name),
            )
            .await
        } else {
            let created = create_valid(&env, &name).await;
            let rv = created.body["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .to_owned();
            let body = invalid_deployment(&name).replacen(
                "\"labels\"",
                &format!("\"resourceVersion\": \"{rv}\", \"labels\""),
                1,
            );
            send(
                &env,
                "PUT",
                &format!("{}/{name}{query}", deployments(&env)),
                JSON,
                &body,
            )
            .await
        };
        let case = format!("{verb} {mode:?}");
        if mode == "Strict" {
            assert_eq!(answer.code, 400, "{case}: {:?}", answer.body);
            assert_eq!(answer.body["message"], strict.as_str(), "{case}");
            assert_eq!(answer.body["reason"], "BadRequest", "{case}");
            if verb == "create" {
                assert!(
                    api.get_opt(&name).await.unwrap().is_none(),
                    "{case}: stored"
                );
            }
            continue;
        }
        assert!(
            answer.code == 200 || answer.code == 201,
            "{case}: {:?}",
            answer.body
        );
        let expected: Vec<&str> = if mode == "Ignore" {
            vec![]
        } else {
            BODY_PROBLEMS.to_vec()
        };
        assert_eq!(answer.warnings, expected, "{case}");
        // Dropped, not stored: the typed object has no such fields.
        let stored = serde_json::to_value(api.get(&name).await.unwrap()).unwrap();
        let raw: Value = send(
            &env,
            "GET",
            &format!("{}/{name}", deployments(&env)),
            JSON,
            "",
        )
        .await
        .body;
        assert!(raw["metadata"].get("unknownMeta").is_none(), "{case}");
        assert!(raw["spec"].get("unknown1").is_none(), "{case}");
        assert!(
            raw["spec"]["template"]["spec"]["containers"][0]
                .get("unknownNested")
                .is_none(),
            "{case}"
        );
        // The last of a duplicated field wins, as in Go.
        assert_eq!(stored["spec"]["paused"], false, "{case}");
        assert_eq!(
            stored["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"], "Never",
            "{case}"
        );
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_patch_type_of_a_built_in_kind_under_each_mode() {
    let env = TestEnv::start().await.unwrap();
    let merge = r#"{
  "spec": {
    "unknown1": "val1",
    "unknownDupe": "valDupe",
    "unknownDupe": "valDupe2",
    "paused": true,
    "paused": false,
    "template": {"spec": {"containers": [{
      "name": "nginx", "image": "nginx:latest", "unknownNested": "val1",
      "imagePullPolicy": "Always", "imagePullPolicy": "Never"}]}}
  }
}"#;
    let merge_problems = [
        r#"duplicate field "spec.unknownDupe""#,
        r#"duplicate field "spec.paused""#,
        r#"duplicate field "spec.template.spec.containers[0].imagePullPolicy""#,
        r#"unknown field "spec.template.spec.containers[0].unknownNested""#,
        r#"unknown field "spec.unknown1""#,
        r#"unknown field "spec.unknownDupe""#,
    ];
    let json_patch = r#"[
  {"op": "add", "path": "/spec/unknown1", "value": "val1", "foo": "bar"},
  {"op": "add", "path": "/spec/unknown2", "path": "/spec/unknown3", "value": "val1"},
  {"op": "add", "path": "/spec/unknownDupe", "value": "valDupe"},
  {"op": "add", "path": "/spec/unknownDupe", "value": "valDupe2"},
  {"op": "add", "path": "/spec/paused", "value": true},
  {"op": "add", "path": "/spec/paused", "value": false},
  {"op": "add", "path": "/spec/template/spec/containers/0/unknownNested", "value": "val1"},
  {"op": "add", "path": "/spec/template/spec/containers/0/imagePullPolicy", "value": "Always"},
  {"op": "add", "path": "/spec/template/spec/containers/0/imagePullPolicy", "value": "Never"}
]"#;
    let json_problems = [
        r#"json patch unknown field "[0].foo""#,
        r#"json patch duplicate field "[1].path""#,
        r#"unknown field "spec.template.spec.containers[0].unknownNested""#,
        r#"unknown field "spec.unknown1""#,
        r#"unknown field "spec.unknown3""#,
        r#"unknown field "spec.unknownDupe""#,
    ];
    let cases: [(&str, &str, &[&str]); 3] = [
        ("application/merge-patch+json", merge, &merge_problems),
        (
            "application/strategic-merge-patch+json",
            merge,
            &merge_problems,
        ),
        ("application/json-patch+json", json_patch, &json_problems),
    ];
    for (i, (content_type, body, problems)) in cases.iter().enumerate() {
        for mode in ["", "Warn", "Ignore", "Strict"] {
            let name = format!("patch-{i}-{}", mode.to_lowercase())
                .trim_end_matches('-')
                .to_owned();
            create_valid(&env, &name).await;
            let query = if mode.is_empty() {
                String::new()
            } else {
                format!("?fieldValidation={mode}")
            };
            let uri = format!("{}/{name}{query}", deployments(&env));
            let answer = send(&env, "PATCH", &uri, content_type, body).await;
            let case = format!("{content_type} {mode:?}");
            if mode == "Strict" {
                assert_eq!(answer.code, 400, "{case}: {:?}", answer.body);
                let expected = format!("strict decoding error: {}", problems.join(", "));
                assert_eq!(answer.body["message"], expected.as_str(), "{case}");
                continue;
            }
            assert_eq!(answer.code, 200, "{case}: {:?}", answer.body);
            let expected: Vec<&str> = if mode == "Ignore" {
                vec![]
            } else {
                problems.to_vec()
            };
            assert_eq!(answer.warnings, expected, "{case}");
            assert!(answer.body["spec"].get("unknown1").is_none(), "{case}");
            assert_eq!(answer.body["spec"]["paused"], false, "{case}");
        }
    }
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_reports_duplicates_as_yaml_does() {
    let env = TestEnv::start().await.unwrap();
    let body = |name: &str| {
        format!(
            r#"{{
  "apiVersion": "apps/v1",
  "kind": "Deployment",
  "metadata": {{"name": "{name}", "labels": {{"app": "nginx"}}}},
  "spec": {{
    "paused": false,
    "paused": true,
    "selector": {{"matchLabels": {{"app": "nginx"}}}},
    "template": {{"metadata": {{"labels": {{"app": "nginx"}}}},
      "spec": {{"containers": [{{"name": "nginx", "image": "nginx:latest",
        "imagePullPolicy": "Never",
        "imagePullPolicy": "Always"}}]}}}}
  }}
}}"#
        )
    };
    let lines = [
        r#"line 7: key "paused" already set in map"#,
        r#"line 12: key "imagePullPolicy" already set in map"#,
    ];
    for mode in ["", "Ignore", "Strict"] {
        let name = format!("apply-{}", mode.to_lowercase())
            .trim_end_matches('-')
            .to_owned();
        let query = if mode.is_empty() {
            String::new()
        } else {
            format!("&fieldValidation={mode}")
        };
        let uri = format!("{}/{name}?fieldManager=mgr{query}", deployments(&env));
        let answer = send(
            &env,
            "PATCH",
            &uri,
            "application/apply-patch+yaml",
            &body(&name),
        )
        .await;
        match mode {
            "Strict" => {
                assert_eq!(answer.code, 400, "{:?}", answer.body);
                assert_eq!(
                    answer.body["message"],
                    format!(
                        "error strict decoding YAML: error converting YAML to JSON: yaml: unmarshal errors:\n  {}",
                        lines.join("\n  ")
                    )
                );
            }
            "Ignore" => {
                assert_eq!(answer.code, 201, "{:?}", answer.body);
                assert!(answer.warnings.is_empty());
            }
            _ => {
                assert_eq!(answer.code, 201, "{:?}", answer.body);
                assert_eq!(answer.warnings, lines);
                assert_eq!(answer.body["spec"]["paused"], true);
            }
        }
    }
    env.stop().await;
}

/// YAML bodies (block style, not JSON): repeated keys are found by line, for
/// a create (after the unknown fields, in one YAML conversion error, as
/// kube-apiserver's YAML serializer reports them) and for an apply.
#[tokio::test(flavor = "multi_thread")]
async fn yaml_bodies_report_repeated_keys_by_line() {
    let env = TestEnv::start().await.unwrap();
    let configmaps = format!("/api/v1/namespaces/{}/configmaps", env.namespace());
    let body = |name: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\nbogus: 1\ndata:\n  a: \"1\"\n  a: \"2\"\n"
        )
    };
    let converting = "error converting YAML to JSON: yaml: unmarshal errors:\n  line 8: key \"a\" already set in map";
    for mode in ["Warn", "Ignore", "Strict"] {
        let name = format!("yaml-{}", mode.to_lowercase());
        let uri = format!("{configmaps}?fieldValidation={mode}");
        let answer = send(&env, "POST", &uri, "application/yaml", &body(&name)).await;
        match mode {
            "Strict" => {
                assert_eq!(answer.code, 400, "{:?}", answer.body);
                assert_eq!(
                    answer.body["message"],
                    format!(
                        "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: strict decoding error: unknown field \"bogus\", {converting}"
                    )
                );
            }
            _ => {
                assert_eq!(answer.code, 201, "{mode}: {:?}", answer.body);
                let expected: Vec<String> = match mode {
                    "Warn" => vec!["unknown field \"bogus\"".into(), converting.into()],
                    _ => vec![],
                };
                assert_eq!(answer.warnings, expected, "{mode}");
                assert_eq!(answer.body["data"]["a"], "2", "the last one wins");
            }
        }
    }
    // Apply with a block YAML body: repeated keys by line.
    let uri = format!("{configmaps}/yaml-apply?fieldManager=mgr");
    let applied = body("yaml-apply").replace("bogus: 1\n", "");
    let answer = send(
        &env,
        "PATCH",
        &uri,
        "application/apply-patch+yaml",
        &applied,
    )
    .await;
    assert_eq!(answer.code, 201, "{:?}", answer.body);
    assert_eq!(answer.warnings, [r#"line 7: key "a" already set in map"#]);
    env.stop().await;
}

/// An apply configuration with fields its kind does not declare cannot be
/// typed by structured-merge-diff: kube-apiserver answers 500 under every
/// `fieldValidation` mode and stores nothing. List items are named by key.
#[tokio::test(flavor = "multi_thread")]
async fn apply_with_undeclared_fields_is_refused_as_kube_apiserver_refuses_it() {
    let env = TestEnv::start().await.unwrap();
    let body = r#"{"apiVersion": "apps/v1", "kind": "Deployment",
  "metadata": {"name": "undeclared", "namespace": "NS"},
  "spec": {"selector": {"matchLabels": {"app": "a"}}, "bogus": 1,
    "template": {"metadata": {"labels": {"app": "a"}},
      "spec": {"containers": [{"name": "nginx", "image": "nginx", "imagePullPolcy": "Always"}]}}}}"#
        .replace("NS", env.namespace());
    for mode in ["Ignore", "Warn", "Strict"] {
        let uri = format!(
            "{}/undeclared?fieldManager=mgr&fieldValidation={mode}",
            deployments(&env)
        );
        let answer = send(&env, "PATCH", &uri, "application/apply-patch+yaml", &body).await;
        assert_eq!(answer.code, 500, "{mode}: {:?}", answer.body);
        assert_eq!(
            answer.body["message"],
            format!(
                "failed to create typed patch object ({}/undeclared; apps/v1, Kind=Deployment): errors:\n  \
                 .spec.bogus: field not declared in schema\n  \
                 .spec.template.spec.containers[name=\"nginx\"].imagePullPolcy: field not declared in schema",
                env.namespace()
            ),
            "{mode}"
        );
        assert!(answer.body.get("reason").is_none(), "{:?}", answer.body);
    }
    let get = send(
        &env,
        "GET",
        &format!("{}/undeclared", deployments(&env)),
        JSON,
        "",
    )
    .await;
    assert_eq!(get.code, 404, "nothing was stored");
    env.stop().await;
}

/// A custom resource: the body's duplicates first, then the pruned fields;
/// its metadata is typed whatever the CRD's schema says.
#[tokio::test(flavor = "multi_thread")]
async fn custom_resources_report_duplicates_then_pruned_fields() {
    let env = e2e::widget::env().await;
    let uri = format!(
        "/apis/test.operatorkit.dev/v1/namespaces/{}/widgets",
        env.namespace()
    );
    let body = |name: &str| {
        format!(
            r#"{{"apiVersion": "test.operatorkit.dev/v1", "kind": "Widget",
  "metadata": {{"name": "dupename", "name": "{name}", "unknownMeta": "x"}},
  "spec": {{"size": 1, "size": 2, "unknown1": 1}}}}"#
        )
    };
    let problems = [
        r#"duplicate field "metadata.name""#,
        r#"duplicate field "spec.size""#,
        r#"unknown field "metadata.unknownMeta""#,
        r#"unknown field "spec.unknown1""#,
    ];
    let warned = send(&env, "POST", &uri, JSON, &body("warned")).await;
    assert_eq!(warned.code, 201, "{:?}", warned.body);
    assert_eq!(warned.warnings, problems);
    assert_eq!(warned.body["spec"], json!({"size": 2}));
    assert!(warned.body["metadata"].get("unknownMeta").is_none());

    let refused = send(
        &env,
        "POST",
        &format!("{uri}?fieldValidation=Strict"),
        JSON,
        &body("refused"),
    )
    .await;
    assert_eq!(refused.code, 400, "{:?}", refused.body);
    assert_eq!(
        refused.body["message"],
        format!(
            "Widget in version \"v1\" cannot be handled as a Widget: strict decoding error: {}",
            problems.join(", ")
        )
    );
    let ignored = send(
        &env,
        "POST",
        &format!("{uri}?fieldValidation=Ignore"),
        JSON,
        &body("ignored"),
    )
    .await;
    assert_eq!(ignored.code, 201);
    assert!(ignored.warnings.is_empty());
    env.stop().await;
}

/// Secret data is decoded as Go decodes `[]byte`: bad base64 is kube-apiserver's
/// 400 naming the byte, line breaks are fine and stored canonical.
#[tokio::test(flavor = "multi_thread")]
async fn secret_data_is_decoded_as_kube_apiserver_decodes_it() {
    let env = TestEnv::start().await.unwrap();
    let uri = format!("/api/v1/namespaces/{}/secrets", env.namespace());
    let bad = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bad"},
                     "data": {"key": "not base64!"}});
    let answer = send(&env, "POST", &uri, JSON, &bad.to_string()).await;
    assert_eq!(answer.code, 400, "{:?}", answer.body);
    assert_eq!(
        answer.body["message"],
        "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at input byte 3"
    );
    let api: Api<Secret> = env.api();
    assert!(api.get_opt("bad").await.unwrap().is_none());

    let wrapped = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "wrapped"},
                         "data": {"key": "aGVs\nbG8="}});
    let answer = send(&env, "POST", &uri, JSON, &wrapped.to_string()).await;
    assert_eq!(answer.code, 201, "{:?}", answer.body);
    assert_eq!(answer.body["data"]["key"], "aGVsbG8=");
    env.stop().await;
}
