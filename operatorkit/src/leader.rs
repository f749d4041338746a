//! Leader election on a `coordination.k8s.io/v1` Lease, in the manner of
//! client-go's `leaderelection` package with a `LeaseLock`.
//!
//! This module owns one replica's campaign for one Lease: reading the Lease,
//! creating it when missing, taking it over once it has expired, renewing it
//! while leading, giving leadership up when renewals stop succeeding, and
//! releasing the Lease on shutdown so that a standby can take over at once.
//!
//! Expiry is judged on the local monotonic clock, from the moment this replica
//! last *observed a change* of the lease record, never from the remote
//! `renewTime`, so clock skew between replicas does not matter. Every write is a
//! `replace` (PUT) carrying the `resourceVersion` that was read, so of two
//! candidates racing for an expired Lease only one can win.
//!
//! Whoever reads the leadership channel must stop leader-only work as soon as
//! it reads `false`; awaiting the task's `JoinHandle` after shutdown tells that
//! the Lease has been released.

#![forbid(unsafe_code)]

use std::future::Future;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Settings of one replica's campaign.
#[derive(Clone, Debug)]
pub struct LeaderElectionConfig {
    /// Name of the Lease object.
    pub lease_name: String,
    /// Namespace of the Lease object.
    pub namespace: String,
    /// Unique per replica (e.g. pod name + random suffix).
    pub identity: String,
    /// How long a lease is valid after its last renewal (default 15s). Written
    /// to the Lease in whole seconds, rounded up.
    pub lease_duration: Duration,
    /// A leader that has not renewed for this long gives up leadership (default
    /// 10s; must be < lease_duration).
    pub renew_deadline: Duration,
    /// Pause between attempts to acquire or renew (default 2s; must be <
    /// renew_deadline).
    pub retry_period: Duration,
    /// Field manager / name used in requests (default
    /// `"operatorkit-leader-election"`).
    pub field_manager: String,
}

impl LeaderElectionConfig {
    /// A configuration with the default durations (15s / 10s / 2s) and field
    /// manager.
    pub fn new(
        lease_name: impl Into<String>,
        namespace: impl Into<String>,
        identity: impl Into<String>,
    ) -> Self {
        Self {
            lease_name: lease_name.into(),
            namespace: namespace.into(),
            identity: identity.into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
            field_manager: "operatorkit-leader-election".to_owned(),
        }
    }

    /// Checks that the names are set and that `0 < retry_period <
    /// renew_deadline < lease_duration`, with a lease of at least one second.
    pub fn validate(&self) -> Result<(), LeaderError> {
        let (lease, renew, retry) = (self.lease_duration, self.renew_deadline, self.retry_period);
        let problem = if self.lease_name.is_empty() || self.namespace.is_empty() {
            "lease_name and namespace must not be empty"
        } else if self.identity.is_empty() || self.field_manager.is_empty() {
            "identity and field_manager must not be empty"
        } else if lease < Duration::from_secs(1) {
            "lease_duration must be at least 1s"
        } else if renew >= lease {
            "renew_deadline must be shorter than lease_duration"
        } else if retry.is_zero() || retry >= renew {
            "retry_period must be positive and shorter than renew_deadline"
        } else {
            return Ok(());
        };
        Err(LeaderError::InvalidConfig(problem.to_owned()))
    }
}

/// Why leader election could not be set up or an attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// The configuration is not usable.
    #[error("invalid leader election config: {0}")]
    InvalidConfig(String),
    /// A request to the API server failed.
    #[error("lease request failed: {0}")]
    Api(#[from] kube::Error),
    /// A request to the API server took longer than allowed.
    #[error("lease request timed out after {0:?}")]
    Timeout(Duration),
}

/// One replica's campaign for a Lease; started with [`LeaderElector::spawn`].
pub struct LeaderElector {
    api: Api<Lease>,
    config: LeaderElectionConfig,
    /// The last record seen, and when it was first seen (local clock).
    observed: Option<(RecordKey, Instant)>,
    /// Start of the last successful acquire or renew.
    renewed_at: Option<Instant>,
    leading: bool,
    tx: watch::Sender<bool>,
}

/// What one attempt to acquire or renew came to.
#[derive(Debug, PartialEq)]
enum Attempt {
    /// We hold the lease now.
    Held,
    /// Another identity holds an unexpired lease.
    HeldBy(String),
    /// Another writer got in first (409); try again later.
    LostRace,
}

/// The parts of a lease record whose change restarts the expiry clock.
type RecordKey = (Option<String>, Option<MicroTime>, Option<i32>);

fn record_key(spec: &LeaseSpec) -> RecordKey {
    let s = spec.clone();
    (s.holder_identity, s.renew_time, s.lease_transitions)
}

/// `d` in whole seconds, rounded up, as `leaseDurationSeconds`.
fn lease_seconds(d: Duration) -> i32 {
    let secs = d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0));
    i32::try_from(secs).unwrap_or(i32::MAX)
}

/// Whether a lease of `duration_seconds`, whose record we last saw change at
/// `observed_at`, has expired at `now` (all on the local monotonic clock).
fn is_expired(observed_at: Instant, duration_seconds: Option<i32>, now: Instant) -> bool {
    let secs = u64::try_from(duration_seconds.unwrap_or(0)).unwrap_or(0);
    now > observed_at + Duration::from_secs(secs)
}

/// The holder that keeps us from writing the lease, if any: a non-empty
/// identity other than ours whose lease has not expired.
fn blocking_holder(spec: &LeaseSpec, me: &str, seen: Instant, now: Instant) -> Option<String> {
    let holder = spec.holder_identity.as_deref().unwrap_or_default();
    let live = !is_expired(seen, spec.lease_duration_seconds, now);
    (!holder.is_empty() && holder != me && live).then(|| holder.to_owned())
}

/// The record `identity` writes to acquire or renew a lease whose current
/// record is `old` (`None`: the lease does not exist yet).
fn acquire_spec(old: Option<&LeaseSpec>, identity: &str, secs: i32, now: Timestamp) -> LeaseSpec {
    let mut spec = old.cloned().unwrap_or_default();
    if old.is_none_or(|o| o.holder_identity.as_deref() != Some(identity)) {
        spec.acquire_time = Some(MicroTime(now));
        let transitions = old.map_or(0, |o| o.lease_transitions.unwrap_or(0).saturating_add(1));
        spec.lease_transitions = Some(transitions);
    }
    spec.holder_identity = Some(identity.to_owned());
    spec.lease_duration_seconds = Some(secs);
    spec.renew_time = Some(MicroTime(now));
    spec
}

/// The record written on release, as client-go's ReleaseOnCancel: no holder, a
/// one-second lease renewed now, transitions unchanged.
fn released_spec(old: &LeaseSpec, now: Timestamp) -> LeaseSpec {
    LeaseSpec {
        holder_identity: None,
        lease_duration_seconds: Some(1),
        renew_time: Some(MicroTime(now)),
        acquire_time: Some(MicroTime(now)),
        ..old.clone()
    }
}

fn is_conflict(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == 409)
}

impl LeaderElector {
    /// An elector for `config`, which is validated first.
    pub fn new(client: kube::Client, config: LeaderElectionConfig) -> Result<Self, LeaderError> {
        config.validate()?;
        Ok(Self {
            api: Api::namespaced(client, &config.namespace),
            config,
            observed: None,
            renewed_at: None,
            leading: false,
            tx: watch::Sender::new(false),
        })
    }

    /// Campaigns in a spawned task. The receiver says whether this replica leads
    /// right now (false at first). When `shutdown` resolves: stop campaigning;
    /// if leading, send false and release the lease (no holder, a one-second
    /// lease renewed now) so a standby can take over at once; then the task
    /// ends. If the task is aborted instead, the lease is not released and the
    /// channel keeps its last value (its sender is gone).
    pub fn spawn(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> (watch::Receiver<bool>, JoinHandle<()>) {
        (self.tx.subscribe(), tokio::spawn(self.run(shutdown)))
    }

    async fn run(mut self, shutdown: impl Future<Output = ()> + Send) {
        let mut shutdown = std::pin::pin!(shutdown);
        let (retry, deadline) = (self.config.retry_period, self.config.renew_deadline);
        let mut pause = Duration::ZERO;
        loop {
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                () = tokio::time::sleep(pause) => pause = retry,
            }
            let started = Instant::now();
            // A leader may not wait past its renew deadline for an answer.
            let budget = match self.renewed_at {
                Some(at) if self.leading => (at + deadline).saturating_duration_since(started),
                _ => deadline,
            };
            let attempt = tokio::time::timeout(budget, self.try_acquire_or_renew());
            let result = tokio::select! {
                biased;
                () = &mut shutdown => break,
                r = attempt => r.unwrap_or(Err(LeaderError::Timeout(budget))),
            };
            match result {
                Ok(Attempt::Held) => {
                    self.renewed_at = Some(started);
                    if !self.leading {
                        self.set_leading(true, "became leader");
                    }
                }
                Ok(Attempt::HeldBy(holder)) if self.leading => {
                    let lease = &self.config.lease_name;
                    tracing::warn!(lease = %lease, holder = %holder, "lease taken by another holder");
                    self.set_leading(false, "lost leadership");
                }
                Ok(Attempt::HeldBy(_) | Attempt::LostRace) => {}
                Err(err) => self.warn("leader election request failed", &err),
            }
            let stale = self.renewed_at.is_none_or(|at| at.elapsed() >= deadline);
            if self.leading && stale {
                self.set_leading(false, "lost leadership: no renewal within renew_deadline");
            }
        }
        if self.leading {
            // Stop leader-only work first, then let a standby take over.
            self.set_leading(false, "stopped leading on shutdown");
            match tokio::time::timeout(deadline, self.release()).await {
                Ok(Ok(())) => self.log("released lease"),
                Ok(Err(err)) => self.warn("releasing lease failed", &err),
                Err(_) => self.warn("releasing lease failed", &LeaderError::Timeout(deadline)),
            }
        }
    }

    fn warn(&self, what: &str, err: &LeaderError) {
        let (lease, identity) = (&self.config.lease_name, &self.config.identity);
        tracing::warn!(lease = %lease, identity = %identity, error = %err, "{what}");
    }

    fn set_leading(&mut self, leading: bool, what: &str) {
        self.leading = leading;
        self.tx.send_replace(leading);
        self.log(what);
    }

    fn log(&self, what: &str) {
        let (lease, identity) = (&self.config.lease_name, &self.config.identity);
        tracing::info!(lease = %lease, identity = %identity, "{what}");
    }

    /// Records the lease record as seen now; the expiry clock restarts only
    /// when the record differs from the last one seen.
    fn observe(&mut self, spec: &LeaseSpec) -> Instant {
        let key = record_key(spec);
        match &self.observed {
            Some((seen, at)) if *seen == key => *at,
            _ => self.observed.insert((key, Instant::now())).1,
        }
    }

    fn post_params(&self) -> PostParams {
        let field_manager = Some(self.config.field_manager.clone());
        PostParams {
            dry_run: false,
            field_manager,
        }
    }

    /// One round of client-go's tryAcquireOrRenew: read, judge, then create or
    /// replace (with the resourceVersion read).
    async fn try_acquire_or_renew(&mut self) -> Result<Attempt, LeaderError> {
        let current = self.api.get_opt(&self.config.lease_name).await?;
        let old = current.as_ref().map(|l| l.spec.clone().unwrap_or_default());
        if let Some(spec) = &old {
            let seen = self.observe(spec);
            let me = &self.config.identity;
            if let Some(holder) = blocking_holder(spec, me, seen, Instant::now()) {
                return Ok(Attempt::HeldBy(holder));
            }
        }
        let (cfg, pp) = (&self.config, self.post_params());
        let secs = lease_seconds(cfg.lease_duration);
        let spec = Some(acquire_spec(
            old.as_ref(),
            &cfg.identity,
            secs,
            Timestamp::now(),
        ));
        let written = match current {
            Some(lease) => {
                let lease = Lease { spec, ..lease };
                self.api.replace(&cfg.lease_name, &pp, &lease).await
            }
            None => {
                let metadata = ObjectMeta {
                    name: Some(cfg.lease_name.clone()),
                    namespace: Some(cfg.namespace.clone()),
                    ..ObjectMeta::default()
                };
                self.api.create(&pp, &Lease { metadata, spec }).await
            }
        };
        match written {
            Ok(lease) => {
                self.observe(&lease.spec.unwrap_or_default());
                Ok(Attempt::Held)
            }
            Err(err) if is_conflict(&err) => Ok(Attempt::LostRace),
            Err(err) => Err(err.into()),
        }
    }

    /// Releases the lease if it still names us.
    async fn release(&self) -> Result<(), LeaderError> {
        let name = &self.config.lease_name;
        let Some(lease) = self.api.get_opt(name).await? else {
            return Ok(());
        };
        let spec = lease.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() == Some(self.config.identity.as_str()) {
            let spec = Some(released_spec(&spec, Timestamp::now()));
            let lease = Lease { spec, ..lease };
            self.api.replace(name, &self.post_params(), &lease).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn cfg() -> LeaderElectionConfig {
        LeaderElectionConfig::new("lease", "ns", "me")
    }

    #[test]
    fn defaults_are_valid() {
        let c = cfg();
        assert_eq!(c.lease_duration, Duration::from_secs(15));
        assert_eq!(c.renew_deadline, Duration::from_secs(10));
        assert_eq!(c.retry_period, Duration::from_secs(2));
        assert_eq!(c.field_manager, "operatorkit-leader-election");
        c.validate().unwrap();
    }

    #[test]
    fn validation_rejects_bad_configs() {
        type Mutation = fn(&mut LeaderElectionConfig);
        let cases: [(&str, Mutation); 8] = [
            ("lease_name", |c| c.lease_name.clear()),
            ("namespace", |c| c.namespace.clear()),
            ("identity", |c| c.identity.clear()),
            ("field_manager", |c| c.field_manager.clear()),
            ("at least 1s", |c| c.lease_duration = Duration::from_secs(0)),
            ("renew_deadline", |c| c.renew_deadline = c.lease_duration),
            ("retry_period", |c| c.retry_period = Duration::ZERO),
            ("retry_period", |c| c.retry_period = c.renew_deadline),
        ];
        for (needle, mutate) in cases {
            let mut c = cfg();
            mutate(&mut c);
            match c.validate() {
                Err(LeaderError::InvalidConfig(msg)) => assert!(msg.contains(needle), "{msg}"),
                other => panic!("{needle}: expected InvalidConfig, got {other:?}"),
            }
        }
    }

    #[test]
    fn lease_seconds_round_up() {
        assert_eq!(lease_seconds(Duration::from_millis(2500)), 3);
        assert_eq!(lease_seconds(Duration::from_secs(2)), 2);
        assert_eq!(lease_seconds(Duration::from_secs(u64::MAX)), i32::MAX);
    }

    #[test]
    fn expiry_counts_from_local_observation() {
        let seen = Instant::now();
        assert!(!is_expired(seen, Some(2), seen));
        assert!(!is_expired(seen, Some(2), seen + Duration::from_secs(2)));
        assert!(is_expired(
            seen,
            Some(2),
            seen + Duration::from_millis(2001)
        ));
        assert!(is_expired(seen, None, seen + Duration::from_millis(1)));
        assert!(is_expired(seen, Some(-5), seen + Duration::from_millis(1)));
    }

    #[test]
    fn only_a_live_foreign_holder_blocks() {
        let seen = Instant::now();
        let later = seen + Duration::from_secs(16);
        let spec = |holder: Option<&str>| LeaseSpec {
            holder_identity: holder.map(str::to_owned),
            lease_duration_seconds: Some(15),
            ..LeaseSpec::default()
        };
        assert_eq!(
            blocking_holder(&spec(Some("other")), "me", seen, seen),
            Some("other".into())
        );
        assert_eq!(
            blocking_holder(&spec(Some("other")), "me", seen, later),
            None
        );
        assert_eq!(blocking_holder(&spec(Some("me")), "me", seen, seen), None);
        assert_eq!(blocking_holder(&spec(Some("")), "me", seen, seen), None);
        assert_eq!(blocking_holder(&spec(None), "me", seen, seen), None);
    }

    #[test]
    fn takeover_record() {
        let t0: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        let now: Timestamp = "2024-01-01T00:01:00Z".parse().unwrap();
        let old = LeaseSpec {
            holder_identity: Some("other".into()),
            lease_duration_seconds: Some(30),
            acquire_time: Some(MicroTime(t0)),
            renew_time: Some(MicroTime(t0)),
            lease_transitions: Some(4),
            ..LeaseSpec::default()
        };
        let new = acquire_spec(Some(&old), "me", 15, now);
        assert_eq!(new.holder_identity.as_deref(), Some("me"));
        assert_eq!(new.lease_duration_seconds, Some(15));
        assert_eq!(new.acquire_time, Some(MicroTime(now)));
        assert_eq!(new.renew_time, Some(MicroTime(now)));
        assert_eq!(new.lease_transitions, Some(5));

        // Renewing keeps acquireTime and transitions.
        let later: Timestamp = "2024-01-01T00:01:02Z".parse().unwrap();
        let renewed = acquire_spec(Some(&new), "me", 15, later);
        assert_eq!(renewed.acquire_time, Some(MicroTime(now)));
        assert_eq!(renewed.renew_time, Some(MicroTime(later)));
        assert_eq!(renewed.lease_transitions, Some(5));

        // A fresh lease starts at zero transitions.
        let created = acquire_spec(None, "me", 15, now);
        assert_eq!(created.lease_transitions, Some(0));
        assert_eq!(created.holder_identity.as_deref(), Some("me"));
    }

    #[test]
    fn release_record() {
        let t0: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        let now: Timestamp = "2024-01-01T00:01:00Z".parse().unwrap();
        let held = acquire_spec(None, "me", 15, t0);
        let released = released_spec(&held, now);
        assert_eq!(released.holder_identity, None);
        assert_eq!(released.lease_duration_seconds, Some(1));
        assert_eq!(released.renew_time, Some(MicroTime(now)));
        assert_eq!(released.lease_transitions, Some(0));
        // A released lease blocks nobody.
        let seen = Instant::now();
        assert_eq!(blocking_holder(&released, "other", seen, seen), None);
    }

    #[test]
    fn record_key_tracks_holder_renewal_and_transitions() {
        let t0: Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        let a = acquire_spec(None, "me", 15, t0);
        let mut b = a.clone();
        b.lease_duration_seconds = Some(99);
        assert_eq!(record_key(&a), record_key(&b));
        b.renew_time = Some(MicroTime(t0 + jiff::SignedDuration::from_secs(1)));
        assert_ne!(record_key(&a), record_key(&b));
    }
}
