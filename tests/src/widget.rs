//! A test kind (`Widget`) and steps that record what the framework made
//! them do, for the tests of operatorkit itself.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::ObjectMeta;
use kube::{CustomResource, ResourceExt};
use operatorkit::keys::OperatorName;
use operatorkit::{Context, Operator, Outcome, Step, StepError, async_trait};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A widget of some size.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[kube(
    group = "test.operatorkit.dev",
    version = "v1",
    kind = "Widget",
    namespaced
)]
#[kube(status = "WidgetStatus")]
pub struct WidgetSpec {
    /// Any number.
    pub size: i32,
}

/// Written by the operator under test.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WidgetStatus {
    /// Conditions.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Generation described.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}
operatorkit::operator_status!(WidgetStatus);

impl Widget {
    /// The condition of `type_`, if set.
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.status
            .as_ref()
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == type_))
    }

    /// Whether Ready is True.
    pub fn is_ready(&self) -> bool {
        self.condition("Ready").is_some_and(|c| c.status == "True")
    }
}

/// Which method ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `ensure_created`.
    Create,
    /// `ensure_deleted`.
    Delete,
}

/// One call of a recording step.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Which operator replica / version ran it.
    pub replica: String,
    /// The step.
    pub resource: String,
    /// The method.
    pub op: Op,
    /// The object's name.
    pub object: String,
    /// Whether the object carried a finalizer at the time.
    pub had_finalizer: bool,
    /// When.
    pub at: Instant,
}

/// Every call of the recording steps of a test.
#[derive(Default)]
pub struct Journal(Mutex<Vec<Entry>>);

impl Journal {
    /// The calls so far.
    pub fn entries(&self) -> Vec<Entry> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The calls for `object` so far.
    pub fn of(&self, object: &str) -> Vec<Entry> {
        self.entries()
            .into_iter()
            .filter(|e| e.object == object)
            .collect()
    }

    fn push(&self, e: Entry) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(e);
    }
}

/// What a recording step does when called.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// Return this outcome.
    Return(Outcome),
    /// Fail with this message (a transient error).
    Fail(String),
    /// Fail with this message as a permanent error.
    FailPermanently(String),
    /// Panic.
    Panic,
}

/// The switch of a recording step, changeable while the operator runs.
#[derive(Clone)]
pub struct Switch(Arc<Mutex<(Behaviour, Option<String>)>>);

impl Switch {
    /// Behaves like `b` for every object.
    pub fn set(&self, b: Behaviour) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = (b, None);
    }

    /// Behaves like `b` for `object` only, and continues for the others.
    pub fn set_for(&self, object: &str, b: Behaviour) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = (b, Some(object.to_owned()));
    }

    fn get(&self, object: &str) -> Behaviour {
        let g = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match &g.1 {
            Some(only) if only != object => Behaviour::Return(Outcome::Done),
            _ => g.0.clone(),
        }
    }
}

impl Default for Switch {
    fn default() -> Self {
        Self(Arc::new(Mutex::new((
            Behaviour::Return(Outcome::Done),
            None,
        ))))
    }
}

/// A step that records its calls and behaves as its switches say.
pub struct Recording {
    name: String,
    replica: String,
    finalizer: String,
    journal: Arc<Journal>,
    /// Behaviour of `ensure_created`.
    pub on_create: Switch,
    /// Behaviour of `ensure_deleted`.
    pub on_delete: Switch,
}

impl Recording {
    /// A step `name` of operator `operator`, run by `replica`.
    pub fn new(name: &str, operator: &OperatorName, replica: &str, journal: &Arc<Journal>) -> Self {
        Self {
            name: name.to_owned(),
            replica: replica.to_owned(),
            finalizer: operator.finalizer(),
            journal: journal.clone(),
            on_create: Switch::default(),
            on_delete: Switch::default(),
        }
    }

    fn call(&self, cx: &Context<Widget>, op: Op) -> Result<Outcome, StepError> {
        let object = cx.object();
        self.journal.push(Entry {
            replica: self.replica.clone(),
            resource: self.name.clone(),
            op,
            object: object.name_any(),
            had_finalizer: object.finalizers().contains(&self.finalizer),
            at: Instant::now(),
        });
        let switch = match op {
            Op::Create => &self.on_create,
            Op::Delete => &self.on_delete,
        };
        match switch.get(&object.name_any()) {
            Behaviour::Return(o) => Ok(o),
            Behaviour::Fail(m) => Err(StepError::transient(m)),
            Behaviour::FailPermanently(m) => Err(StepError::permanent(m)),
            Behaviour::Panic => panic!("resource {} was told to panic", self.name),
        }
    }
}

#[async_trait]
impl Step<Widget> for Recording {
    fn name(&self) -> &str {
        &self.name
    }
    async fn ensure_created(&self, cx: &Context<Widget>) -> Result<Outcome, StepError> {
        self.call(cx, Op::Create)
    }
    async fn ensure_deleted(&self, cx: &Context<Widget>) -> Result<Outcome, StepError> {
        self.call(cx, Op::Delete)
    }
}

/// Operator name used by the tests.
pub const OPERATOR: OperatorName = OperatorName::from_static("widget-operator");

/// The ConfigMap every widget gets: `<name>-size` with its size.
pub fn configmap(cx: &Context<Widget>) -> Result<Vec<ConfigMap>, StepError> {
    Ok(vec![ConfigMap {
        metadata: ObjectMeta {
            name: Some(format!("{}-size", cx.name())),
            ..Default::default()
        },
        data: Some([("size".to_owned(), cx.object().spec.size.to_string())].into()),
        ..Default::default()
    }])
}

/// The widget operator at `version`: recording steps `first` and
/// `second`, then the ConfigMap; quick backoff and the given resync.
pub fn operator(
    version: &str,
    replica: &str,
    journal: &Arc<Journal>,
    resync: Duration,
) -> (Operator<Widget>, Switch, Switch, Switch) {
    let first = Recording::new("first", &OPERATOR, replica, journal);
    let second = Recording::new("second", &OPERATOR, replica, journal);
    let (fc, sc, fd) = (
        first.on_create.clone(),
        second.on_create.clone(),
        first.on_delete.clone(),
    );
    let op = Operator::new(OPERATOR, version)
        .step(first)
        .step(second)
        .children("configmap", configmap)
        .resync(resync)
        .backoff(operatorkit::backoff::BackoffConfig {
            initial: Duration::from_millis(200),
            max: Duration::from_secs(10),
            factor: 2.0,
            jitter: 0.0,
        });
    (op, fc, sc, fd)
}

/// A widget named `name` labelled for `version` of the test operator.
pub fn widget(name: &str, version: &str, size: i32) -> Widget {
    let mut w = Widget::new(name, WidgetSpec { size });
    w.metadata.labels = Some([(OPERATOR.version_label(), version.to_owned())].into());
    w
}

/// How long tests wait for the operator to converge.
pub const WAIT: Duration = Duration::from_secs(30);

/// A test environment with the Widget CRD installed.
pub async fn env() -> operatorkit::testing::TestEnv {
    let env = operatorkit::testing::TestEnv::start()
        .await
        .unwrap_or_else(|e| panic!("starting the test environment: {e}"));
    env.install_crds([<Widget as kube::CustomResourceExt>::crd()])
        .await
        .unwrap_or_else(|e| panic!("installing the Widget CRD: {e}"));
    env
}

/// Whether the widget exists and is Ready.
pub fn ready(w: Option<&Widget>) -> bool {
    w.is_some_and(Widget::is_ready)
}

/// Creates a widget of size `size` labelled for version "1" under a fresh
/// name of `env`; returns the widget API and the name.
pub async fn create(env: &operatorkit::testing::TestEnv, size: i32) -> (kube::Api<Widget>, String) {
    let api: kube::Api<Widget> = env.api();
    let name = env.name("w");
    api.create(&kube::api::PostParams::default(), &widget(&name, "1", size))
        .await
        .unwrap_or_else(|e| panic!("creating widget {name}: {e}"));
    (api, name)
}

/// Waits until widget `name` is Ready, and returns it.
pub async fn wait_ready(api: &kube::Api<Widget>, name: &str) -> Widget {
    operatorkit::testing::wait_for(api, name, WAIT, ready)
        .await
        .unwrap_or_else(|e| panic!("widget {name} never Ready: {e}"))
        .unwrap_or_else(|| panic!("widget {name} is gone"))
}

/// The sum of the samples of metric `name` whose labels include all of
/// `labels` (e.g. `result="panic"`), in the operator's metrics.
pub fn metric(run: &operatorkit::testing::OperatorRun, name: &str, labels: &[&str]) -> f64 {
    let text = run
        .metrics()
        .encode()
        .unwrap_or_else(|e| panic!("encoding metrics: {e}"));
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| labels.iter().all(|f| l.contains(f)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits until `run` has no loop in flight and the journal of `name` has not
/// grown for 300 ms: the object is idle for that operator (the loops that
/// follow its first one, triggered by its own finalizer and children, are
/// over). Panics after [`WAIT`].
pub async fn wait_idle(journal: &Journal, name: &str, run: &operatorkit::testing::OperatorRun) {
    let deadline = Instant::now() + WAIT;
    let mut seen = journal.of(name).len();
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = journal.of(name).len();
        let busy = metric(run, "operatorkit_active_reconciles", &[]) > 0.0;
        if now == seen && !busy {
            return;
        }
        assert!(Instant::now() < deadline, "{name} never became idle");
        seen = now;
    }
}
