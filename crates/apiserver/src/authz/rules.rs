//! RBAC policy rules and what they allow, as kube-apiserver's
//! `rbac/validation` package decides it: verbs, API groups, resources (with
//! `*` and `*/subresource`), resource names, non-resource URLs (with a
//! trailing `*`), and whether one set of rules covers another (escalation).

use serde_json::Value;

use super::{Attributes, Target};

/// One `rules[]` entry of a Role or ClusterRole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rule {
    /// `verbs`.
    pub verbs: Vec<String>,
    /// `apiGroups`.
    pub api_groups: Vec<String>,
    /// `resources` (`pods`, `pods/log`, `*/scale`, `*`).
    pub resources: Vec<String>,
    /// `resourceNames` (empty: every name).
    pub resource_names: Vec<String>,
    /// `nonResourceURLs` (`/healthz`, `/apis/*`).
    pub non_resource_urls: Vec<String>,
}

const ALL: &str = "*";

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

impl Rule {
    /// A rule from its JSON (`verbs`, `apiGroups`, `resources`,
    /// `resourceNames`, `nonResourceURLs`).
    pub fn from_json(v: &Value) -> Self {
        Self {
            verbs: strings(v, "verbs"),
            api_groups: strings(v, "apiGroups"),
            resources: strings(v, "resources"),
            resource_names: strings(v, "resourceNames"),
            non_resource_urls: strings(v, "nonResourceURLs"),
        }
    }

    /// The rules of a role object.
    pub fn all_of(role: &Value) -> Vec<Self> {
        role.get("rules")
            .and_then(Value::as_array)
            .map(|rules| rules.iter().map(Self::from_json).collect())
            .unwrap_or_default()
    }

    /// The rule as JSON, fields in Kubernetes' order, empty ones left out.
    pub fn to_json(&self) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("verbs".into(), self.verbs.clone().into());
        for (key, list) in [
            ("apiGroups", &self.api_groups),
            ("resources", &self.resources),
            ("resourceNames", &self.resource_names),
            ("nonResourceURLs", &self.non_resource_urls),
        ] {
            if !list.is_empty() {
                m.insert(key.into(), list.clone().into());
            }
        }
        Value::Object(m)
    }

    /// Whether this rule allows `attrs` (RBAC's `RuleAllows`).
    pub fn allows(&self, attrs: &Attributes) -> bool {
        if !has(&self.verbs, &attrs.verb) {
            return false;
        }
        match &attrs.target {
            Target::Resource(r) => {
                has(&self.api_groups, &r.group)
                    && resource_matches(&self.resources, &r.resource, &r.subresource)
                    && (self.resource_names.is_empty() || self.resource_names.contains(&r.name))
            }
            Target::Path(path) => self.non_resource_urls.iter().any(|u| {
                u == ALL || u == path || u.strip_suffix('*').is_some_and(|p| path.starts_with(p))
            }),
        }
    }

    /// This rule split into rules of one verb, group, resource and name (or
    /// one verb and URL), the units escalation checks compare.
    pub fn atoms(&self) -> Vec<Rule> {
        let one = |s: &String| vec![s.clone()];
        let mut out = Vec::new();
        for verb in &self.verbs {
            for url in &self.non_resource_urls {
                out.push(Rule {
                    verbs: one(verb),
                    non_resource_urls: one(url),
                    ..Rule::default()
                });
            }
            for group in &self.api_groups {
                for resource in &self.resources {
                    let names: Vec<Vec<String>> = if self.resource_names.is_empty() {
                        vec![Vec::new()]
                    } else {
                        self.resource_names.iter().map(one).collect()
                    };
                    for resource_names in names {
                        out.push(Rule {
                            verbs: one(verb),
                            api_groups: one(group),
                            resources: one(resource),
                            resource_names,
                            non_resource_urls: Vec::new(),
                        });
                    }
                }
            }
        }
        out
    }

    /// Whether this rule covers the one-of-each `atom` (RBAC's `ruleCovers`).
    pub fn covers(&self, atom: &Rule) -> bool {
        let covered = |owner: &[String], servant: &[String]| {
            servant
                .iter()
                .all(|s| owner.iter().any(|o| o == ALL || o == s))
        };
        if !covered(&self.verbs, &atom.verbs) {
            return false;
        }
        if !atom.non_resource_urls.is_empty() {
            return atom.non_resource_urls.iter().all(|url| {
                self.non_resource_urls.iter().any(|o| {
                    o == ALL || o == url || o.strip_suffix('*').is_some_and(|p| url.starts_with(p))
                })
            });
        }
        // RBAC's resourceCoversAll: `*`, the same resource, or `*/<sub>`
        // for a subresource; `pods/*` covers nothing, as it grants nothing.
        // Names are compared exactly (`*` is not a wildcard there).
        covered(&self.api_groups, &atom.api_groups)
            && atom.resources.iter().all(|r| {
                self.resources.iter().any(|o| {
                    o == ALL
                        || o == r
                        || r.split_once('/')
                            .is_some_and(|(_, sub)| o.strip_prefix("*/") == Some(sub))
                })
            })
            && (self.resource_names.is_empty()
                || (!atom.resource_names.is_empty()
                    && atom
                        .resource_names
                        .iter()
                        .all(|n| self.resource_names.contains(n))))
    }

    /// The rule as kube-apiserver prints it in an escalation error:
    /// `{APIGroups:[""], Resources:["pods"], Verbs:["get"]}`.
    pub fn go_string(&self) -> String {
        let list = |l: &[String]| {
            l.iter()
                .map(|s| format!("{s:?}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut parts = Vec::new();
        if !self.api_groups.is_empty() {
            parts.push(format!("APIGroups:[{}]", list(&self.api_groups)));
        }
        if !self.resources.is_empty() {
            parts.push(format!("Resources:[{}]", list(&self.resources)));
        }
        if !self.resource_names.is_empty() {
            parts.push(format!("ResourceNames:[{}]", list(&self.resource_names)));
        }
        if !self.non_resource_urls.is_empty() {
            parts.push(format!(
                "NonResourceURLs:[{}]",
                list(&self.non_resource_urls)
            ));
        }
        parts.push(format!("Verbs:[{}]", list(&self.verbs)));
        format!("{{{}}}", parts.join(", "))
    }
}

fn has(list: &[String], want: &str) -> bool {
    list.iter().any(|s| s == ALL || s == want)
}

fn resource_matches(rule: &[String], resource: &str, subresource: &str) -> bool {
    rule.iter().any(|r| {
        r == ALL
            || (subresource.is_empty() && r == resource)
            || (!subresource.is_empty()
                && (r.split_once('/') == Some((resource, subresource))
                    || r.strip_prefix("*/") == Some(subresource)))
    })
}

#[cfg(test)]
mod tests {
    use super::super::ResourceAttributes;
    use super::*;
    use serde_json::json;

    fn attrs(verb: &str, group: &str, resource: &str, sub: &str, name: &str) -> Attributes {
        Attributes {
            verb: verb.into(),
            target: Target::Resource(ResourceAttributes {
                group: group.into(),
                resource: resource.into(),
                subresource: sub.into(),
                namespace: "ns".into(),
                name: name.into(),
            }),
        }
    }

    fn rule(v: Value) -> Rule {
        Rule::from_json(&v)
    }

    #[test]
    fn rules_match_as_rbac_matches_them() {
        let pods =
            rule(json!({"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}));
        assert!(pods.allows(&attrs("get", "", "pods", "", "p")));
        assert!(pods.allows(&attrs("list", "", "pods", "", "")));
        assert!(!pods.allows(&attrs("delete", "", "pods", "", "p")));
        assert!(!pods.allows(&attrs("get", "apps", "pods", "", "p")));
        // A resource does not grant its subresources, nor the reverse.
        assert!(!pods.allows(&attrs("get", "", "pods", "log", "p")));
        let status = rule(
            json!({"apiGroups": ["core.operatorkit.dev"], "resources": ["certconfigs/status"], "verbs": ["patch"]}),
        );
        assert!(status.allows(&attrs(
            "patch",
            "core.operatorkit.dev",
            "certconfigs",
            "status",
            "c"
        )));
        assert!(!status.allows(&attrs(
            "patch",
            "core.operatorkit.dev",
            "certconfigs",
            "",
            "c"
        )));
        let any_scale = rule(json!({"apiGroups": ["*"], "resources": ["*/scale"], "verbs": ["*"]}));
        assert!(any_scale.allows(&attrs("update", "apps", "deployments", "scale", "d")));
        assert!(!any_scale.allows(&attrs("update", "apps", "deployments", "", "d")));
        // resourceNames: only requests naming one of them.
        let named = rule(
            json!({"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["a"], "verbs": ["get", "list", "create"]}),
        );
        assert!(named.allows(&attrs("get", "", "configmaps", "", "a")));
        assert!(!named.allows(&attrs("get", "", "configmaps", "", "b")));
        assert!(!named.allows(&attrs("list", "", "configmaps", "", "")));
        assert!(!named.allows(&attrs("create", "", "configmaps", "", "")));
        // Non-resource URLs, with a trailing *.
        let urls = rule(json!({"nonResourceURLs": ["/healthz", "/apis/*"], "verbs": ["get"]}));
        let path = |p: &str| Attributes {
            verb: "get".into(),
            target: Target::Path(p.into()),
        };
        assert!(urls.allows(&path("/healthz")));
        assert!(urls.allows(&path("/apis/apps/v1")));
        assert!(!urls.allows(&path("/api")));
        assert!(!urls.allows(&attrs("get", "", "healthz", "", "")));
    }

    #[test]
    fn coverage_is_checked_atom_by_atom() {
        let owner = rule(
            json!({"apiGroups": [""], "resources": ["pods", "secrets"], "verbs": ["get", "list"]}),
        );
        let servant = rule(json!({"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}));
        assert!(servant.atoms().iter().all(|a| owner.covers(a)));
        let more =
            rule(json!({"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "delete"]}));
        let uncovered: Vec<Rule> = more
            .atoms()
            .into_iter()
            .filter(|a| !owner.covers(a))
            .collect();
        assert_eq!(uncovered.len(), 1);
        assert_eq!(
            uncovered[0].go_string(),
            r#"{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}"#
        );
        let named_owner = rule(
            json!({"apiGroups": [""], "resources": ["pods"], "resourceNames": ["a"], "verbs": ["get"]}),
        );
        assert!(!servant.atoms().iter().all(|a| named_owner.covers(a)));
        let star = rule(json!({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}));
        assert!(more.atoms().iter().all(|a| star.covers(a)));
        // pods/* grants nothing, so it covers nothing; */exec covers pods/exec.
        let exec =
            rule(json!({"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create"]}));
        let slash_star =
            rule(json!({"apiGroups": [""], "resources": ["pods/*"], "verbs": ["create"]}));
        assert!(!exec.atoms().iter().all(|a| slash_star.covers(a)));
        let star_exec =
            rule(json!({"apiGroups": [""], "resources": ["*/exec"], "verbs": ["create"]}));
        assert!(exec.atoms().iter().all(|a| star_exec.covers(a)));
        // A held resourceName "*" is a name, not a wildcard.
        let star_name = rule(
            json!({"apiGroups": [""], "resources": ["pods"], "resourceNames": ["*"], "verbs": ["get"]}),
        );
        let named = rule(
            json!({"apiGroups": [""], "resources": ["pods"], "resourceNames": ["p"], "verbs": ["get"]}),
        );
        assert!(!named.atoms().iter().all(|a| star_name.covers(a)));
    }
}
