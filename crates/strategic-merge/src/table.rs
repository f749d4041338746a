//! The patch metadata of built-in Kubernetes kinds (API version 1.33).
//!
//! Transcribed from the `patchStrategy` / `patchMergeKey` struct tags of k8s.io/api
//! (`core/v1`, `apps/v1`, `batch/v1`, `policy/v1`) and k8s.io/apimachinery (`meta/v1`
//! `ObjectMeta`).  Only tagged fields and the struct fields leading to them are listed; every
//! other field has the default strategy (see [`super::schema`]).  Lists tagged only with
//! `+listType=atomic`/`map` but no `patchStrategy` (tolerations, envFrom, Role rules,
//! RoleBinding subjects, Endpoints subsets, Ingress rules, ...) are replaced by a strategic
//! merge patch and are therefore absent here.

use super::schema::{
    FieldMeta, FieldType, PatchMeta, Strategy, merge_list, merge_list_retain_keys, merge_scalars,
    nested, nested_ptr,
};

/// Declare a struct type without tagged fields (list elements, replaced structs).
macro_rules! leaf {
    ($id:ident, $name:literal) => {
        static $id: PatchMeta = PatchMeta {
            type_name: $name,
            fields: &[],
        };
    };
}

// ---------------------------------------------------------------- meta/v1

leaf!(OWNER_REFERENCE, "OwnerReference");
leaf!(LABEL_SELECTOR, "LabelSelector");
leaf!(META_CONDITION, "Condition");

/// `metav1.ObjectMeta`: `ownerReferences` merge by `uid`, `finalizers` set-merge.
pub static OBJECT_META: PatchMeta = PatchMeta {
    type_name: "ObjectMeta",
    fields: &[
        merge_list("ownerReferences", "uid", &OWNER_REFERENCE),
        merge_scalars("finalizers", "string"),
    ],
};

/// Objects whose only tagged fields are in `metadata`.
static METADATA_ONLY: PatchMeta = PatchMeta {
    type_name: "ObjectWithMetadata",
    fields: &[nested("metadata", &OBJECT_META)],
};

// ---------------------------------------------------------------- core/v1: pod template

leaf!(CONTAINER_PORT, "ContainerPort");
leaf!(ENV_VAR, "EnvVar");
leaf!(VOLUME_MOUNT, "VolumeMount");
leaf!(VOLUME_DEVICE, "VolumeDevice");

/// The tagged fields shared by `Container` and `EphemeralContainer` (which inlines them).
const CONTAINER_FIELDS: &[FieldMeta] = &[
    merge_list("ports", "containerPort", &CONTAINER_PORT),
    merge_list("env", "name", &ENV_VAR),
    merge_list("volumeMounts", "mountPath", &VOLUME_MOUNT),
    merge_list("volumeDevices", "devicePath", &VOLUME_DEVICE),
];

/// `core/v1.Container`.
pub static CONTAINER: PatchMeta = PatchMeta {
    type_name: "Container",
    fields: CONTAINER_FIELDS,
};

static EPHEMERAL_CONTAINER: PatchMeta = PatchMeta {
    type_name: "EphemeralContainer",
    fields: CONTAINER_FIELDS,
};

static PERSISTENT_VOLUME_CLAIM_TEMPLATE: PatchMeta = PatchMeta {
    type_name: "PersistentVolumeClaimTemplate",
    fields: &[nested("metadata", &OBJECT_META)],
};

static EPHEMERAL_VOLUME_SOURCE: PatchMeta = PatchMeta {
    type_name: "EphemeralVolumeSource",
    fields: &[nested_ptr(
        "volumeClaimTemplate",
        &PERSISTENT_VOLUME_CLAIM_TEMPLATE,
    )],
};

/// `core/v1.Volume` (its inlined `VolumeSource` has no tags except through `ephemeral`).
static VOLUME: PatchMeta = PatchMeta {
    type_name: "Volume",
    fields: &[nested_ptr("ephemeral", &EPHEMERAL_VOLUME_SOURCE)],
};

leaf!(LOCAL_OBJECT_REFERENCE, "LocalObjectReference");
leaf!(HOST_ALIAS, "HostAlias");
leaf!(TOPOLOGY_SPREAD_CONSTRAINT, "TopologySpreadConstraint");
leaf!(POD_SCHEDULING_GATE, "PodSchedulingGate");
leaf!(POD_RESOURCE_CLAIM, "PodResourceClaim");

/// `core/v1.PodSpec`.
pub static POD_SPEC: PatchMeta = PatchMeta {
    type_name: "PodSpec",
    fields: &[
        merge_list_retain_keys("volumes", "name", &VOLUME),
        merge_list("initContainers", "name", &CONTAINER),
        merge_list("containers", "name", &CONTAINER),
        merge_list("ephemeralContainers", "name", &EPHEMERAL_CONTAINER),
        merge_list("imagePullSecrets", "name", &LOCAL_OBJECT_REFERENCE),
        merge_list("hostAliases", "ip", &HOST_ALIAS),
        merge_list(
            "topologySpreadConstraints",
            "topologyKey",
            &TOPOLOGY_SPREAD_CONSTRAINT,
        ),
        merge_list("schedulingGates", "name", &POD_SCHEDULING_GATE),
        merge_list_retain_keys("resourceClaims", "name", &POD_RESOURCE_CLAIM),
    ],
};

leaf!(POD_CONDITION, "PodCondition");
leaf!(HOST_IP, "HostIP");
leaf!(POD_IP, "PodIP");
leaf!(POD_RESOURCE_CLAIM_STATUS, "PodResourceClaimStatus");

static POD_STATUS: PatchMeta = PatchMeta {
    type_name: "PodStatus",
    fields: &[
        merge_list("conditions", "type", &POD_CONDITION),
        merge_list("hostIPs", "ip", &HOST_IP),
        merge_list("podIPs", "ip", &POD_IP),
        merge_list_retain_keys("resourceClaimStatuses", "name", &POD_RESOURCE_CLAIM_STATUS),
    ],
};

static POD: PatchMeta = PatchMeta {
    type_name: "Pod",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &POD_SPEC),
        nested("status", &POD_STATUS),
    ],
};

/// `core/v1.PodTemplateSpec`, shared by every workload kind.
pub static POD_TEMPLATE_SPEC: PatchMeta = PatchMeta {
    type_name: "PodTemplateSpec",
    fields: &[nested("metadata", &OBJECT_META), nested("spec", &POD_SPEC)],
};

static POD_TEMPLATE: PatchMeta = PatchMeta {
    type_name: "PodTemplate",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("template", &POD_TEMPLATE_SPEC),
    ],
};

leaf!(
    REPLICATION_CONTROLLER_CONDITION,
    "ReplicationControllerCondition"
);

static REPLICATION_CONTROLLER_SPEC: PatchMeta = PatchMeta {
    type_name: "ReplicationControllerSpec",
    fields: &[nested_ptr("template", &POD_TEMPLATE_SPEC)],
};

static REPLICATION_CONTROLLER_STATUS: PatchMeta = PatchMeta {
    type_name: "ReplicationControllerStatus",
    fields: &[merge_list(
        "conditions",
        "type",
        &REPLICATION_CONTROLLER_CONDITION,
    )],
};

static REPLICATION_CONTROLLER: PatchMeta = PatchMeta {
    type_name: "ReplicationController",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &REPLICATION_CONTROLLER_SPEC),
        nested("status", &REPLICATION_CONTROLLER_STATUS),
    ],
};

// ---------------------------------------------------------------- core/v1: other kinds

leaf!(SERVICE_PORT, "ServicePort");

/// `core/v1.ServiceSpec`: `ports` merge by `port` alone (not `port`+`protocol`), so a TCP
/// and a UDP port with the same number collide.
static SERVICE_SPEC: PatchMeta = PatchMeta {
    type_name: "ServiceSpec",
    fields: &[merge_list("ports", "port", &SERVICE_PORT)],
};

static SERVICE_STATUS: PatchMeta = PatchMeta {
    type_name: "ServiceStatus",
    fields: &[merge_list("conditions", "type", &META_CONDITION)],
};

static SERVICE: PatchMeta = PatchMeta {
    type_name: "Service",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &SERVICE_SPEC),
        nested("status", &SERVICE_STATUS),
    ],
};

leaf!(NODE_CONDITION, "NodeCondition");
leaf!(NODE_ADDRESS, "NodeAddress");

static NODE_SPEC: PatchMeta = PatchMeta {
    type_name: "NodeSpec",
    fields: &[merge_scalars("podCIDRs", "string")],
};

static NODE_STATUS: PatchMeta = PatchMeta {
    type_name: "NodeStatus",
    fields: &[
        merge_list("conditions", "type", &NODE_CONDITION),
        merge_list("addresses", "type", &NODE_ADDRESS),
    ],
};

static NODE: PatchMeta = PatchMeta {
    type_name: "Node",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &NODE_SPEC),
        nested("status", &NODE_STATUS),
    ],
};

leaf!(NAMESPACE_CONDITION, "NamespaceCondition");

static NAMESPACE_STATUS: PatchMeta = PatchMeta {
    type_name: "NamespaceStatus",
    fields: &[merge_list("conditions", "type", &NAMESPACE_CONDITION)],
};

static NAMESPACE: PatchMeta = PatchMeta {
    type_name: "Namespace",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("status", &NAMESPACE_STATUS),
    ],
};

leaf!(OBJECT_REFERENCE, "ObjectReference");

/// `core/v1.ServiceAccount`: `secrets` merge by `name`; `imagePullSecrets` is atomic.
static SERVICE_ACCOUNT: PatchMeta = PatchMeta {
    type_name: "ServiceAccount",
    fields: &[
        nested("metadata", &OBJECT_META),
        merge_list("secrets", "name", &OBJECT_REFERENCE),
    ],
};

leaf!(
    PERSISTENT_VOLUME_CLAIM_CONDITION,
    "PersistentVolumeClaimCondition"
);

static PERSISTENT_VOLUME_CLAIM_STATUS: PatchMeta = PatchMeta {
    type_name: "PersistentVolumeClaimStatus",
    fields: &[merge_list(
        "conditions",
        "type",
        &PERSISTENT_VOLUME_CLAIM_CONDITION,
    )],
};

static PERSISTENT_VOLUME_CLAIM: PatchMeta = PatchMeta {
    type_name: "PersistentVolumeClaim",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("status", &PERSISTENT_VOLUME_CLAIM_STATUS),
    ],
};

leaf!(COMPONENT_CONDITION, "ComponentCondition");

static COMPONENT_STATUS: PatchMeta = PatchMeta {
    type_name: "ComponentStatus",
    fields: &[
        nested("metadata", &OBJECT_META),
        merge_list("conditions", "type", &COMPONENT_CONDITION),
    ],
};

// ---------------------------------------------------------------- apps/v1

leaf!(DEPLOYMENT_STRATEGY, "DeploymentStrategy");
leaf!(DEPLOYMENT_CONDITION, "DeploymentCondition");

static DEPLOYMENT_SPEC: PatchMeta = PatchMeta {
    type_name: "DeploymentSpec",
    fields: &[
        nested("template", &POD_TEMPLATE_SPEC),
        // `patchStrategy:"retainKeys"` on a plain struct.
        FieldMeta {
            name: "strategy",
            strategy: Strategy::Default,
            retain_keys: true,
            merge_key: None,
            ty: FieldType::Struct(&DEPLOYMENT_STRATEGY),
        },
    ],
};

static DEPLOYMENT_STATUS: PatchMeta = PatchMeta {
    type_name: "DeploymentStatus",
    fields: &[merge_list("conditions", "type", &DEPLOYMENT_CONDITION)],
};

static DEPLOYMENT: PatchMeta = PatchMeta {
    type_name: "Deployment",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &DEPLOYMENT_SPEC),
        nested("status", &DEPLOYMENT_STATUS),
    ],
};

leaf!(DAEMON_SET_CONDITION, "DaemonSetCondition");

static DAEMON_SET_SPEC: PatchMeta = PatchMeta {
    type_name: "DaemonSetSpec",
    fields: &[nested("template", &POD_TEMPLATE_SPEC)],
};

static DAEMON_SET_STATUS: PatchMeta = PatchMeta {
    type_name: "DaemonSetStatus",
    fields: &[merge_list("conditions", "type", &DAEMON_SET_CONDITION)],
};

static DAEMON_SET: PatchMeta = PatchMeta {
    type_name: "DaemonSet",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &DAEMON_SET_SPEC),
        nested("status", &DAEMON_SET_STATUS),
    ],
};

leaf!(STATEFUL_SET_CONDITION, "StatefulSetCondition");

/// `apps/v1.StatefulSetSpec`; `volumeClaimTemplates` is atomic.
static STATEFUL_SET_SPEC: PatchMeta = PatchMeta {
    type_name: "StatefulSetSpec",
    fields: &[nested("template", &POD_TEMPLATE_SPEC)],
};

static STATEFUL_SET_STATUS: PatchMeta = PatchMeta {
    type_name: "StatefulSetStatus",
    fields: &[merge_list("conditions", "type", &STATEFUL_SET_CONDITION)],
};

static STATEFUL_SET: PatchMeta = PatchMeta {
    type_name: "StatefulSet",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &STATEFUL_SET_SPEC),
        nested("status", &STATEFUL_SET_STATUS),
    ],
};

leaf!(REPLICA_SET_CONDITION, "ReplicaSetCondition");

static REPLICA_SET_SPEC: PatchMeta = PatchMeta {
    type_name: "ReplicaSetSpec",
    fields: &[nested("template", &POD_TEMPLATE_SPEC)],
};

static REPLICA_SET_STATUS: PatchMeta = PatchMeta {
    type_name: "ReplicaSetStatus",
    fields: &[merge_list("conditions", "type", &REPLICA_SET_CONDITION)],
};

static REPLICA_SET: PatchMeta = PatchMeta {
    type_name: "ReplicaSet",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &REPLICA_SET_SPEC),
        nested("status", &REPLICA_SET_STATUS),
    ],
};

// ---------------------------------------------------------------- batch/v1

leaf!(JOB_CONDITION, "JobCondition");

static JOB_SPEC: PatchMeta = PatchMeta {
    type_name: "JobSpec",
    fields: &[nested("template", &POD_TEMPLATE_SPEC)],
};

static JOB_STATUS: PatchMeta = PatchMeta {
    type_name: "JobStatus",
    fields: &[merge_list("conditions", "type", &JOB_CONDITION)],
};

static JOB: PatchMeta = PatchMeta {
    type_name: "Job",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &JOB_SPEC),
        nested("status", &JOB_STATUS),
    ],
};

static JOB_TEMPLATE_SPEC: PatchMeta = PatchMeta {
    type_name: "JobTemplateSpec",
    fields: &[nested("metadata", &OBJECT_META), nested("spec", &JOB_SPEC)],
};

static CRON_JOB_SPEC: PatchMeta = PatchMeta {
    type_name: "CronJobSpec",
    fields: &[nested("jobTemplate", &JOB_TEMPLATE_SPEC)],
};

static CRON_JOB: PatchMeta = PatchMeta {
    type_name: "CronJob",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &CRON_JOB_SPEC),
    ],
};

// ---------------------------------------------------------------- policy/v1

static POD_DISRUPTION_BUDGET_SPEC: PatchMeta = PatchMeta {
    type_name: "PodDisruptionBudgetSpec",
    fields: &[
        // `patchStrategy:"replace"`: a patched selector replaces the stored one wholesale.
        FieldMeta {
            name: "selector",
            strategy: Strategy::Replace,
            retain_keys: false,
            merge_key: None,
            ty: FieldType::PtrStruct(&LABEL_SELECTOR),
        },
    ],
};

static POD_DISRUPTION_BUDGET_STATUS: PatchMeta = PatchMeta {
    type_name: "PodDisruptionBudgetStatus",
    fields: &[merge_list("conditions", "type", &META_CONDITION)],
};

static POD_DISRUPTION_BUDGET: PatchMeta = PatchMeta {
    type_name: "PodDisruptionBudget",
    fields: &[
        nested("metadata", &OBJECT_META),
        nested("spec", &POD_DISRUPTION_BUDGET_SPEC),
        nested("status", &POD_DISRUPTION_BUDGET_STATUS),
    ],
};

// ---------------------------------------------------------------- registry

/// `(group, kind, metadata)` for every kind in the table; the core group is `""`.
pub static KINDS: &[(&str, &str, &PatchMeta)] = &[
    ("", "Pod", &POD),
    ("", "PodTemplate", &POD_TEMPLATE),
    ("", "ReplicationController", &REPLICATION_CONTROLLER),
    ("", "Service", &SERVICE),
    ("", "Node", &NODE),
    ("", "Namespace", &NAMESPACE),
    ("", "ConfigMap", &METADATA_ONLY),
    ("", "Secret", &METADATA_ONLY),
    ("", "ServiceAccount", &SERVICE_ACCOUNT),
    ("", "Endpoints", &METADATA_ONLY),
    ("", "PersistentVolumeClaim", &PERSISTENT_VOLUME_CLAIM),
    ("", "PersistentVolume", &METADATA_ONLY),
    ("", "Event", &METADATA_ONLY),
    ("", "LimitRange", &METADATA_ONLY),
    ("", "ResourceQuota", &METADATA_ONLY),
    ("", "ComponentStatus", &COMPONENT_STATUS),
    ("apps", "Deployment", &DEPLOYMENT),
    ("apps", "DaemonSet", &DAEMON_SET),
    ("apps", "StatefulSet", &STATEFUL_SET),
    ("apps", "ReplicaSet", &REPLICA_SET),
    ("batch", "Job", &JOB),
    ("batch", "CronJob", &CRON_JOB),
    ("policy", "PodDisruptionBudget", &POD_DISRUPTION_BUDGET),
    ("networking.k8s.io", "Ingress", &METADATA_ONLY),
    ("rbac.authorization.k8s.io", "Role", &METADATA_ONLY),
    ("rbac.authorization.k8s.io", "ClusterRole", &METADATA_ONLY),
    ("rbac.authorization.k8s.io", "RoleBinding", &METADATA_ONLY),
    (
        "rbac.authorization.k8s.io",
        "ClusterRoleBinding",
        &METADATA_ONLY,
    ),
    ("coordination.k8s.io", "Lease", &METADATA_ONLY),
    ("events.k8s.io", "Event", &METADATA_ONLY),
];
