//! The progress display of `cargo xtask dev`: one line per object of the
//! five kinds (the guest clusters first) and one per operator, with their
//! conditions and state.
//!
//! [`lines`] is a pure function from the [`State`] to the lines; [`Display`]
//! shows them: redrawn in place (ANSI cursor movement) on a terminal; when
//! stderr is not one it prints only the [`alarms`] (an operator exited, a
//! request refused) as they happen, and the last state once, as plain
//! lines, when the wait ends ([`Display::finish`]).

use std::io::Write;

/// The kinds shown, in the order they are shown (the guest clusters first).
pub const KINDS: &[&str] = &[
    "KVMConfig",
    "AWSConfig",
    "CertConfig",
    "FlannelConfig",
    "IngressConfig",
];

/// One condition of an object's status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    pub type_: String,
    pub status: String,
    pub reason: String,
    pub message: String,
}

/// An object of one of the [`KINDS`], as far as the display cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// `spec.cluster.id` (the guest clusters' kinds), else `spec.clusterID`
    /// or nothing.
    pub cluster_id: Option<String>,
    pub conditions: Vec<Condition>,
    pub deleting: bool,
}

impl Resource {
    /// Whether its Ready condition is True.
    pub fn ready(&self) -> bool {
        self.conditions
            .iter()
            .any(|c| c.type_ == apiextensions::status::READY && c.status == "True")
    }
}

/// What an operator process is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Process {
    /// Running; `ready` is the answer of its `/readyz` (None: no answer yet).
    Running { ready: Option<bool> },
    /// Exited with this status; the last line of its log.
    Exited { status: String, last_log: String },
}

/// An operator, as far as the display cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operator {
    pub name: String,
    pub metrics: String,
    pub process: Process,
    /// What the API server refused it ([`forbidden`] of its log): a rule
    /// missing from its ClusterRole or Role.
    pub denied: Vec<String>,
}

impl Operator {
    /// Running, ready, and refused nothing.
    pub fn ready(&self) -> bool {
        self.process == Process::Running { ready: Some(true) } && self.denied.is_empty()
    }
}

/// `text` without ANSI escape sequences (a log written in colour).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ parameters, then one final letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The requests the API server refused, from an operator's log: each
/// `cannot <verb> resource "<resource>" in API group "<group>"` of its
/// Forbidden errors, once, sorted (the object and namespace left out, so
/// that a missing rule is one entry however many objects it hits).
pub fn forbidden(log: &str) -> Vec<String> {
    let log = strip_ansi(log);
    let mut out: Vec<String> = Vec::new();
    for line in log.lines().filter(|l| l.contains("forbidden")) {
        let mut rest = line;
        while let Some(start) = rest.find("cannot ") {
            let tail = &rest[start..];
            let group = "in API group \"";
            let end = tail.find(group).and_then(|g| {
                let after = g + group.len();
                tail[after..].find('"').map(|q| after + q + 1)
            });
            let Some(end) = end else { break };
            let phrase = tail[..end].replace("\\\"", "\"");
            if !out.contains(&phrase) {
                out.push(phrase);
            }
            rest = &tail[end..];
        }
    }
    out.sort();
    out
}

/// Everything shown.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct State {
    pub resources: Vec<Resource>,
    pub operators: Vec<Operator>,
}

impl State {
    /// Whether every object is Ready and every operator ready (and there
    /// is at least one object).
    pub fn all_ready(&self) -> bool {
        !self.resources.is_empty()
            && self.resources.iter().all(Resource::ready)
            && self.operators.iter().all(Operator::ready)
    }

    /// One short phrase per thing that is not ready.
    pub fn not_ready(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .resources
            .iter()
            .filter(|r| !r.ready())
            .map(|r| format!("{} {}/{}", r.kind, r.namespace, r.name))
            .collect();
        out.extend(self.operators.iter().filter(|o| !o.ready()).map(|o| {
            if o.denied.is_empty() {
                o.name.clone()
            } else {
                format!("{} (RBAC denied: {})", o.name, o.denied.join(", "))
            }
        }));
        out
    }
}

/// The objects of a `kubectl get <kinds> -A -o json` List, in display order.
pub fn parse_resources(list: &serde_json::Value) -> Vec<Resource> {
    let empty = Vec::new();
    let items = list["items"].as_array().unwrap_or(&empty);
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    let mut out: Vec<Resource> = items
        .iter()
        .map(|item| {
            let conditions = item["status"]["conditions"]
                .as_array()
                .unwrap_or(&empty)
                .iter()
                .map(|c| Condition {
                    type_: text(&c["type"]),
                    status: text(&c["status"]),
                    reason: text(&c["reason"]),
                    message: text(&c["message"]),
                })
                .collect();
            let cluster_id = item["spec"]["cluster"]["id"]
                .as_str()
                .or_else(|| item["spec"]["clusterID"].as_str())
                .map(str::to_owned);
            Resource {
                kind: text(&item["kind"]),
                namespace: text(&item["metadata"]["namespace"]),
                name: text(&item["metadata"]["name"]),
                cluster_id,
                conditions,
                deleting: !item["metadata"]["deletionTimestamp"].is_null(),
            }
        })
        .collect();
    out.sort_by(|a, b| {
        let rank = |r: &Resource| {
            KINDS
                .iter()
                .position(|k| *k == r.kind)
                .unwrap_or(KINDS.len())
        };
        (rank(a), &a.namespace, &a.name).cmp(&(rank(b), &b.namespace, &b.name))
    });
    out
}

/// The conditions of an object: `Type=Status` of each, and the reason and
/// message of the first that is not True.
fn conditions(r: &Resource) -> String {
    if r.conditions.is_empty() {
        return "no conditions yet".to_owned();
    }
    let mut s = r
        .conditions
        .iter()
        .map(|c| format!("{}={}", c.type_, c.status))
        .collect::<Vec<_>>()
        .join(" ");
    if let Some(c) = r.conditions.iter().find(|c| c.status != "True") {
        s.push_str(" (");
        s.push_str(if c.reason.is_empty() {
            "no reason"
        } else {
            &c.reason
        });
        if !c.message.is_empty() {
            s.push_str(": ");
            s.push_str(&c.message);
        }
        s.push(')');
    }
    if r.deleting {
        s.push_str(", deleting");
    }
    s
}

/// What an operator is doing, in words.
fn process(o: &Operator) -> String {
    let mut s = process_state(o);
    if !o.denied.is_empty() {
        s.push_str(&format!(", RBAC DENIED: {}", o.denied.join(", ")));
    }
    s
}

fn process_state(o: &Operator) -> String {
    match &o.process {
        Process::Running { ready: Some(true) } => "running, ready".to_owned(),
        Process::Running { ready: Some(false) } => "running, not ready (/readyz)".to_owned(),
        Process::Running { ready: None } => "starting (no answer on /readyz)".to_owned(),
        Process::Exited { status, last_log } if last_log.is_empty() => {
            format!("EXITED ({status})")
        }
        Process::Exited { status, last_log } => format!("EXITED ({status}): {last_log}"),
    }
}

/// The lines showing `state`: the objects (guest clusters first), then the
/// operators, each with its first column padded to the widest.
fn lines(state: &State) -> Vec<String> {
    let mut rows: Vec<(String, String)> = state
        .resources
        .iter()
        .map(|r| {
            (
                format!("{} {}/{}", r.kind, r.namespace, r.name),
                conditions(r),
            )
        })
        .collect();
    rows.extend(state.operators.iter().map(|o| {
        (
            o.name.clone(),
            format!("{} (metrics {})", process(o), o.metrics),
        )
    }));
    let width = rows
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    rows.into_iter()
        .map(|(label, status)| format!("{label:<width$}  {status}"))
        .collect()
}

/// What needs a person at once, one line each: an operator that exited
/// (with the last line of its log), a request the API server refused one.
/// On a terminal they show on the operators' lines; elsewhere
/// [`Display`] prints each once, as it happens.
pub fn alarms(state: &State) -> Vec<String> {
    let mut out = Vec::new();
    for o in &state.operators {
        if matches!(o.process, Process::Exited { .. }) {
            out.push(format!("{}: {}", o.name, process_state(o)));
        }
        out.extend(
            o.denied
                .iter()
                .map(|d| format!("{}: RBAC denied: {d}", o.name)),
        );
    }
    out
}

/// `text` cut to `columns` characters (an ellipsis marks the cut), so that
/// no line wraps and moving the cursor up by the number of lines is right.
pub fn fit(text: &str, columns: usize) -> String {
    if text.chars().count() <= columns {
        return text.to_owned();
    }
    let mut s: String = text.chars().take(columns.saturating_sub(1)).collect();
    s.push('…');
    s
}

/// Shows successive states on stderr.
pub struct Display {
    terminal: bool,
    columns: usize,
    /// The lines drawn (terminal) or held for [`Display::finish`] last.
    drawn: Vec<String>,
    /// The [`alarms`] printed so far (not a terminal).
    alarmed: Vec<String>,
}

impl Display {
    /// A display redrawn in place if `terminal`, else quiet but for the
    /// alarms until [`Display::finish`].
    pub fn new(terminal: bool, columns: usize) -> Self {
        Self {
            terminal,
            columns,
            drawn: Vec::new(),
            alarmed: Vec::new(),
        }
    }

    /// Shows `state` under `header` on a terminal; elsewhere prints its new
    /// [`alarms`] and keeps its lines for [`Display::finish`].
    pub fn show(&mut self, header: &str, state: &State) {
        let mut out = self.alarm(&alarms(state));
        out.push_str(&self.render(header, &lines(state)));
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(out.as_bytes());
        let _ = err.flush();
    }

    /// The `alarms` not printed before, when stderr is not a terminal (a
    /// terminal shows them on the operators' lines).
    fn alarm(&mut self, alarms: &[String]) -> String {
        if self.terminal {
            return String::new();
        }
        let mut out = String::new();
        for a in alarms {
            if !self.alarmed.contains(a) {
                out.push_str(&format!("dev: {a}\n"));
                self.alarmed.push(a.clone());
            }
        }
        out
    }

    /// Ends the display: when stderr is not a terminal, the last lines
    /// shown, once (a terminal has them on screen).
    pub fn finish(&mut self) {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(self.finished().as_bytes());
        let _ = err.flush();
    }

    /// What [`Display::finish`] writes.
    fn finished(&self) -> String {
        if self.terminal {
            return String::new();
        }
        let lines = self.drawn.iter();
        lines.map(|l| format!("dev: {l}\n")).collect()
    }

    /// What [`Display::show`] writes of the lines (pure but for the lines
    /// remembered).
    fn render(&mut self, header: &str, lines: &[String]) -> String {
        let mut out = String::new();
        if self.terminal {
            if !self.drawn.is_empty() {
                // Back to the header's line (it is one more than the lines).
                out.push_str(&format!("\x1b[{}A", self.drawn.len() + 1));
            }
            out.push_str(&format!("\r\x1b[2K{}\n", fit(header, self.columns)));
            for line in lines {
                out.push_str(&format!("\r\x1b[2K{}\n", fit(line, self.columns)));
            }
            // Clear what is left of a longer previous drawing.
            out.push_str("\x1b[J");
        }
        self.drawn = lines.to_vec();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn condition(type_: &str, status: &str, reason: &str, message: &str) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: message.into(),
        }
    }

    fn resource(kind: &str, name: &str, conditions: Vec<Condition>) -> Resource {
        Resource {
            kind: kind.into(),
            namespace: "default".into(),
            name: name.into(),
            cluster_id: Some(name.into()),
            conditions,
            deleting: false,
        }
    }

    fn operator(name: &str, process: Process) -> Operator {
        Operator {
            name: name.into(),
            metrics: "http://127.0.0.1:8084".into(),
            process,
            denied: Vec::new(),
        }
    }

    #[test]
    fn parses_a_list_in_display_order() {
        let list = serde_json::json!({"items": [
            {"kind": "CertConfig", "metadata": {"namespace": "default", "name": "abc12-api"},
             "spec": {"clusterID": "abc12"}},
            {"kind": "KVMConfig", "metadata": {"namespace": "default", "name": "def34",
                                               "deletionTimestamp": "2026-01-01T00:00:00Z"},
             "spec": {"cluster": {"id": "def34"}},
             "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "Ready"}]}},
            {"kind": "AWSConfig", "metadata": {"namespace": "default", "name": "xyz89"}},
        ]});
        let r = parse_resources(&list);
        let names: Vec<_> = r.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["def34", "xyz89", "abc12-api"]);
        assert!(r[0].ready() && r[0].deleting);
        assert_eq!(r[0].cluster_id.as_deref(), Some("def34"));
        assert_eq!(r[2].cluster_id.as_deref(), Some("abc12"));
        assert!(!r[1].ready() && r[1].conditions.is_empty());
    }

    #[test]
    fn renders_conditions_and_operators_aligned() {
        let state = State {
            resources: vec![
                resource(
                    "KVMConfig",
                    "def34",
                    vec![condition("Ready", "True", "Ready", "")],
                ),
                resource(
                    "AWSConfig",
                    "xyz89",
                    vec![
                        condition("Created", "True", "", ""),
                        condition(
                            "Ready",
                            "False",
                            "StackCreating",
                            "guest stack in CREATE_IN_PROGRESS",
                        ),
                    ],
                ),
                resource("CertConfig", "abc12-api", vec![]),
            ],
            operators: vec![
                operator("kvm-operator", Process::Running { ready: Some(true) }),
                operator(
                    "aws-operator",
                    Process::Exited {
                        status: "exit status: 1".into(),
                        last_log: "403 Forbidden: cannot list awsconfigs".into(),
                    },
                ),
            ],
        };
        let text: Vec<String> = lines(&state);
        assert_eq!(
            text,
            [
                "KVMConfig default/def34       Ready=True",
                "AWSConfig default/xyz89       Created=True Ready=False (StackCreating: guest stack in CREATE_IN_PROGRESS)",
                "CertConfig default/abc12-api  no conditions yet",
                "kvm-operator                  running, ready (metrics http://127.0.0.1:8084)",
                "aws-operator                  EXITED (exit status: 1): 403 Forbidden: cannot list awsconfigs (metrics http://127.0.0.1:8084)",
            ]
        );
        assert!(!state.all_ready());
        assert_eq!(
            state.not_ready(),
            [
                "AWSConfig default/xyz89",
                "CertConfig default/abc12-api",
                "aws-operator"
            ]
        );
    }

    #[test]
    fn forbidden_requests_once_each() {
        let log = "\x1b[33m WARN\x1b[0m reconcile failed error=writing status: ApiError: certconfigs.core.operatorkit.dev \"a\" is forbidden: User \"system:serviceaccount:operatorkit-system:cert-operator\" cannot patch resource \"certconfigs/status\" in API group \"core.operatorkit.dev\" in the namespace \"default\": Forbidden (Status { message: \"certconfigs.core.operatorkit.dev \\\"a\\\" is forbidden: User \\\"x\\\" cannot patch resource \\\"certconfigs/status\\\" in API group \\\"core.operatorkit.dev\\\" in the namespace \\\"default\\\"\" })
 INFO fine
 WARN list: secrets is forbidden: User \"u\" cannot list resource \"secrets\" in API group \"\" at the cluster scope
";
        assert_eq!(
            forbidden(log),
            [
                "cannot list resource \"secrets\" in API group \"\"",
                "cannot patch resource \"certconfigs/status\" in API group \"core.operatorkit.dev\"",
            ]
        );
        assert!(forbidden("all good\n").is_empty());
    }

    #[test]
    fn a_denied_operator_is_not_ready() {
        let mut o = operator("cert-operator", Process::Running { ready: Some(true) });
        o.denied = vec!["cannot list resource \"secrets\" in API group \"\"".into()];
        let state = State {
            resources: vec![],
            operators: vec![o],
        };
        assert_eq!(
            lines(&state)[0],
            "cert-operator  running, ready, RBAC DENIED: cannot list resource \"secrets\" in API group \"\" (metrics http://127.0.0.1:8084)"
        );
        assert_eq!(
            state.not_ready(),
            ["cert-operator (RBAC denied: cannot list resource \"secrets\" in API group \"\")"]
        );
    }

    #[test]
    fn all_ready_needs_objects_and_ready_operators() {
        let mut state = State::default();
        assert!(!state.all_ready());
        state.resources.push(resource(
            "KVMConfig",
            "def34",
            vec![condition("Ready", "True", "", "")],
        ));
        state
            .operators
            .push(operator("kvm-operator", Process::Running { ready: None }));
        assert!(!state.all_ready());
        state.operators[0].process = Process::Running { ready: Some(true) };
        assert!(state.all_ready());
    }

    #[test]
    fn terminal_redraws_in_place() {
        let mut display = Display::new(true, 20);
        let one = vec!["a line longer than twenty".to_owned()];
        let first = display.render("head", &one);
        assert_eq!(
            first,
            "\r\x1b[2Khead\n\r\x1b[2Ka line longer than …\n\x1b[J"
        );
        let second = display.render("head", &[]);
        assert_eq!(second, "\x1b[2A\r\x1b[2Khead\n\x1b[J");
    }

    #[test]
    fn not_a_terminal_is_quiet_until_the_end() {
        let mut display = Display::new(false, 20);
        let line = |text: &str| text.to_owned();
        assert_eq!(display.render("0s", &[line("one"), line("b")]), "");
        assert_eq!(display.render("1s", &[line("two"), line("b")]), "");
        assert_eq!(display.finished(), "dev: two\ndev: b\n");
        assert_eq!(Display::new(true, 20).finished(), "");
    }

    #[test]
    fn not_a_terminal_says_each_alarm_once_as_it_happens() {
        let mut o = operator("cert-operator", Process::Running { ready: Some(true) });
        let mut state = State {
            resources: vec![],
            operators: vec![o.clone()],
        };
        assert!(alarms(&state).is_empty());
        o.denied = vec!["cannot list resource \"secrets\" in API group \"\"".into()];
        o.process = Process::Exited {
            status: "exit status: 1".into(),
            last_log: "gave up".into(),
        };
        state.operators = vec![o];
        let said = [
            "cert-operator: EXITED (exit status: 1): gave up",
            "cert-operator: RBAC denied: cannot list resource \"secrets\" in API group \"\"",
        ];
        assert_eq!(alarms(&state), said);
        let mut display = Display::new(false, 20);
        let first = display.alarm(&alarms(&state));
        assert_eq!(first, format!("dev: {}\ndev: {}\n", said[0], said[1]));
        assert_eq!(display.alarm(&alarms(&state)), "");
        assert_eq!(Display::new(true, 20).alarm(&alarms(&state)), "");
    }
}
