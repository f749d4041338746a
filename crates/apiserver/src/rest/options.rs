//! Query parameters of the REST verbs, parsed and checked once.

use std::collections::HashMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::DeleteOptions as K8sDeleteOptions;

use crate::error::{ApiError, ApiResult, Cause};

/// What every write takes besides the object: its parameters and the body as
/// sent.
#[derive(Debug, Clone, Default)]
pub(crate) struct WriteOptions {
    /// The create or update body as sent, for what strict decoding sees only
    /// there (fields given twice).
    pub(crate) raw_body: Option<bytes::Bytes>,
    /// `dryRun=All`: validate and answer, store nothing.
    pub(crate) dry_run: bool,
    /// `fieldManager`.
    pub(crate) field_manager: Option<String>,
    /// `force` (server-side apply).
    pub(crate) force: bool,
    /// `fieldValidation`: Strict, Warn or Ignore.
    pub(crate) field_validation: FieldValidation,
    /// The client's User-Agent (names the field manager when `fieldManager` is unset).
    pub(crate) user_agent: String,
    /// Who asks, when the server authorizes (RBAC's escalation check).
    pub(crate) user: Option<crate::user::User>,
    /// Authorizes the create a server-side apply makes when the object does
    /// not exist (kube-apiserver authorizes such a patch as a create too);
    /// asked only then, and recorded like every decision.
    pub(crate) create_check: Option<CreateCheck>,
}

/// The authorization of the create an apply makes: `Some` 403 when refused.
#[derive(Clone)]
pub(crate) struct CreateCheck(std::sync::Arc<dyn Fn() -> Option<ApiError> + Send + Sync>);

impl CreateCheck {
    /// A check that asks `refused`.
    pub(crate) fn new(refused: impl Fn() -> Option<ApiError> + Send + Sync + 'static) -> Self {
        Self(std::sync::Arc::new(refused))
    }

    /// The 403, if the create is refused.
    pub(crate) fn refused(&self) -> Option<ApiError> {
        (self.0)()
    }
}

impl std::fmt::Debug for CreateCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CreateCheck")
    }
}

/// What to do with fields the schema does not know.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum FieldValidation {
    /// Drop them silently.
    Ignore,
    /// Drop them and warn (the default).
    #[default]
    Warn,
    /// Refuse the request.
    Strict,
}

/// Parameters of list and watch.
#[derive(Debug, Clone, Default)]
pub(crate) struct ListOptions {
    /// `labelSelector`.
    pub(crate) label_selector: Option<String>,
    /// `fieldSelector`.
    pub(crate) field_selector: Option<String>,
    /// `limit` (0: no limit).
    pub(crate) limit: usize,
    /// `continue`.
    pub(crate) continue_token: Option<String>,
    /// `resourceVersion`.
    pub(crate) resource_version: Option<String>,
    /// `resourceVersionMatch`.
    pub(crate) resource_version_match: Option<String>,
    /// `watch`.
    pub(crate) watch: bool,
    /// `allowWatchBookmarks`.
    pub(crate) allow_bookmarks: bool,
    /// `timeoutSeconds`.
    pub(crate) timeout_seconds: Option<u64>,
    /// `sendInitialEvents`.
    pub(crate) send_initial_events: Option<bool>,
}

/// Parameters of delete.
#[derive(Debug, Clone, Default)]
pub(crate) struct DeleteOptions {
    /// `dryRun=All`.
    pub(crate) dry_run: bool,
    /// `propagationPolicy`.
    pub(crate) propagation: Option<Propagation>,
    /// `preconditions.uid`.
    pub(crate) precondition_uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub(crate) precondition_rv: Option<String>,
    /// `gracePeriodSeconds` (query or body): how long a pod may take to stop.
    pub(crate) grace_period: Option<i64>,
}

/// How dependents are treated when their owner is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Propagation {
    /// Delete the owner now, dependents in the background.
    Background,
    /// Delete dependents first, then the owner.
    Foreground,
    /// Keep dependents, removing their owner reference.
    Orphan,
}

/// Raw query parameters.
pub(crate) type Query = HashMap<String, String>;

fn flag(q: &Query, key: &str) -> ApiResult<Option<bool>> {
    match q.get(key).map(String::as_str) {
        None => Ok(None),
        Some("true" | "1" | "") => Ok(Some(true)),
        Some("false" | "0") => Ok(Some(false)),
        Some(other) => Err(ApiError::bad_request(format!(
            "invalid value {other:?} for parameter {key}: must be true or false"
        ))),
    }
}

/// Whether a GET asks for a watch, as kube-apiserver's request-info resolver
/// reads it (any value but `false` or `0`): one reading for authorization,
/// counting and serving.
pub(crate) fn watch_requested(q: &Query) -> bool {
    q.get("watch")
        .is_some_and(|w| !matches!(w.to_ascii_lowercase().as_str(), "false" | "0"))
}

fn dry_run(q: &Query) -> ApiResult<bool> {
    match q.get("dryRun").map(String::as_str) {
        None | Some("") => Ok(false),
        Some("All") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "Invalid dryRun value: {other:?}: supported values: \"All\""
        ))),
    }
}

impl WriteOptions {
    /// The field manager of this write.
    pub(crate) fn manager(&self) -> String {
        crate::fieldmanager::manager_name(self.field_manager.as_deref(), &self.user_agent)
    }

    /// Parses the write parameters of `q`.
    pub(crate) fn parse(q: &Query) -> ApiResult<Self> {
        let field_validation = match q.get("fieldValidation").map(String::as_str) {
            None | Some("" | "Warn") => FieldValidation::Warn,
            Some("Ignore") => FieldValidation::Ignore,
            Some("Strict") => FieldValidation::Strict,
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "fieldValidation must be one of \"Ignore\", \"Warn\" or \"Strict\", got {other:?}"
                )));
            }
        };
        Ok(Self {
            dry_run: dry_run(q)?,
            field_manager: q.get("fieldManager").cloned().filter(|s| !s.is_empty()),
            force: flag(q, "force")?.unwrap_or(false),
            field_validation,
            user_agent: String::new(),
            raw_body: None,
            user: None,
            create_check: None,
        })
    }
}

impl ListOptions {
    /// Parses the list/watch parameters of `q`.
    pub(crate) fn parse(q: &Query) -> ApiResult<Self> {
        let limit = match q.get("limit").map(String::as_str) {
            None | Some("") => 0,
            Some(s) => s
                .parse::<i64>()
                .map_err(|_| ApiError::bad_request(format!("invalid limit {s:?}")))?
                .max(0)
                .try_into()
                .unwrap_or(usize::MAX),
        };
        let timeout_seconds = match q.get("timeoutSeconds").map(String::as_str) {
            None | Some("") => None,
            Some(s) => Some(
                s.parse::<u64>()
                    .map_err(|_| ApiError::bad_request(format!("invalid timeoutSeconds {s:?}")))?,
            ),
        };
        let opts = Self {
            label_selector: q.get("labelSelector").cloned().filter(|s| !s.is_empty()),
            field_selector: q.get("fieldSelector").cloned().filter(|s| !s.is_empty()),
            limit,
            continue_token: q.get("continue").cloned().filter(|s| !s.is_empty()),
            resource_version: q.get("resourceVersion").cloned().filter(|s| !s.is_empty()),
            resource_version_match: q
                .get("resourceVersionMatch")
                .cloned()
                .filter(|s| !s.is_empty()),
            watch: flag(q, "watch")?.unwrap_or(false),
            allow_bookmarks: flag(q, "allowWatchBookmarks")?.unwrap_or(false),
            timeout_seconds,
            send_initial_events: flag(q, "sendInitialEvents")?,
        };
        Ok(opts)
    }

    /// Checks the options as kube-apiserver's `ValidateListOptions` does: a
    /// 422 `ListOptions.meta.k8s.io "" is invalid` listing each problem.
    pub(crate) fn validate(&self) -> ApiResult<()> {
        let mut causes = Vec::new();
        if self.watch {
            self.validate_watch(&mut causes);
        } else {
            self.validate_list(&mut causes);
        }
        if causes.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid("ListOptions", "meta.k8s.io", "", causes))
        }
    }

    /// A watch: `sendInitialEvents` and `resourceVersionMatch=NotOlderThan`
    /// go together, without `continue`.
    fn validate_watch(&self, causes: &mut Vec<Cause>) {
        let rv_match = self.resource_version_match.as_deref();
        if self.send_initial_events.is_some() && rv_match != Some("NotOlderThan") {
            causes.push(forbidden_match(
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
            ));
        }
        let Some(m) = rv_match else { return };
        if self.send_initial_events.is_none() {
            causes.push(forbidden_match(
                "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
            ));
        }
        if m != "NotOlderThan" {
            causes.push(unsupported_match(m, "\"NotOlderThan\""));
        }
        if self.continue_token.is_some() {
            causes.push(forbidden_match(
                "resourceVersionMatch is forbidden when continue is provided",
            ));
        }
    }

    /// A list: `resourceVersionMatch` needs a `resourceVersion` (not "0" for
    /// `Exact`) and no `continue`; no `sendInitialEvents`.
    fn validate_list(&self, causes: &mut Vec<Cause>) {
        match self.resource_version_match.as_deref() {
            None => {}
            Some(m @ ("Exact" | "NotOlderThan")) => {
                if self.resource_version.is_none() {
                    causes.push(forbidden_match(
                        "resourceVersionMatch is forbidden unless resourceVersion is provided",
                    ));
                }
                if self.continue_token.is_some() {
                    causes.push(forbidden_match(
                        "resourceVersionMatch is forbidden when continue is provided",
                    ));
                }
                if m == "Exact" && self.resource_version.as_deref() == Some("0") {
                    causes.push(forbidden_match(
                        "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
                    ));
                }
            }
            Some(other) => causes.push(unsupported_match(
                other,
                "\"Exact\", \"NotOlderThan\", \"\"",
            )),
        }
        if self.send_initial_events.is_some() {
            causes.push(Cause {
                reason: "FieldValueForbidden".into(),
                message: "Forbidden: sendInitialEvents is forbidden for list".into(),
                field: "sendInitialEvents".into(),
            });
        }
    }

    /// `resourceVersion` as a number; `None` for "" (most recent). "0" is 0.
    pub(crate) fn resource_version(&self) -> ApiResult<Option<u64>> {
        self.resource_version
            .as_deref()
            .map(|s| {
                s.parse::<u64>()
                    .map_err(|_| ApiError::bad_request(format!("invalid resource version {s:?}")))
            })
            .transpose()
    }
}

impl DeleteOptions {
    /// Parses delete parameters from the query and the optional DeleteOptions body.
    pub(crate) fn parse(q: &Query, body: Option<&serde_json::Value>) -> ApiResult<Self> {
        let mut dry = dry_run(q)?;
        let mut propagation = q
            .get("propagationPolicy")
            .map(|s| parse_propagation(s))
            .transpose()?;
        let mut orphan = flag(q, "orphanDependents")?;
        let mut grace_period = grace_period_param(q)?;
        let mut uid = None;
        let mut rv = None;
        if let Some(b) = body.filter(|b| !b.is_null()) {
            // Decoded as the type it is, so that a field of the wrong type is
            // a 400 and nothing is deleted, never read as "not set".
            let typed: K8sDeleteOptions = serde_json::from_value(b.clone())
                .map_err(|e| ApiError::bad_request(format!("invalid DeleteOptions: {e}")))?;
            if let Some(p) = typed.propagation_policy.as_deref() {
                propagation = Some(parse_propagation(p)?);
            }
            if let Some(o) = typed.orphan_dependents {
                orphan = Some(o);
            }
            if let Some(d) = &typed.dry_run {
                dry |= d.iter().any(|v| v == "All");
            }
            if let Some(g) = typed.grace_period_seconds {
                grace_period = Some(g);
            }
            if let Some(p) = typed.preconditions {
                uid = p.uid;
                rv = p.resource_version;
            }
        }
        Ok(Self {
            dry_run: dry,
            propagation: with_orphan(propagation, orphan)?,
            precondition_uid: uid,
            precondition_rv: rv,
            grace_period,
        })
    }
}

/// The query's `gracePeriodSeconds`; 400 unless it is an integer.
fn grace_period_param(q: &Query) -> ApiResult<Option<i64>> {
    q.get("gracePeriodSeconds")
        .map(|v| {
            v.parse::<i64>().map_err(|_| {
                ApiError::bad_request(format!(
                    "invalid value {v:?} for parameter gracePeriodSeconds: must be an integer"
                ))
            })
        })
        .transpose()
}

/// The propagation with `orphanDependents` (the older way to ask for one)
/// turned into its policy; 400 if both are set.
fn with_orphan(
    propagation: Option<Propagation>,
    orphan: Option<bool>,
) -> ApiResult<Option<Propagation>> {
    let Some(o) = orphan else {
        return Ok(propagation);
    };
    if propagation.is_some() {
        return Err(ApiError::bad_request(
            "orphanDependents and propagationPolicy cannot both be set",
        ));
    }
    Ok(Some(if o {
        Propagation::Orphan
    } else {
        Propagation::Background
    }))
}

/// A forbidden `resourceVersionMatch`, with kube-apiserver's `detail`.
fn forbidden_match(detail: &str) -> Cause {
    Cause {
        reason: "FieldValueForbidden".into(),
        message: format!("Forbidden: {detail}"),
        field: "resourceVersionMatch".into(),
    }
}

/// A `resourceVersionMatch` other than the `supported` ones.
fn unsupported_match(value: &str, supported: &str) -> Cause {
    Cause {
        reason: "FieldValueNotSupported".into(),
        message: format!("Unsupported value: {value:?}: supported values: {supported}"),
        field: "resourceVersionMatch".into(),
    }
}

fn parse_propagation(s: &str) -> ApiResult<Propagation> {
    match s {
        "Background" => Ok(Propagation::Background),
        "Foreground" => Ok(Propagation::Foreground),
        "Orphan" => Ok(Propagation::Orphan),
        other => Err(ApiError::bad_request(format!(
            "propagationPolicy: Unsupported value: {other:?}: supported values: \"Background\", \"Foreground\", \"Orphan\""
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> ListOptions {
        let q: Query = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ListOptions::parse(&q).unwrap()
    }

    #[test]
    fn unsupported_matches_and_initial_events_on_lists_are_refused() {
        let e = opts(&[("resourceVersion", "5"), ("resourceVersionMatch", "Bogus")])
            .validate()
            .unwrap_err();
        assert!(
            e.message.contains(
                r#"resourceVersionMatch: Unsupported value: "Bogus": supported values: "Exact", "NotOlderThan", """#
            ),
            "{}",
            e.message
        );
        let watch = [
            ("watch", "true"),
            ("sendInitialEvents", "true"),
            ("resourceVersionMatch", "Exact"),
        ];
        let e = opts(&watch).validate().unwrap_err();
        assert!(
            e.message
                .contains(r#"Unsupported value: "Exact": supported values: "NotOlderThan""#),
            "{}",
            e.message
        );
        let e = opts(&[("sendInitialEvents", "true")])
            .validate()
            .unwrap_err();
        assert!(
            e.message
                .contains("sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list"),
            "{}",
            e.message
        );
    }

    #[test]
    fn list_options_are_validated_as_kube_apiserver_does() {
        assert!(opts(&[]).validate().is_ok());
        assert!(
            opts(&[("resourceVersion", "5"), ("resourceVersionMatch", "Exact")])
                .validate()
                .is_ok()
        );
        let e = opts(&[("resourceVersionMatch", "NotOlderThan")])
            .validate()
            .unwrap_err();
        assert_eq!(e.code, 422);
        assert_eq!(
            e.message,
            "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided"
        );
        let watch_list = [
            ("watch", "true"),
            ("sendInitialEvents", "true"),
            ("resourceVersionMatch", "NotOlderThan"),
        ];
        assert!(
            opts(&watch_list).validate().is_ok(),
            "an empty resourceVersion is fine for a watch list"
        );
        let e = opts(&[("watch", "true"), ("sendInitialEvents", "true")])
            .validate()
            .unwrap_err();
        assert!(
            e.message.contains(
                "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"
            ),
            "{}",
            e.message
        );
        let e = opts(&[
            ("watch", "true"),
            ("resourceVersion", "3"),
            ("resourceVersionMatch", "NotOlderThan"),
        ])
        .validate()
        .unwrap_err();
        assert!(
            e.message
                .contains("forbidden for watch unless sendInitialEvents is provided"),
            "{}",
            e.message
        );
    }
}
