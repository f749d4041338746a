//! Claims: which cluster holds which VNI, network and bridge name, kept in
//! etcd under `--claims-prefix` so that every replica and every version of
//! the operator sees the same ones.
//!
//! ```text
//!   <claims>/vni/<vni>              {"clusterID":"abc12","flannelConfig":"ns/name"}
//!   <claims>/network/<addr>-<len>   the same holder
//!   <claims>/bridge/<name>          the same holder
//! ```
//!
//! **The rule.** A network is served only while its FlannelConfig holds all
//! three claims. A VNI or bridge name is taken when its key is absent; a
//! network when no key under `<claims>/network/` overlaps it. The claim is
//! one etcd transaction: it creates the missing keys only if they are still
//! absent, and only if no network claim changed since the read it decided
//! on (a compare on the mod revision of the whole `network/` range), so two
//! replicas or versions racing for overlapping networks cannot both win:
//! the loser's transaction fails, it reads again and sees the winner.
//! Claims this FlannelConfig holds but no longer needs (its VNI changed)
//! are released in the same transaction.

use std::fmt;

use etcd_client::{Compare, CompareOp, DeleteOptions, KeyValue, Txn, TxnOp, TxnOpResponse};
use serde::{Deserialize, Serialize};

use crate::etcd::{Etcd, EtcdError};
use crate::network::{Ipv4Net, Network};

/// Who holds a claim.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// The guest cluster.
    #[serde(rename = "clusterID")]
    pub cluster: String,
    /// `<namespace>/<name>` of its FlannelConfig.
    #[serde(rename = "flannelConfig")]
    pub config: String,
}

impl Holder {
    /// The claim value: compact JSON, the same bytes for the same holder
    /// (transactions compare them).
    pub fn value(&self) -> String {
        serde_json::json!({"clusterID": self.cluster, "flannelConfig": self.config}).to_string()
    }

    fn parse(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "guest cluster {} (FlannelConfig {})",
            self.cluster, self.config
        )
    }
}

/// The claim keys under a prefix.
#[derive(Clone, Debug)]
pub struct ClaimKeys {
    prefix: String,
}

impl ClaimKeys {
    /// Keys under `prefix` (`--claims-prefix`).
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.trim_end_matches('/').to_owned(),
        }
    }

    /// Every claim.
    pub fn all(&self) -> String {
        format!("{}/", self.prefix)
    }

    /// Every network claim.
    pub fn networks(&self) -> String {
        format!("{}/network/", self.prefix)
    }

    /// The claim of a VNI.
    pub fn vni(&self, vni: u32) -> String {
        format!("{}/vni/{vni}", self.prefix)
    }

    /// The claim of a network (`/` of the CIDR written as `-`).
    pub fn network(&self, net: Ipv4Net) -> String {
        format!("{}{}", self.networks(), net.to_string().replace('/', "-"))
    }

    /// The claim of a bridge name.
    pub fn bridge(&self, name: &str) -> String {
        format!("{}/bridge/{name}", self.prefix)
    }

    /// The three claims `network` needs: VNI, network, bridge.
    pub fn wanted(&self, network: &Network) -> [String; 3] {
        [
            self.vni(network.vni),
            self.network(network.network),
            self.bridge(&network.bridge()),
        ]
    }

    /// The network a network claim key names.
    fn network_of(&self, key: &str) -> Option<Ipv4Net> {
        let rest = key.strip_prefix(&self.networks())?;
        Ipv4Net::parse(&rest.replacen('-', "/", 1)).ok()
    }

    /// What a claim key claims, for messages.
    fn describe(&self, key: &str) -> String {
        let rest = key.strip_prefix(&self.all()).unwrap_or(key);
        match rest.split_once('/') {
            Some(("vni", v)) => format!("VNI {v}"),
            Some(("network", n)) => format!("network {}", n.replacen('-', "/", 1)),
            Some(("bridge", b)) => format!("bridge {b}"),
            _ => key.to_owned(),
        }
    }
}

/// A claim another FlannelConfig holds that this one needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// What this one asked for (`VNI 7`, `network 10.1.0.0/16`, `bridge br-x`).
    pub wanted: String,
    /// What the other holds, when it is not the same thing (an overlapping network).
    pub held: Option<String>,
    /// Who holds it.
    pub holder: Holder,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.held {
            Some(held) => write!(f, "{} overlaps {held} of {}", self.wanted, self.holder),
            None => write!(f, "{} is held by {}", self.wanted, self.holder),
        }
    }
}

/// What claiming needs, worked out from every current claim.
#[derive(Debug, PartialEq, Eq)]
pub enum ClaimPlan {
    /// All three claims are this holder's, and it holds nothing else.
    Held,
    /// Others hold what this one needs: nothing may be written.
    Conflicts(Vec<Conflict>),
    /// Free to claim: create these keys, release these stale ones.
    Claim {
        /// Wanted claims nobody holds yet.
        create: Vec<String>,
        /// Wanted claims this holder already has.
        keep: Vec<String>,
        /// Claims this holder has but no longer wants.
        stale: Vec<String>,
    },
}

/// The plan for `holder` to hold the claims of `network`, given every
/// claim there is (`current`, key and value). Pure.
pub fn plan(
    keys: &ClaimKeys,
    holder: &Holder,
    network: &Network,
    current: &[(String, Vec<u8>)],
) -> ClaimPlan {
    let wanted = keys.wanted(network);
    let holder_of = |value: &[u8]| Holder::parse(value);
    let mut conflicts = Vec::new();
    let (mut create, mut keep, mut stale) = (Vec::new(), Vec::new(), Vec::new());
    for key in &wanted {
        match current.iter().find(|(k, _)| k == key) {
            None => create.push(key.clone()),
            Some((_, v)) => match holder_of(v) {
                Some(h) if &h == holder => keep.push(key.clone()),
                other => conflicts.push(Conflict {
                    wanted: keys.describe(key),
                    held: None,
                    holder: other.unwrap_or_else(|| unreadable(v)),
                }),
            },
        }
    }
    for (key, value) in current {
        let mine = holder_of(value).as_ref() == Some(holder);
        if mine && !wanted.contains(key) {
            stale.push(key.clone());
        } else if !mine
            && !wanted.contains(key)
            && let Some(theirs) = keys.network_of(key).filter(|n| n.overlaps(network.network))
        {
            conflicts.push(Conflict {
                wanted: keys.describe(&wanted[1]),
                held: Some(theirs.to_string()),
                holder: holder_of(value).unwrap_or_else(|| unreadable(value)),
            });
        }
    }
    if !conflicts.is_empty() {
        ClaimPlan::Conflicts(conflicts)
    } else if create.is_empty() && stale.is_empty() {
        ClaimPlan::Held
    } else {
        ClaimPlan::Claim {
            create,
            keep,
            stale,
        }
    }
}

/// A claim value that is not a holder (written by hand): held by "someone".
fn unreadable(value: &[u8]) -> Holder {
    Holder {
        cluster: "(unknown)".into(),
        config: format!("(claim value {:?})", String::from_utf8_lossy(value)),
    }
}

/// The transaction that carries out a [`ClaimPlan::Claim`] read at
/// `revision`: it succeeds only if nothing it decided on changed.
fn claim_txn(
    keys: &ClaimKeys,
    holder: &Holder,
    revision: i64,
    create: &[String],
    keep: &[String],
    stale: &[String],
) -> Txn {
    let value = holder.value();
    let mut compares =
        vec![Compare::mod_revision(keys.networks(), CompareOp::Less, revision + 1).with_prefix()];
    compares.extend(
        create
            .iter()
            .map(|k| Compare::create_revision(k.as_str(), CompareOp::Equal, 0)),
    );
    compares.extend(
        keep.iter()
            .chain(stale)
            .map(|k| Compare::value(k.as_str(), CompareOp::Equal, value.as_str())),
    );
    let mut ops: Vec<TxnOp> = create
        .iter()
        .map(|k| TxnOp::put(k.as_str(), value.as_str(), None))
        .collect();
    ops.extend(stale.iter().map(|k| TxnOp::delete(k.as_str(), None)));
    Txn::new().when(compares).and_then(ops)
}

/// How often claiming reads again after losing a race before it gives up
/// for this loop (the object is retried with backoff).
const ATTEMPTS: usize = 5;

/// Claiming or releasing lost the race [`ATTEMPTS`] times in a row: an
/// error like an outage (the object is retried with backoff).
fn kept_changing(keys: &ClaimKeys) -> EtcdError {
    EtcdError::Unavailable(format!(
        "the claims under {} kept changing during {ATTEMPTS} attempts",
        keys.all()
    ))
}

/// The outcome of [`claim`].
#[derive(Debug, PartialEq, Eq)]
pub enum Claimed {
    /// The holder holds every claim of the network.
    Held,
    /// Others hold what it needs; nothing was written.
    Conflicts(Vec<Conflict>),
}

/// Makes `holder` hold the claims of `network`, unless others hold them.
pub async fn claim(
    etcd: &Etcd,
    keys: &ClaimKeys,
    holder: &Holder,
    network: &Network,
) -> Result<Claimed, EtcdError> {
    for _ in 0..ATTEMPTS {
        let (kvs, revision) = etcd.range(&keys.all()).await?;
        match plan(keys, holder, network, &pairs(kvs)) {
            ClaimPlan::Held => return Ok(Claimed::Held),
            ClaimPlan::Conflicts(c) => return Ok(Claimed::Conflicts(c)),
            ClaimPlan::Claim {
                create,
                keep,
                stale,
            } => {
                let txn = claim_txn(keys, holder, revision, &create, &keep, &stale);
                if etcd.txn(txn).await?.succeeded() {
                    tracing::info!(cluster = %holder.cluster, flannelconfig = %holder.config, claimed = ?create, released = ?stale, "claimed");
                    return Ok(Claimed::Held);
                }
            }
        }
    }
    Err(kept_changing(keys))
}

/// Releases every claim `holder` has, and deletes `also` (the config key,
/// the subnet leases prefix) in the same transaction, if the cluster's
/// bridge claim is `holder`'s or nobody's (a duplicate FlannelConfig of a
/// cluster never touches the cluster's keys). Returns the claims released.
pub async fn release(
    etcd: &Etcd,
    keys: &ClaimKeys,
    holder: &Holder,
    bridge: &str,
    config_key: &str,
    subnets_prefix: &str,
) -> Result<Vec<String>, EtcdError> {
    let value = holder.value();
    let bridge_key = keys.bridge(bridge);
    for _ in 0..ATTEMPTS {
        let (kvs, _) = etcd.range(&keys.all()).await?;
        let current = pairs(kvs);
        let mine: Vec<String> = current
            .iter()
            .filter(|(_, v)| Holder::parse(v).as_ref() == Some(holder))
            .map(|(k, _)| k.clone())
            .collect();
        let bridge_free = !current.iter().any(|(k, _)| *k == bridge_key);
        let mut compares: Vec<Compare> = mine
            .iter()
            .map(|k| Compare::value(k.as_str(), CompareOp::Equal, value.as_str()))
            .collect();
        if bridge_free {
            compares.push(Compare::create_revision(
                bridge_key.as_str(),
                CompareOp::Equal,
                0,
            ));
        }
        let mut ops: Vec<TxnOp> = mine
            .iter()
            .map(|k| TxnOp::delete(k.as_str(), None))
            .collect();
        if bridge_free || mine.contains(&bridge_key) {
            ops.push(TxnOp::delete(config_key, None));
            ops.push(TxnOp::delete(
                subnets_prefix,
                Some(DeleteOptions::new().with_prefix()),
            ));
        }
        if etcd
            .txn(Txn::new().when(compares).and_then(ops))
            .await?
            .succeeded()
        {
            return Ok(mine);
        }
    }
    Err(kept_changing(keys))
}

/// What one read of a cluster's keys found.
#[derive(Debug)]
pub struct Snapshot {
    /// Whether the holder holds all three claims.
    pub held: bool,
    /// The config key's value and mod revision, if it exists.
    pub config: Option<(Vec<u8>, i64)>,
}

/// Reads the three claims of `network` and its config key in one request:
/// the whole of a steady-state loop's etcd traffic.
pub async fn snapshot(
    etcd: &Etcd,
    keys: &ClaimKeys,
    holder: &Holder,
    network: &Network,
    config_key: &str,
) -> Result<Snapshot, EtcdError> {
    let wanted = keys.wanted(network);
    let mut ops: Vec<TxnOp> = wanted
        .iter()
        .map(|k| TxnOp::get(k.as_str(), None))
        .collect();
    ops.push(TxnOp::get(config_key, None));
    let response = etcd.txn(Txn::new().and_then(ops)).await?;
    let mut found: Vec<Option<KeyValue>> = response
        .op_responses()
        .into_iter()
        .map(|r| match r {
            TxnOpResponse::Get(mut g) => g.take_kvs().into_iter().next(),
            _ => None,
        })
        .collect();
    found.resize(wanted.len() + 1, None);
    let config = found
        .pop()
        .flatten()
        .map(|kv| (kv.value().to_vec(), kv.mod_revision()));
    let value = holder.value();
    let held = found
        .iter()
        .all(|kv| kv.as_ref().is_some_and(|kv| kv.value() == value.as_bytes()));
    Ok(Snapshot { held, config })
}

/// Writes `value` to `config_key` if the key is still as `seen` (absent,
/// or at that mod revision) and `holder` still holds the claims of
/// `network`. Returns whether it wrote.
pub async fn write_config(
    etcd: &Etcd,
    keys: &ClaimKeys,
    holder: &Holder,
    network: &Network,
    config_key: &str,
    seen: Option<i64>,
) -> Result<bool, EtcdError> {
    let claim = holder.value();
    let mut compares: Vec<Compare> = keys
        .wanted(network)
        .iter()
        .map(|k| Compare::value(k.as_str(), CompareOp::Equal, claim.as_str()))
        .collect();
    compares.push(match seen {
        None => Compare::create_revision(config_key, CompareOp::Equal, 0),
        Some(rev) => Compare::mod_revision(config_key, CompareOp::Equal, rev),
    });
    let put = TxnOp::put(config_key, network.config(), None);
    Ok(etcd
        .txn(Txn::new().when(compares).and_then([put]))
        .await?
        .succeeded())
}

fn pairs(kvs: Vec<KeyValue>) -> Vec<(String, Vec<u8>)> {
    kvs.into_iter()
        .map(|kv| {
            let (k, v) = kv.into_key_value();
            (String::from_utf8_lossy(&k).into_owned(), v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(cluster: &str, cidr: &str, vni: u32) -> Network {
        Network {
            cluster: cluster.into(),
            network: Ipv4Net::parse(cidr).unwrap(),
            subnet_len: 24,
            vni,
            interface: "eth0".into(),
        }
    }

    fn holder(cluster: &str) -> Holder {
        Holder {
            cluster: cluster.into(),
            config: format!("ns/{cluster}"),
        }
    }

    fn claims_of(keys: &ClaimKeys, n: &Network) -> Vec<(String, Vec<u8>)> {
        let value = holder(&n.cluster).value().into_bytes();
        keys.wanted(n)
            .into_iter()
            .map(|k| (k, value.clone()))
            .collect()
    }

    #[test]
    fn keys_and_values() {
        let keys = ClaimKeys::new("/claims/");
        let n = net("abc12", "10.1.0.0/16", 7);
        assert_eq!(
            keys.wanted(&n),
            [
                "/claims/vni/7",
                "/claims/network/10.1.0.0-16",
                "/claims/bridge/br-abc12"
            ]
        );
        assert_eq!(
            holder("abc12").value(),
            r#"{"clusterID":"abc12","flannelConfig":"ns/abc12"}"#
        );
        assert_eq!(
            keys.network_of("/claims/network/10.1.0.0-16"),
            Some(n.network)
        );
    }

    #[test]
    fn free_claims_are_created_and_own_ones_kept() {
        let keys = ClaimKeys::new("/c");
        let a = net("aaa", "10.1.0.0/16", 1);
        assert_eq!(
            plan(&keys, &holder("aaa"), &a, &[]),
            ClaimPlan::Claim {
                create: keys.wanted(&a).to_vec(),
                keep: vec![],
                stale: vec![]
            }
        );
        let mut current = claims_of(&keys, &a);
        current.extend(claims_of(&keys, &net("bbb", "10.2.0.0/16", 2)));
        assert_eq!(plan(&keys, &holder("aaa"), &a, &current), ClaimPlan::Held);
    }

    #[test]
    fn a_changed_vni_releases_the_old_one() {
        let keys = ClaimKeys::new("/c");
        let old = net("aaa", "10.1.0.0/16", 1);
        let new = net("aaa", "10.1.0.0/16", 9);
        let ClaimPlan::Claim {
            create,
            keep,
            stale,
        } = plan(&keys, &holder("aaa"), &new, &claims_of(&keys, &old))
        else {
            panic!("expected a claim");
        };
        assert_eq!(create, ["/c/vni/9"]);
        assert_eq!(keep.len(), 2);
        assert_eq!(stale, ["/c/vni/1"]);
    }

    #[test]
    fn conflicts_name_the_holder() {
        let keys = ClaimKeys::new("/c");
        let current = claims_of(&keys, &net("aaa", "10.1.0.0/16", 1));
        let ClaimPlan::Conflicts(c) = plan(
            &keys,
            &holder("bbb"),
            &net("bbb", "10.1.128.0/24", 1),
            &current,
        ) else {
            panic!("expected conflicts");
        };
        let text: Vec<String> = c.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "VNI 1 is held by guest cluster aaa (FlannelConfig ns/aaa)",
                "network 10.1.128.0/24 overlaps 10.1.0.0/16 of guest cluster aaa (FlannelConfig ns/aaa)"
            ]
        );
        // The same cluster ID twice: the bridge name is taken.
        let dup = Holder {
            cluster: "aaa".into(),
            config: "other/aaa".into(),
        };
        let ClaimPlan::Conflicts(c) = plan(&keys, &dup, &net("aaa", "10.9.0.0/16", 5), &current)
        else {
            panic!("expected conflicts");
        };
        assert_eq!(c[0].wanted, "bridge br-aaa");
        // A hand-written claim value blocks too.
        let junk = vec![("/c/vni/3".to_owned(), b"by hand".to_vec())];
        assert!(matches!(
            plan(&keys, &holder("x"), &net("x", "10.3.0.0/16", 3), &junk),
            ClaimPlan::Conflicts(_)
        ));
    }

    #[test]
    fn disjoint_networks_do_not_conflict() {
        let keys = ClaimKeys::new("/c");
        let current = claims_of(&keys, &net("aaa", "10.1.0.0/24", 1));
        assert!(matches!(
            plan(
                &keys,
                &holder("bbb"),
                &net("bbb", "10.1.1.0/24", 2),
                &current
            ),
            ClaimPlan::Claim { .. }
        ));
    }
}
