//! The labels, annotations and taints of the simulation: KWOK's conventions
//! for fake nodes (so a test written against the simulation also runs where
//! KWOK runs), and the annotations tests use to steer pods and nodes.

/// Annotation KWOK manages fake nodes by (`kwok.x-k8s.io/node: fake`).
pub const KWOK_NODE: &str = "kwok.x-k8s.io/node";
/// Its value on a fake node, and the value of [`KWOK_NODE`]'s taint.
pub const KWOK_NODE_FAKE: &str = "fake";
/// Label every fake node carries (`type: kwok`), for node selectors.
pub const NODE_TYPE: &str = "type";
/// [`NODE_TYPE`]'s value on a fake node.
pub const NODE_TYPE_KWOK: &str = "kwok";

/// Namespace of the nodes' heartbeat Leases.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// The Ready condition of a node that stopped reporting, as the node
/// lifecycle controller sets it, and the taints it adds.
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
/// Taint of a node whose Ready condition is False.
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";

/// Annotation on a fake node: `"true"` takes it NotReady (its kubelet stops
/// reporting; its pods lose readiness), removing it brings it back.
pub const NODE_NOT_READY: &str = "simulation.operatorkit.dev/not-ready";

/// Annotation on a pod: how its containers fail.
/// - `crash`: they exit with code 1 again and again (CrashLoopBackOff under
///   `restartPolicy: Always`, the pod `Failed` under `Never`);
/// - `error`: they exit with code 1 once (the pod `Failed` unless restarted);
/// - `never-ready`: they run but never pass readiness.
pub const POD_FAIL: &str = "simulation.operatorkit.dev/fail";

/// Annotation on a pod: seconds its containers take to start (default: the
/// simulation's start delay).
pub const POD_START_SECONDS: &str = "simulation.operatorkit.dev/start-seconds";

/// Annotation on a pod: seconds its containers run before they complete
/// (`restartPolicy` `Never` or `OnFailure` only; default: complete at once).
pub const POD_RUN_SECONDS: &str = "simulation.operatorkit.dev/run-seconds";

/// Annotation on a pod: seconds its containers take to stop after a
/// graceful deletion (capped by the grace period; default: the simulation's
/// stop delay).
pub const POD_STOP_SECONDS: &str = "simulation.operatorkit.dev/stop-seconds";

/// Kubernetes' `Ready` condition type of pods and nodes (the one the kubelet
/// and the node lifecycle controller set), spelled once here.
pub const READY: &str = operatorkit_apiserver::READY;

/// Field manager of the simulated kubelet (as the real one's user agent).
pub const KUBELET: &str = "kubelet";
/// Field manager of the simulated scheduler.
pub const SCHEDULER: &str = "kube-scheduler";
/// Field manager of what the simulation does as kube-proxy (publishing a
/// guest API's loopback address).
pub const KUBE_PROXY: &str = "kube-proxy";
/// Field manager of the workload controllers.
pub const CONTROLLER_MANAGER: &str = "kube-controller-manager";

/// Label kube's ReplicaSets and their pods carry: the template's hash.
pub const POD_TEMPLATE_HASH: &str = "pod-template-hash";
/// Annotation of a Deployment and its ReplicaSets: the rollout's revision.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
/// Annotation of a ReplicaSet: the Deployment's desired replicas.
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
/// Annotation of a ReplicaSet: desired replicas plus max surge.
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
/// Label of a DaemonSet's and StatefulSet's pods: their revision's hash.
pub const CONTROLLER_REVISION_HASH: &str = "controller-revision-hash";

/// The VM image's contract, as the simulation plays it for guest clusters
/// ([`crate::Options::guest_clusters`]): a pod whose first container has
/// this environment variable is a guest VM; it names where a Secret volume
/// with the VM's boot files is mounted.
pub const GUEST_BOOT_DIR_ENV: &str = "BOOT_DIR";
/// The boot file of a guest VM: JSON with `cluster.id`, `node.name` and
/// `node.role` (`master` or `worker`).
pub const GUEST_BOOT_CONFIG: &str = "node.json";
/// The boot files a master serves the guest API with: the cluster CA
/// (trusted for client certificates) and the API certificate and key.
pub const GUEST_CA: &str = "ca.crt";
/// See [`GUEST_CA`].
pub const GUEST_API_CERT: &str = "api.crt";
/// See [`GUEST_CA`].
pub const GUEST_API_KEY: &str = "api.key";
/// The name of the Service port that reaches a guest's API.
pub const GUEST_API_PORT: &str = "api";
/// Annotation the simulation writes on the Service that selects a guest's
/// masters and has an [`GUEST_API_PORT`] port: the loopback address
/// (`127.0.0.1:<port>`) its API answers on, as kube-proxy would route it.
pub const GUEST_API_ADDRESS: &str = "simulation.operatorkit.dev/guest-api-address";
