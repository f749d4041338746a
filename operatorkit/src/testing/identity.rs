//! Running as a ServiceAccount: a test makes an account in its namespace,
//! binds it to the ClusterRoles and Roles it ships (for example those of
//! `manifests/<operator>/`), and gets a client authenticated with a token
//! from the TokenRequest API, so the operator under test has exactly the
//! rights it would have in production. Works against the embedded server and
//! a real cluster alike.

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, Role, RoleBinding, RoleRef, Subject,
};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::config::AuthInfo;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use super::{TestEnv, TestError};

/// A ServiceAccount of a test environment and how to act as it.
#[derive(Clone)]
pub struct ServiceAccountIdentity {
    pub(super) config: kube::Config,
    name: String,
    namespace: String,
    cluster_roles: Vec<String>,
    /// The bearer token (also in `config`), for kubeconfig files.
    token: String,
}

impl ServiceAccountIdentity {
    /// The Kubernetes user name, `system:serviceaccount:<namespace>:<name>`.
    pub fn user(&self) -> String {
        format!("system:serviceaccount:{}:{}", self.namespace, self.name)
    }

    /// The client configuration that authenticates as the account (its
    /// bearer token in `auth_info`).
    pub fn config(&self) -> &kube::Config {
        &self.config
    }

    /// A client that authenticates as the account.
    pub fn client(&self) -> Result<kube::Client, TestError> {
        Ok(kube::Client::try_from(self.config.clone())?)
    }

    /// The names the ClusterRoles were created under (each gets the
    /// account's name and the environment's namespace as a suffix, so tests
    /// do not share them).
    pub fn cluster_roles(&self) -> &[String] {
        &self.cluster_roles
    }
}

impl TestEnv {
    /// Makes ServiceAccount `name` in the environment's namespace, creates
    /// `cluster_roles` (renamed `<role>-<name>-<namespace>`; deleted with the
    /// environment) bound to it cluster-wide, and `roles` (renamed
    /// `<role>-<name>`) bound to it in the namespace; returns how to act as it
    /// (a token valid for an hour).
    pub async fn service_account(
        &self,
        name: &str,
        cluster_roles: impl IntoIterator<Item = ClusterRole>,
        roles: impl IntoIterator<Item = Role>,
    ) -> Result<ServiceAccountIdentity, TestError> {
        let pp = PostParams::default();
        let accounts: Api<ServiceAccount> = self.api();
        let account = ServiceAccount {
            metadata: meta(name, None),
            ..ServiceAccount::default()
        };
        accounts.create(&pp, &account).await?;
        let subject = Subject {
            kind: "ServiceAccount".into(),
            name: name.to_owned(),
            namespace: Some(self.namespace.clone()),
            ..Subject::default()
        };
        let mut created = Vec::new();
        for mut role in cluster_roles {
            let unique = format!(
                "{}-{name}-{}",
                role.metadata.name.clone().unwrap_or_default(),
                self.namespace
            );
            role.metadata = meta(&unique, None);
            Api::<ClusterRole>::all(self.client())
                .create(&pp, &role)
                .await?;
            self.remember_cluster_object("clusterroles", &unique);
            let binding = ClusterRoleBinding {
                metadata: meta(&unique, None),
                role_ref: role_ref("ClusterRole", &unique),
                subjects: Some(vec![subject.clone()]),
            };
            Api::<ClusterRoleBinding>::all(self.client())
                .create(&pp, &binding)
                .await?;
            self.remember_cluster_object("clusterrolebindings", &unique);
            created.push(unique);
        }
        for mut role in roles {
            let role_name = format!("{}-{name}", role.metadata.name.clone().unwrap_or_default());
            role.metadata = meta(&role_name, Some(&self.namespace));
            self.api::<Role>().create(&pp, &role).await?;
            let binding = RoleBinding {
                metadata: meta(&role_name, Some(&self.namespace)),
                role_ref: role_ref("Role", &role_name),
                subjects: Some(vec![subject.clone()]),
            };
            self.api::<RoleBinding>().create(&pp, &binding).await?;
        }
        let request = TokenRequest {
            spec: TokenRequestSpec {
                audiences: Vec::new(),
                expiration_seconds: Some(3600),
                ..TokenRequestSpec::default()
            },
            ..TokenRequest::default()
        };
        let issued = accounts.create_token_request(name, &pp, &request).await?;
        let token = issued.status.map(|s| s.token).unwrap_or_default();
        let mut config = self.config.clone();
        config.auth_info = AuthInfo {
            token: Some(token.clone().into()),
            ..AuthInfo::default()
        };
        Ok(ServiceAccountIdentity {
            config,
            name: name.to_owned(),
            namespace: self.namespace.clone(),
            cluster_roles: created,
            token,
        })
    }

    /// Writes a kubeconfig file (mode 0600: it holds the token) that
    /// authenticates as `identity` to the environment's cluster: the
    /// environment's kubeconfig ([`TestEnv::kubeconfig_path`]) with the user
    /// of its current context replaced by the account's token. An operator
    /// started as a separate process with `--kubeconfig <path>` then runs
    /// with exactly the rights it has in production.
    pub fn write_kubeconfig_as(
        &self,
        identity: &ServiceAccountIdentity,
        path: &Path,
    ) -> Result<(), TestError> {
        let source = self.kubeconfig_path()?;
        let bad =
            |e: &dyn std::fmt::Display| TestError::Kubeconfig(format!("{}: {e}", source.display()));
        let text = std::fs::read_to_string(&source).map_err(|e| bad(&e))?;
        let mut kubeconfig: serde_yaml::Value = serde_yaml::from_str(&text).map_err(|e| bad(&e))?;
        let user =
            current_user(&kubeconfig).ok_or_else(|| bad(&"no current context with a user"))?;
        let account = serde_yaml::to_value(serde_json::json!({
            "name": user,
            "user": {"token": identity.token},
        }))
        .map_err(|e| bad(&e))?;
        kubeconfig["users"] = serde_yaml::Value::Sequence(vec![account]);
        let text = serde_yaml::to_string(&kubeconfig).map_err(|e| bad(&e))?;
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()));
        written.map_err(|e| TestError::Kubeconfig(format!("writing {}: {e}", path.display())))
    }
}

/// The user of the kubeconfig's current context.
fn current_user(kubeconfig: &serde_yaml::Value) -> Option<String> {
    let current = kubeconfig["current-context"].as_str()?;
    let contexts = kubeconfig["contexts"].as_sequence()?;
    let context = contexts
        .iter()
        .find(|c| c["name"].as_str() == Some(current))?;
    context["context"]["user"].as_str().map(str::to_owned)
}

fn meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        labels: Some([(super::TEST_LABEL.to_owned(), "true".to_owned())].into()),
        ..ObjectMeta::default()
    }
}

fn role_ref(kind: &str, name: &str) -> RoleRef {
    RoleRef {
        api_group: "rbac.authorization.k8s.io".into(),
        kind: kind.into(),
        name: name.into(),
    }
}
