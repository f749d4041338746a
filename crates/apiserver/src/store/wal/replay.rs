//! Reading a data directory back: the snapshot, then every log segment in
//! order. A torn tail of the last segment is cut off (it was never
//! acknowledged); damage anywhere else refuses the start and changes nothing,
//! or, when recovery was asked for, is cut away with everything after it and
//! the original files are kept aside.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::frame::{self, End};
use super::{Entry, Op, Record, files};
use crate::store::{ObjectKey, StorageKey};

/// What a data directory held.
pub(super) struct Loaded {
    pub revision: u64,
    pub objects: BTreeMap<(StorageKey, ObjectKey), Value>,
    /// Size of the snapshot file (0 without one).
    pub snapshot_bytes: u64,
    /// The last segment's number and sound length, if there is one.
    pub last_segment: Option<(u64, u64)>,
}

/// Damage found while reading, with where it is.
struct Damage {
    file: PathBuf,
    offset: u64,
    why: String,
}

impl Damage {
    fn into_error(self, dir: &Path) -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "{} is damaged at byte {}: {}. Nothing was changed. To start from \
                 everything before the damage, start once with --recover-data-dir \
                 (the damaged files are then moved to {}/damaged-<time>/)",
                self.file.display(),
                self.offset,
                self.why,
                dir.display()
            ),
        )
    }
}

/// Reads `dir`; with `recover`, cuts damage away instead of refusing.
pub(super) fn load(dir: &Path, recover: bool) -> std::io::Result<Loaded> {
    let mut loaded = Loaded {
        revision: 0,
        objects: BTreeMap::new(),
        snapshot_bytes: 0,
        last_segment: None,
    };
    let snapshot = dir.join(files::SNAPSHOT);
    if snapshot.exists() {
        if let Err(damage) = read_snapshot(&snapshot, &mut loaded)? {
            if !recover {
                return Err(damage.into_error(dir));
            }
            recover_snapshot(dir, damage, &loaded)?;
        }
        loaded.snapshot_bytes = fs::metadata(&snapshot)?.len();
    }
    let segments = files::segments(dir)?;
    for (i, (seq, path)) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match read_segment(path, last, &mut loaded)? {
            Ok(len) => loaded.last_segment = Some((*seq, len)),
            Err(damage) if recover => {
                let len = damage.offset;
                recover_segments(dir, damage, &segments[i..])?;
                loaded.last_segment = Some((*seq, len));
                break;
            }
            Err(damage) => return Err(damage.into_error(dir)),
        }
    }
    Ok(loaded)
}

/// Applies the snapshot at `path`; the damage, if any.
fn read_snapshot(path: &Path, loaded: &mut Loaded) -> std::io::Result<Result<(), Damage>> {
    let bytes = fs::read(path)?;
    let scan = frame::scan(&bytes);
    let damage = |offset: u64, why: &str| Damage {
        file: path.to_owned(),
        offset,
        why: why.to_owned(),
    };
    let mut count = 0u64;
    let mut ended = false;
    for (offset, payload) in &scan.frames {
        if ended {
            return Ok(Err(damage(*offset, "a record follows the snapshot's end")));
        }
        match serde_json::from_slice::<Entry>(payload) {
            Ok(Entry::Begin { revision }) if *offset == 0 => loaded.revision = revision,
            Ok(Entry::Object(r)) if *offset > 0 => {
                count += 1;
                restore(loaded, r);
            }
            Ok(Entry::End { objects }) if objects == count => ended = true,
            Ok(_) => {
                return Ok(Err(damage(
                    *offset,
                    "the snapshot's records are out of order",
                )));
            }
            Err(e) => return Ok(Err(damage(*offset, &format!("unreadable record: {e}")))),
        }
    }
    Ok(match scan.end {
        // A snapshot is renamed into place only once complete: a short one is damage.
        End::Clean if ended => Ok(()),
        End::Clean | End::Torn { .. } => Err(damage(
            bytes.len() as u64,
            "the snapshot ends before its last record",
        )),
        End::Damaged { offset, why } => Err(damage(offset, &why)),
    })
}

/// Applies a segment; its sound length, or the damage. A torn tail of the
/// last segment is cut off here.
fn read_segment(
    path: &Path,
    last: bool,
    loaded: &mut Loaded,
) -> std::io::Result<Result<u64, Damage>> {
    let bytes = fs::read(path)?;
    let scan = frame::scan(&bytes);
    for (offset, payload) in &scan.frames {
        match serde_json::from_slice::<Vec<Record>>(payload) {
            Ok(records) => records.into_iter().for_each(|r| apply(loaded, r)),
            Err(e) => {
                return Ok(Err(Damage {
                    file: path.to_owned(),
                    offset: *offset,
                    why: format!("unreadable record: {e}"),
                }));
            }
        }
    }
    match scan.end {
        End::Clean => Ok(Ok(bytes.len() as u64)),
        End::Torn { offset } if last => {
            tracing::warn!(
                file = %path.display(),
                offset,
                dropped_bytes = bytes.len() as u64 - offset,
                "dropping the incomplete last record of the write-ahead log (a write that was never acknowledged)"
            );
            files::truncate(path, offset)?;
            Ok(Ok(offset))
        }
        End::Torn { offset } => Ok(Err(Damage {
            file: path.to_owned(),
            offset,
            why: "an incomplete record before the last segment".into(),
        })),
        End::Damaged { offset, why } => Ok(Err(Damage {
            file: path.to_owned(),
            offset,
            why,
        })),
    }
}

/// Restores one object of a snapshot (in key order, not revision order).
fn restore(loaded: &mut Loaded, r: Record) {
    loaded.revision = loaded.revision.max(r.rv);
    if let (Op::Put, Some(object)) = (r.op, r.object) {
        let key = (
            StorageKey::new(&r.group, &r.resource),
            ObjectKey::new(&r.namespace, &r.name),
        );
        loaded.objects.insert(key, object);
    }
}

/// Applies one log record. Records at or below the revision reached are already
/// reflected (a segment left behind by a compaction that crashed before
/// removing it).
fn apply(loaded: &mut Loaded, r: Record) {
    if r.rv <= loaded.revision && r.op != Op::Revision {
        return;
    }
    loaded.revision = loaded.revision.max(r.rv);
    let key = (
        StorageKey::new(&r.group, &r.resource),
        ObjectKey::new(&r.namespace, &r.name),
    );
    match (r.op, r.object) {
        (Op::Put, Some(object)) => {
            loaded.objects.insert(key, object);
        }
        (Op::Delete, _) => {
            loaded.objects.remove(&key);
        }
        _ => {}
    }
}

/// Keeps the sound part of a damaged snapshot: moves the original aside and
/// writes a snapshot of what was read. The log after it is kept whole: its
/// records are whole objects and deletions, each correct on its own.
fn recover_snapshot(dir: &Path, damage: Damage, loaded: &Loaded) -> std::io::Result<()> {
    let aside = files::aside_dir(dir)?;
    fs::rename(&damage.file, aside.join(files::SNAPSHOT))?;
    files::sync_dir(dir)?;
    let objects = loaded
        .objects
        .iter()
        .map(|((s, k), v)| (s.clone(), k.clone(), std::sync::Arc::new(v.clone())))
        .collect();
    files::write_snapshot(dir, loaded.revision, &objects)?;
    tracing::warn!(
        file = %damage.file.display(),
        offset = damage.offset,
        why = %damage.why,
        kept_objects = loaded.objects.len(),
        moved_to = %aside.display(),
        "recovered a damaged snapshot: kept the objects before the damage"
    );
    Ok(())
}

/// Keeps the sound part of a damaged segment and drops every later one; the
/// originals move aside.
fn recover_segments(dir: &Path, damage: Damage, from: &[(u64, PathBuf)]) -> std::io::Result<()> {
    let aside = files::aside_dir(dir)?;
    for (_, path) in from {
        let name = path.file_name().unwrap_or_default();
        fs::rename(path, aside.join(name))?;
    }
    let original = aside.join(damage.file.file_name().unwrap_or_default());
    let prefix = &fs::read(&original)?[..damage.offset as usize];
    files::write_new(&damage.file, prefix)?;
    files::sync_dir(dir)?;
    tracing::warn!(
        file = %damage.file.display(),
        offset = damage.offset,
        why = %damage.why,
        later_segments_dropped = from.len() - 1,
        moved_to = %aside.display(),
        "recovered a damaged write-ahead log: kept everything before the damage"
    );
    Ok(())
}
