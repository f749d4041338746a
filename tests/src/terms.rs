//! Leader terms read from the API server's write log: which replica of an
//! operator held its Lease when, and who wrote what in each term, by field
//! manager and identity. The system's leader-election test checks with it
//! that only the holder writes and that no object is written by two
//! replicas in one term.

use std::collections::{BTreeMap, BTreeSet};

use operatorkit_apiserver::Write;

/// What one operator's replicas wrote, term by term.
#[derive(Debug, Default)]
pub struct Terms {
    /// The holder of each term in order: the instance (`<replica>-<suffix>`)
    /// whose successful write of the Lease started it.
    pub holders: Vec<String>,
    /// Writes apart from the Lease, by (field manager, identity); a delete
    /// counts under the manager `-`, as it manages no field.
    pub by_manager_and_identity: BTreeMap<(String, String), u64>,
    /// Writes apart from the Lease by a replica that did not hold it then.
    pub outside_term: Vec<String>,
    /// Objects written by more than one identity within one term.
    pub shared: Vec<String>,
}

/// The instance a User-Agent `<operator>/<version> (<instance>)` names.
fn identity(user_agent: &str) -> Option<&str> {
    let (_, rest) = user_agent.split_once(" (")?;
    rest.strip_suffix(')')
}

/// `<resource> <namespace>/<name>` of a write.
fn object(w: &Write) -> String {
    let ns = w
        .namespace
        .as_deref()
        .map(|n| format!("{n}/"))
        .unwrap_or_default();
    format!("{} {ns}{}", w.resource, w.name)
}

fn describe(w: &Write) -> String {
    format!("{} {}", w.verb, object(w))
}

impl Terms {
    /// The terms of the Lease `lease` among the writes whose User-Agent
    /// starts with `agent` (one operator's replicas), from `log` in commit
    /// order.
    pub fn of(log: &[Write], agent: &str, lease: &str) -> Self {
        let mut terms = Self::default();
        let mut writers: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for w in log.iter().filter(|w| w.user_agent.starts_with(agent)) {
            let Some(who) = identity(&w.user_agent) else {
                terms
                    .outside_term
                    .push(format!("{} (no identity)", describe(w)));
                continue;
            };
            if w.resource == "leases" && w.name == lease {
                if terms.holders.last().map(String::as_str) != Some(who) {
                    terms.holders.push(who.to_owned());
                    terms.close(&mut writers);
                }
                continue;
            }
            let manager = w.field_manager.clone().unwrap_or_else(|| "-".into());
            *terms
                .by_manager_and_identity
                .entry((manager, who.to_owned()))
                .or_default() += 1;
            if terms.holders.last().map(String::as_str) != Some(who) {
                let holder = terms.holders.last().map_or("nobody", String::as_str);
                terms.outside_term.push(format!(
                    "{} by {who} while {holder} held {lease}",
                    describe(w)
                ));
            }
            writers.entry(object(w)).or_default().insert(who.to_owned());
        }
        terms.close(&mut writers);
        terms
    }

    /// Ends a term: the objects more than one identity wrote in it.
    fn close(&mut self, writers: &mut BTreeMap<String, BTreeSet<String>>) {
        for (object, who) in std::mem::take(writers) {
            if who.len() > 1 {
                self.shared.push(format!("{object} by {who:?}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(agent: &str, manager: Option<&str>, resource: &str, name: &str) -> Write {
        Write {
            user_agent: agent.into(),
            field_manager: manager.map(str::to_owned),
            verb: if manager.is_some() { "patch" } else { "delete" },
            resource: resource.into(),
            namespace: Some("ns".into()),
            name: name.into(),
        }
    }

    const A: &str = "op/1 (op-0-abc)";
    const B: &str = "op/1 (op-1-def)";

    #[test]
    fn writes_of_the_holder_fall_in_its_term() {
        let log = [
            w(A, Some("leader"), "leases", "op-leader"),
            w(A, Some("op"), "secrets", "s"),
            w(A, Some("leader"), "leases", "op-leader"),
            w(B, Some("leader"), "leases", "op-leader"),
            w(B, Some("op"), "secrets", "s"),
            w(B, None, "secrets", "s"),
            w("other/1 (x)", Some("other"), "secrets", "s"),
        ];
        let terms = Terms::of(&log, "op/", "op-leader");
        assert_eq!(terms.holders, ["op-0-abc", "op-1-def"]);
        assert!(terms.outside_term.is_empty(), "{:?}", terms.outside_term);
        assert!(terms.shared.is_empty(), "{:?}", terms.shared);
        let counts: Vec<_> = terms.by_manager_and_identity.into_iter().collect();
        assert_eq!(
            counts,
            [
                (("-".into(), "op-1-def".into()), 1),
                (("op".into(), "op-0-abc".into()), 1),
                (("op".into(), "op-1-def".into()), 1),
            ]
        );
    }

    #[test]
    fn a_write_by_a_standby_is_caught_and_so_is_an_object_two_wrote() {
        let log = [
            w(B, Some("op"), "secrets", "early"),
            w(A, Some("leader"), "leases", "op-leader"),
            w(A, Some("op"), "secrets", "s"),
            w(B, None, "secrets", "s"),
        ];
        let terms = Terms::of(&log, "op/", "op-leader");
        assert_eq!(
            terms.outside_term,
            [
                "patch secrets ns/early by op-1-def while nobody held op-leader",
                "delete secrets ns/s by op-1-def while op-0-abc held op-leader",
            ]
        );
        assert_eq!(
            terms.shared,
            ["secrets ns/s by {\"op-0-abc\", \"op-1-def\"}"]
        );
    }
}
