//! Reading a data directory back: the snapshot, then every log segment it
//! does not cover, in order. A torn tail of the last segment is cut off (it
//! was never acknowledged); damage anywhere else refuses the start and
//! changes nothing, or, when recovery was asked for, is cut away with
//! everything after it while the original files are kept aside.
//!
//! Besides checksums, the files must agree with each other: segments are
//! numbered without gaps from the one the snapshot names, and every
//! record's revision follows the one before it (a revision record, written
//! by a recovery, may jump forward). A missing segment is damage too.
//!
//! Recovery is crash-safe: the originals are hard-linked (or copied) aside
//! first, the kept part is written under a temporary name and renamed over
//! the damaged file, and only then are later segments removed; a crash at
//! any step leaves either the damage (recover again) or the result. A
//! damaged snapshot is rebuilt from everything readable (its sound objects
//! and the whole log after it) once every segment has been read, naming a
//! new empty segment, so no later start depends on the damaged one.
//!
//! Revisions never go back through a recovery: the revision jumps past the
//! highest revision readable anywhere in what is dropped (frames after the
//! damage are found by checksum), plus one per dropped byte, and past the
//! high-water mark kept beside the log (`files::HIGH_WATER`: the revision of
//! every snapshot and of every recovery).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::frame::{self, End};
use super::{Entry, Op, Record, files};
use crate::store::{ObjectKey, StorageKey, Stored};

/// What a data directory held.
#[derive(Default)]
pub(super) struct Loaded {
    pub(crate) revision: u64,
    pub(crate) objects: BTreeMap<(StorageKey, ObjectKey), Stored>,
    /// Size of the snapshot file (0 without one).
    pub(crate) snapshot_bytes: u64,
    /// The first segment the snapshot does not cover (segments below it are
    /// leftovers of a compaction, removed once the start succeeds).
    pub(crate) first_segment: u64,
    /// The last segment's number and sound length, if there is one.
    pub(crate) last_segment: Option<(u64, u64)>,
    /// How the next record must follow the revision reached.
    order: Order,
    /// A damaged snapshot to rebuild once every segment is read.
    rebuild: Option<Damage>,
}

/// How the next record must follow the revision reached.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
enum Order {
    /// With the next revision.
    #[default]
    Next,
    /// With the next revision; records at or below the revision reached are
    /// skipped (segments a recovery superseded but had not removed yet).
    AfterRevisionRecord,
    /// Anywhere above (the snapshot's header was lost): skip records at or
    /// below, jump to the first one above.
    Unknown,
}

/// Damage found while reading, with where it is.
#[derive(Debug)]
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
        first_segment: 1,
        ..Loaded::default()
    };
    let snapshot = dir.join(files::SNAPSHOT);
    let has_snapshot = snapshot.exists();
    if has_snapshot {
        match read_snapshot(&snapshot, &mut loaded)? {
            Ok(()) => {}
            Err(damage) if recover => {
                if damage.offset == 0 {
                    // The header is lost: its revision and segment with it.
                    loaded.first_segment = 0;
                    loaded.order = Order::Unknown;
                }
                loaded.rebuild = Some(damage);
            }
            Err(damage) => return Err(damage.into_error(dir)),
        }
        loaded.snapshot_bytes = fs::metadata(&snapshot)?.len();
    }
    let mut loaded = read_segments(dir, recover, has_snapshot, loaded)?;
    if let Some(damage) = loaded.rebuild.take() {
        rebuild_snapshot(dir, damage, &mut loaded)?;
    }
    Ok(loaded)
}

/// Reads every segment the snapshot does not cover, in order.
fn read_segments(
    dir: &Path,
    recover: bool,
    has_snapshot: bool,
    mut loaded: Loaded,
) -> std::io::Result<Loaded> {
    let segments: Vec<(u64, PathBuf)> = files::segments(dir)?
        .into_iter()
        .filter(|(seq, _)| *seq >= loaded.first_segment)
        .collect();
    if has_snapshot && loaded.first_segment > 0 && segments.is_empty() {
        let damage = Damage {
            file: files::segment(dir, loaded.first_segment),
            offset: 0,
            why: "the log segment after the snapshot is missing".into(),
        };
        if !recover {
            return Err(damage.into_error(dir));
        }
        let kept = recover_segments(dir, damage, loaded.first_segment, &[], &mut loaded)?;
        loaded.last_segment = Some(kept);
        return Ok(loaded);
    }
    // Segments follow the snapshot's, or the first one (1 without a snapshot).
    let mut expected = match loaded.first_segment {
        0 => segments.first().map_or(1, |(s, _)| *s),
        n => n,
    };
    for (i, (seq, path)) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        let read = if *seq == expected {
            read_segment(path, last, &mut loaded)?
        } else {
            Err(Damage {
                file: path.clone(),
                offset: 0,
                why: format!(
                    "the segment before it, {}, is missing",
                    files::segment(dir, expected).display()
                ),
            })
        };
        match read {
            Ok(len) => loaded.last_segment = Some((*seq, len)),
            Err(damage) if recover => {
                let kept = recover_segments(dir, damage, expected, &segments[i..], &mut loaded)?;
                loaded.last_segment = Some(kept);
                break;
            }
            Err(damage) => return Err(damage.into_error(dir)),
        }
        expected = seq + 1;
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
            Ok(Entry::Begin { revision, segment }) if *offset == 0 => {
                loaded.revision = revision;
                if segment == 0 {
                    loaded.order = Order::Unknown;
                }
                // Snapshots without a segment number cover none for certain.
                loaded.first_segment = segment;
            }
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
    let damage = |offset: u64, why: String| Damage {
        file: path.to_owned(),
        offset,
        why,
    };
    for (offset, payload) in &scan.frames {
        let records = match serde_json::from_slice::<Vec<Record>>(payload) {
            Ok(records) => records,
            Err(e) => return Ok(Err(damage(*offset, format!("unreadable record: {e}")))),
        };
        if let Err(why) = check_revisions(loaded, &records) {
            return Ok(Err(damage(*offset, why)));
        }
        records.into_iter().for_each(|r| apply(loaded, r));
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
        End::Torn { offset } => Ok(Err(damage(
            offset,
            "an incomplete record before the last segment".into(),
        ))),
        End::Damaged { offset, why } => Ok(Err(damage(offset, why))),
    }
}

/// Whether one frame's records follow the revision reached as [`Order`]
/// says, without a gap.
fn check_revisions(loaded: &Loaded, records: &[Record]) -> Result<(), String> {
    let (mut revision, mut order) = (loaded.revision, loaded.order);
    for r in records {
        (revision, order, _) = follow(revision, order, r)?;
    }
    Ok(())
}

/// The revision and order after record `r`, and whether `r` is applied.
fn follow(revision: u64, order: Order, r: &Record) -> Result<(u64, Order, bool), String> {
    if r.op == Op::Revision {
        return Ok((revision.max(r.rv), Order::AfterRevisionRecord, false));
    }
    let next = revision.saturating_add(1);
    match order {
        _ if r.rv == next => Ok((r.rv, Order::Next, true)),
        Order::AfterRevisionRecord | Order::Unknown if r.rv <= revision => {
            Ok((revision, order, false))
        }
        Order::Unknown => Ok((r.rv, Order::Next, true)),
        _ if r.rv > next => Err(format!(
            "revision {} follows revision {revision}: the records between are missing",
            r.rv
        )),
        _ => Err(format!(
            "revision {} follows revision {revision}: revisions go back",
            r.rv
        )),
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
    // Checked by `check_revisions` before: an error cannot happen here.
    let Ok((revision, order, applied)) = follow(loaded.revision, loaded.order, &r) else {
        return;
    };
    (loaded.revision, loaded.order) = (revision, order);
    if !applied {
        return;
    }
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

/// How far the revision jumps when a snapshot's header is lost and no
/// high-water mark says where it was: far above anything a server of this
/// kind hands out between two compactions.
const UNKNOWN_REVISION_MARGIN: u64 = 1_000_000_000;

/// Replaces a damaged snapshot by one of everything read (its sound objects,
/// then the whole log), naming a new empty segment; the originals (snapshot
/// and every segment) are kept aside first.
fn rebuild_snapshot(dir: &Path, damage: Damage, loaded: &mut Loaded) -> std::io::Result<()> {
    let aside = files::aside_dir(dir)?;
    files::keep_aside(&damage.file, &aside)?;
    let segments = files::segments(dir)?;
    for (_, path) in &segments {
        files::keep_aside(path, &aside)?;
    }
    files::sync_dir(&aside)?;
    files::sync_dir(dir)?;
    let mut revision = loaded
        .revision
        .max(files::read_high_water(dir).unwrap_or(0));
    if damage.offset == 0 && files::read_high_water(dir).is_none() {
        revision = revision.saturating_add(UNKNOWN_REVISION_MARGIN);
    }
    let next = segments
        .last()
        .map_or(loaded.first_segment.max(1), |(s, _)| s + 1);
    let objects = loaded
        .objects
        .iter()
        .map(|((s, k), v)| (s.clone(), k.clone(), v.clone()))
        .collect();
    files::write_new(&files::segment(dir, next), &[])?;
    files::sync_dir(dir)?;
    files::write_snapshot(dir, revision, next, &objects)?;
    files::write_high_water(dir, revision)?;
    loaded.revision = revision;
    loaded.first_segment = next;
    loaded.last_segment = Some((next, 0));
    loaded.snapshot_bytes = fs::metadata(dir.join(files::SNAPSHOT))?.len();
    tracing::warn!(
        file = %damage.file.display(),
        offset = damage.offset,
        why = %damage.why,
        kept_objects = loaded.objects.len(),
        revision,
        kept_at = %aside.display(),
        "recovered a damaged snapshot: rebuilt it from its sound objects and the whole log"
    );
    Ok(())
}

/// Keeps the sound part of a damaged (or missing) segment as segment `keep`
/// and drops every later one, the originals kept aside. The revision moves
/// past every revision the dropped part could hold, and a revision record
/// keeps it there: no resourceVersion a client has seen is ever reused.
/// Returns the kept segment's number and length.
fn recover_segments(
    dir: &Path,
    damage: Damage,
    keep: u64,
    from: &[(u64, PathBuf)],
    loaded: &mut Loaded,
) -> std::io::Result<(u64, u64)> {
    let aside = files::aside_dir(dir)?;
    for (_, path) in from {
        files::keep_aside(path, &aside)?;
    }
    files::sync_dir(&aside)?;
    files::sync_dir(dir)?;
    let kept_path = files::segment(dir, keep);
    let mut kept = match damage.file == kept_path && damage.offset > 0 {
        true => fs::read(&damage.file)?[..damage.offset as usize].to_vec(),
        false => Vec::new(),
    };
    let revision = revision_past(&damage, from, loaded.revision)?
        .max(files::read_high_water(dir).unwrap_or(0));
    let record = Record::revision(revision);
    kept.extend(frame::encode(&serde_json::to_vec(&[record])?));
    files::write_new(&kept_path, &kept)?;
    files::sync_dir(dir)?;
    files::write_high_water(dir, revision)?;
    for (seq, path) in from {
        if *seq != keep {
            fs::remove_file(path)?;
        }
    }
    files::sync_dir(dir)?;
    loaded.revision = revision;
    loaded.order = Order::AfterRevisionRecord;
    tracing::warn!(
        file = %damage.file.display(),
        offset = damage.offset,
        why = %damage.why,
        later_segments_dropped = from.len().saturating_sub(1),
        revision,
        kept_at = %aside.display(),
        "recovered a damaged write-ahead log: kept everything before the damage"
    );
    Ok((keep, kept.len() as u64))
}

/// A revision above every revision the dropped part of the log holds: the
/// highest one readable in it (sound frames after the damage are found by
/// their checksums), plus one per dropped byte (every record takes more than
/// a byte, and revisions follow each other without gaps).
fn revision_past(damage: &Damage, from: &[(u64, PathBuf)], kept: u64) -> std::io::Result<u64> {
    let (mut highest, mut dropped) = (kept, 0u64);
    for (_, path) in from {
        let bytes = fs::read(path)?;
        let start = match *path == damage.file {
            true => usize::try_from(damage.offset)
                .unwrap_or(usize::MAX)
                .min(bytes.len()),
            false => 0,
        };
        dropped = dropped.saturating_add((bytes.len() - start) as u64);
        for payload in frame::salvage(&bytes[start..]) {
            let records: Vec<Record> = serde_json::from_slice(payload).unwrap_or_default();
            highest = records.iter().map(|r| r.rv).fold(highest, u64::max);
        }
    }
    Ok(highest.saturating_add(dropped))
}
