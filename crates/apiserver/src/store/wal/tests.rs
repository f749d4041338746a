use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::*;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("apiserver-wal-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    dir
}

fn cms() -> StorageKey {
    StorageKey::new("", "configmaps")
}

fn obj(name: &str, rv: u64) -> Stored {
    Stored::encode(
        &json!({"metadata": {"name": name, "namespace": "ns", "resourceVersion": rv.to_string()}, "data": {"k": "v".repeat(50)}}),
    )
}

fn put(wal: &mut Wal, rv: u64, name: &str) {
    wal.append(&[Record::put(
        rv,
        &cms(),
        &ObjectKey::new("ns", name),
        &obj(name, rv),
    )])
    .unwrap();
}

fn names(r: &Restored) -> Vec<String> {
    r.objects.iter().map(|(_, k, _)| k.name.clone()).collect()
}

/// Every file under `dir` with its bytes (but the empty lock file).
fn contents(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() && !path.ends_with(files::LOCK) {
            out.insert(path.clone(), fs::read(&path).unwrap());
        }
    }
    out
}

fn open(dir: &Path) -> std::io::Result<(Wal, Restored)> {
    Wal::open(dir, Options::default())
}

/// Three puts and a delete in segment 1, written and closed.
fn three_and_a_delete(dir: &Path) {
    let (mut wal, restored) = open(dir).unwrap();
    assert_eq!(restored.revision, 0);
    put(&mut wal, 1, "a");
    put(&mut wal, 2, "b");
    put(&mut wal, 3, "c");
    wal.append(&[Record::delete(4, &cms(), &ObjectKey::new("ns", "b"))])
        .unwrap();
}

fn segment_one(dir: &Path) -> PathBuf {
    files::segment(dir, 1)
}

/// Offsets of the frames of a file.
fn frame_offsets(path: &Path) -> Vec<u64> {
    let bytes = fs::read(path).unwrap();
    frame::scan(&bytes).frames.iter().map(|(o, _)| *o).collect()
}

fn flip(path: &Path, at: u64) {
    let mut bytes = fs::read(path).unwrap();
    bytes[at as usize] ^= 0x55;
    fs::write(path, bytes).unwrap();
}

#[test]
fn replays_puts_and_deletes_and_drops_only_a_torn_tail() {
    let dir = temp_dir("replay");
    three_and_a_delete(&dir);
    // A crash in the middle of writing revision 5.
    let sound = fs::metadata(segment_one(&dir)).unwrap().len();
    let torn = &frame::encode(br#"[{"rv":5,"op":"put"}]"#)[..20];
    let mut f = OpenOptions::new()
        .append(true)
        .open(segment_one(&dir))
        .unwrap();
    f.write_all(torn).unwrap();
    drop(f);

    let (mut wal, restored) = open(&dir).unwrap();
    assert_eq!(restored.revision, 4);
    assert_eq!(names(&restored), ["a", "c"]);
    // The torn bytes were cut off, so the next record follows a sound one.
    assert_eq!(fs::metadata(segment_one(&dir)).unwrap().len(), sound);
    put(&mut wal, 5, "d");
    drop(wal);
    let (_, again) = open(&dir).unwrap();
    assert_eq!(again.revision, 5);
    assert_eq!(names(&again), ["a", "c", "d"]);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn damage_in_the_middle_or_the_last_record_refuses_to_start_and_changes_nothing() {
    for (case, frame_index, delta) in [("middle", 1usize, 14u64), ("last", 3, 13)] {
        let dir = temp_dir(&format!("damage-{case}"));
        three_and_a_delete(&dir);
        let at = frame_offsets(&segment_one(&dir))[frame_index];
        flip(&segment_one(&dir), at + delta);
        let before = contents(&dir);

        let Err(e) = open(&dir) else {
            panic!("{case}: a damaged log was opened");
        };
        let msg = e.to_string();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData, "{case}: {msg}");
        assert!(
            msg.contains(&*segment_one(&dir).to_string_lossy())
                && msg.contains(&format!("damaged at byte {at}"))
                && msg.contains("--recover-data-dir"),
            "{case}: {msg}"
        );
        assert_eq!(contents(&dir), before, "{case}: files changed");
        fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn recovery_keeps_everything_before_the_damage_and_sets_the_original_aside() {
    let dir = temp_dir("recover");
    three_and_a_delete(&dir);
    let original = fs::read(segment_one(&dir)).unwrap();
    let at = frame_offsets(&segment_one(&dir))[2];
    flip(&segment_one(&dir), at + 20);
    let (mut wal, restored) = Wal::open(
        &dir,
        Options {
            recover: true,
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(
        names(&restored),
        ["a", "b"],
        "the records before the damage"
    );
    // Revisions 3 and 4 were handed out before the damage: the revision
    // moves past anything the dropped bytes could hold, never back.
    // The delete at revision 4 after the damage is still readable (found
    // by its checksums): the revision is past it plus one per dropped byte.
    let dropped = original.len() as u64 - at;
    assert_eq!(restored.revision, 4 + dropped);
    put(&mut wal, restored.revision + 1, "e");
    drop(wal);

    let aside: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    assert_eq!(aside.len(), 1);
    assert!(
        aside[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("damaged-")
    );
    let kept = fs::read(aside[0].join(segment_one(&dir).file_name().unwrap())).unwrap();
    let mut original = original;
    original[(at + 20) as usize] ^= 0x55;

    assert_eq!(kept, original, "the original's bytes are kept as they were");
    let (_, again) = open(&dir).unwrap();
    assert_eq!(names(&again), ["a", "b", "e"]);
    assert_eq!(again.revision, restored.revision + 1);
    fs::remove_dir_all(&dir).unwrap();
}

/// Writes `writes` revisions over ten names, compacting whenever the log asks
/// (and waiting for it).
fn compacted(dir: &Path, writes: u64) -> Wal {
    let (mut wal, _) = Wal::open(
        dir,
        Options {
            compaction_min_bytes: 4096,
            ..Options::default()
        },
    )
    .unwrap();
    let mut live = BTreeMap::new();
    for rv in 1..=writes {
        let name = format!("cm-{}", rv % 10);
        put(&mut wal, rv, &name);
        live.insert(name.clone(), obj(&name, rv));
        if wal.wants_compaction() {
            let objects = live
                .iter()
                .map(|(n, v)| (cms(), ObjectKey::new("ns", n), v.clone()))
                .collect();
            wal.compact(Snapshot {
                revision: rv,
                objects,
            })
            .unwrap();
            wal.wait_for_compaction();
        }
    }
    wal
}

#[test]
fn compaction_writes_a_snapshot_removes_old_segments_and_replays_the_same() {
    let dir = temp_dir("compact");
    let wal = compacted(&dir, 200);
    assert!(wal.seq > 1, "no compaction ran");
    drop(wal);
    let segments = files::segments(&dir).unwrap();
    assert!(dir.join(files::SNAPSHOT).exists());
    assert!(segments.iter().all(|(n, _)| *n > 1), "{segments:?}");
    let (_, restored) = open(&dir).unwrap();
    assert_eq!(restored.revision, 200);
    assert_eq!(restored.objects.len(), 10);
    for (_, k, v) in &restored.objects {
        let rv = crate::meta::resource_version(&v.value()).unwrap();
        assert_eq!(format!("cm-{}", rv % 10), k.name, "{k:?} at {rv}");
        assert!(rv > 190, "{k:?} at {rv}");
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_leftover_segment_below_the_snapshot_is_never_read_and_removed_on_start() {
    let dir = temp_dir("leftover");
    let wal = compacted(&dir, 100);
    drop(wal);
    // A crash after the snapshot was renamed into place, before the old
    // segments were removed: an old segment is still there, damaged even.
    let (seq, _) = files::segments(&dir).unwrap()[0];
    let mut old = Vec::new();
    let records = vec![Record::put(
        3,
        &cms(),
        &ObjectKey::new("ns", "cm-3"),
        &obj("cm-3", 3),
    )];
    old.extend(frame::encode(&serde_json::to_vec(&records).unwrap()));
    old[20] ^= 0x55;
    let leftover = files::segment(&dir, seq - 1);
    fs::write(&leftover, old).unwrap();
    fs::write(dir.join("snapshot.tmp"), b"half a snapshot").unwrap();
    let (_, restored) = open(&dir).unwrap();
    assert!(!leftover.exists(), "the covered segment is removed");
    assert!(!dir.join("snapshot.tmp").exists());
    assert_eq!(restored.revision, 100);
    let cm3 = restored
        .objects
        .iter()
        .find(|(_, k, _)| k.name == "cm-3")
        .unwrap();
    assert_eq!(crate::meta::resource_version(&cm3.2.value()), Some(93));
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn damage_in_a_snapshot_refuses_to_start_and_recovery_keeps_its_sound_objects() {
    let dir = temp_dir("snapshot-damage");
    drop(compacted(&dir, 100));
    let snapshot = dir.join(files::SNAPSHOT);
    let offsets = frame_offsets(&snapshot);
    flip(&snapshot, offsets[5] + 30);
    let before = contents(&dir);
    let Err(e) = open(&dir) else {
        panic!("a damaged snapshot was opened");
    };
    assert!(
        e.to_string().contains(&format!(
            "{} is damaged at byte {}",
            snapshot.display(),
            offsets[5]
        )),
        "{e}"
    );
    assert_eq!(contents(&dir), before, "files changed");

    let (_, restored) = Wal::open(
        &dir,
        Options {
            recover: true,
            ..Options::default()
        },
    )
    .unwrap();
    // Objects 1..=4 of the snapshot, plus whatever the log after it holds.
    assert!(restored.objects.len() >= 4, "{}", restored.objects.len());
    assert_eq!(restored.revision, 100);
    let (_, again) = open(&dir).unwrap();
    assert_eq!(again.objects.len(), restored.objects.len());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_full_disk_refuses_the_write_and_leaves_the_log_sound() {
    let dir = temp_dir("full");
    let (mut wal, _) = open(&dir).unwrap();
    put(&mut wal, 1, "a");
    wal.faults().space = Some(30);
    let record = [Record::put(
        2,
        &cms(),
        &ObjectKey::new("ns", "b"),
        &obj("b", 2),
    )];
    let e = wal.append(&record).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::StorageFull);
    // Space comes back: writing goes on where the log was sound.
    wal.faults().space = None;
    put(&mut wal, 2, "c");
    drop(wal);
    let (_, restored) = open(&dir).unwrap();
    assert_eq!(names(&restored), ["a", "c"]);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failed_fsync_refuses_every_later_write_until_a_restart() {
    let dir = temp_dir("fsync");
    let (mut wal, _) = open(&dir).unwrap();
    put(&mut wal, 1, "a");
    wal.faults().fail_sync = true;
    let record = [Record::put(
        2,
        &cms(),
        &ObjectKey::new("ns", "b"),
        &obj("b", 2),
    )];
    assert!(wal.append(&record).is_err());
    wal.faults().fail_sync = false;
    let e = wal.append(&record).unwrap_err();
    assert!(
        e.to_string()
            .contains("refuses writes until the server restarts"),
        "{e}"
    );
    drop(wal);
    let (_, restored) = open(&dir).unwrap();
    assert_eq!(names(&restored), ["a"]);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn one_open_log_per_directory() {
    let dir = temp_dir("lock");
    let (first, _) = open(&dir).unwrap();
    let Err(second) = open(&dir) else {
        panic!("a second log opened on a locked directory");
    };
    assert_eq!(second.kind(), std::io::ErrorKind::ResourceBusy);
    assert!(
        second.to_string().contains("in use by another server"),
        "{second}"
    );
    // Released with the first: the directory can be opened again.
    drop(first);
    let (again, _) = open(&dir).unwrap();
    drop(again);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_log_of_the_old_format_is_refused_by_name() {
    let dir = temp_dir("old");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(files::OLD_LOG), b"{}\n").unwrap();
    let Err(e) = open(&dir) else {
        panic!("an old log was opened");
    };
    assert!(e.to_string().contains("wal.jsonl"), "{e}");
    fs::remove_dir_all(&dir).unwrap();
}

/// Writes one put per revision in `revisions` as its own frame to segment `seq`.
fn write_segment(dir: &Path, seq: u64, revisions: &[u64]) {
    let mut bytes = Vec::new();
    for rv in revisions {
        let name = format!("cm-{rv}");
        let records = [Record::put(
            *rv,
            &cms(),
            &ObjectKey::new("ns", &name),
            &obj(&name, *rv),
        )];
        bytes.extend(frame::encode(&serde_json::to_vec(&records).unwrap()));
    }
    fs::write(files::segment(dir, seq), bytes).unwrap();
}

fn recovering(dir: &Path) -> std::io::Result<(Wal, Restored)> {
    Wal::open(
        dir,
        Options {
            recover: true,
            ..Options::default()
        },
    )
}

#[test]
fn a_missing_segment_or_revision_refuses_to_start() {
    // Segment 2 is gone.
    let dir = temp_dir("gap-segment");
    fs::create_dir_all(&dir).unwrap();
    write_segment(&dir, 1, &[1, 2]);
    write_segment(&dir, 3, &[5, 6]);
    let before = contents(&dir);
    let e = open(&dir)
        .err()
        .expect("a log with a missing segment opened");
    assert!(
        e.to_string().contains(&format!(
            "{} is damaged at byte 0: the segment before it, {}, is missing",
            files::segment(&dir, 3).display(),
            files::segment(&dir, 2).display()
        )),
        "{e}"
    );
    assert_eq!(contents(&dir), before);
    // Recovery keeps segment 1 and moves the revision past everything seen.
    let (mut wal, restored) = recovering(&dir).unwrap();
    assert_eq!(names(&restored), ["cm-1", "cm-2"]);
    assert!(restored.revision >= 6, "{}", restored.revision);
    let next = restored.revision + 1;
    put(&mut wal, next, "after");
    drop(wal);
    let segments: Vec<u64> = files::segments(&dir).unwrap().iter().map(|s| s.0).collect();
    assert_eq!(segments, [1, 2]);
    let (_, again) = open(&dir).unwrap();
    assert_eq!(again.revision, next);
    assert_eq!(names(&again), ["after", "cm-1", "cm-2"]);
    fs::remove_dir_all(&dir).unwrap();

    // Revisions 3 and 4 are missing inside a segment.
    let dir = temp_dir("gap-revision");
    fs::create_dir_all(&dir).unwrap();
    write_segment(&dir, 1, &[1, 2, 5]);
    let third = frame_offsets(&segment_one(&dir))[2];
    let e = open(&dir)
        .err()
        .expect("a log with missing revisions opened");
    assert!(
        e.to_string().contains(&format!(
            "damaged at byte {third}: revision 5 follows revision 2"
        )),
        "{e}"
    );
    fs::remove_dir_all(&dir).unwrap();

    // Without a snapshot, the log starts at segment 1.
    let dir = temp_dir("gap-first");
    fs::create_dir_all(&dir).unwrap();
    write_segment(&dir, 2, &[1]);
    let e = open(&dir)
        .err()
        .expect("a log without its first segment opened");
    assert!(e.to_string().contains("is missing"), "{e}");
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_segment_after_the_snapshot_refuses_to_start() {
    let dir = temp_dir("gap-after-snapshot");
    let mut wal = compacted(&dir, 100);
    // One more compaction at 100, so the segment after it is empty.
    let objects = (91..=100)
        .map(|rv| {
            let name = format!("cm-{}", rv % 10);
            (cms(), ObjectKey::new("ns", &name), obj(&name, rv))
        })
        .collect();
    wal.compact(Snapshot {
        revision: 100,
        objects,
    })
    .unwrap();
    drop(wal);
    for (_, path) in files::segments(&dir).unwrap() {
        fs::remove_file(path).unwrap();
    }
    let e = open(&dir)
        .err()
        .expect("opened without the snapshot's segment");
    assert!(
        e.to_string()
            .contains("the log segment after the snapshot is missing"),
        "{e}"
    );
    let (mut wal, restored) = recovering(&dir).unwrap();
    assert_eq!(restored.revision, 100);
    assert_eq!(restored.objects.len(), 10);
    put(&mut wal, 101, "after");
    drop(wal);
    let (_, again) = open(&dir).unwrap();
    assert_eq!(again.revision, 101);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn more_zeros_than_one_write_at_the_end_refuse_to_start() {
    let dir = temp_dir("zeros");
    three_and_a_delete(&dir);
    let sound = fs::metadata(segment_one(&dir)).unwrap().len();
    let file = OpenOptions::new()
        .write(true)
        .open(segment_one(&dir))
        .unwrap();
    file.set_len(sound + frame::MAX_TORN_ZEROS as u64 + 1)
        .unwrap();
    drop(file);
    let before = contents(&dir);
    let e = open(&dir)
        .err()
        .expect("a log ending in megabytes of zeros opened");
    assert!(
        e.to_string()
            .contains(&format!("damaged at byte {sound}: the log ends with")),
        "{e}"
    );
    assert_eq!(contents(&dir), before);
    // As many as one write could leave: a torn tail, cut off.
    let file = OpenOptions::new()
        .write(true)
        .open(segment_one(&dir))
        .unwrap();
    file.set_len(sound + 4096).unwrap();
    drop(file);
    let (_, restored) = open(&dir).unwrap();
    assert_eq!(restored.revision, 4);
    assert_eq!(fs::metadata(segment_one(&dir)).unwrap().len(), sound);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_recovery_cut_short_before_removing_later_segments_replays_the_same() {
    let dir = temp_dir("recover-crash");
    fs::create_dir_all(&dir).unwrap();
    write_segment(&dir, 1, &[1, 2, 3]);
    write_segment(&dir, 2, &[4, 5]);
    let second = frame_offsets(&segment_one(&dir))[1];
    flip(&segment_one(&dir), second + 14);
    let (wal, recovered) = recovering(&dir).unwrap();
    drop(wal);
    assert_eq!(names(&recovered), ["cm-1"]);
    assert!(recovered.revision >= 5);
    // The crash: segment 2 was not removed yet (its original is aside).
    let aside = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap();
    let two = files::segment(&dir, 2);
    fs::copy(aside.join(two.file_name().unwrap()), &two).unwrap();
    let (_, again) = open(&dir).unwrap();
    assert_eq!(names(&again), ["cm-1"]);
    assert_eq!(again.revision, recovered.revision);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_compaction_that_cannot_start_its_segment_is_tried_again_later() {
    let dir = temp_dir("compact-retry");
    let (mut wal, _) = Wal::open(
        &dir,
        Options {
            compaction_min_bytes: 2048,
            ..Options::default()
        },
    )
    .unwrap();
    // Something else holds the name of the next segment.
    let blocker = files::segment(&dir, 2);
    fs::write(&blocker, b"not ours").unwrap();
    let mut rv = 0;
    let snapshot = |rv| Snapshot {
        revision: rv,
        objects: Vec::new(),
    };
    while !wal.wants_compaction() {
        rv += 1;
        put(&mut wal, rv, "a");
    }
    assert!(wal.compact(snapshot(rv)).is_err());
    assert_eq!(
        fs::read(&blocker).unwrap(),
        b"not ours",
        "never overwritten"
    );
    rv += 1;
    put(&mut wal, rv, "a");
    assert!(!wal.wants_compaction(), "tried again on the next write");
    // An empty file of that name (an earlier attempt) is taken over.
    fs::write(&blocker, b"").unwrap();
    while !wal.wants_compaction() {
        rv += 1;
        put(&mut wal, rv, "a");
    }
    wal.compact(snapshot(rv)).unwrap();
    wal.wait_for_compaction();
    assert_eq!(wal.seq, 2);
    drop(wal);
    let (_, restored) = open(&dir).unwrap();
    assert_eq!(restored.revision, rv);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_snapshot_whose_header_is_lost_is_rebuilt_and_starts_again_normally() {
    for keep_high_water in [true, false] {
        let dir = temp_dir(&format!("snapshot-header-{keep_high_water}"));
        drop(compacted(&dir, 100));
        let snapshot = dir.join(files::SNAPSHOT);
        let (_, before) = open(&dir).unwrap();
        let high_water = files::read_high_water(&dir).unwrap();
        assert!(high_water > 0 && high_water < 100, "{high_water}");
        if !keep_high_water {
            fs::remove_file(dir.join(files::HIGH_WATER)).unwrap();
        }
        flip(&snapshot, 5);
        assert!(open(&dir).is_err(), "a snapshot without its header opened");
        let (mut wal, recovered) = recovering(&dir).unwrap();
        // Everything the log after the snapshot holds is there; revisions
        // never go back, not even below the lost header's.
        assert!(recovered.revision >= before.revision);
        if !keep_high_water {
            assert!(recovered.revision > 1_000_000_000, "{}", recovered.revision);
        }
        assert!(!recovered.objects.is_empty());
        let next = recovered.revision + 1;
        put(&mut wal, next, "after");
        drop(wal);
        // A normal start afterwards: the same objects, the write after it.
        let (_, again) = open(&dir).unwrap();
        assert_eq!(again.revision, next);
        assert_eq!(again.objects.len(), recovered.objects.len() + 1);
        fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn a_revision_that_goes_back_refuses_to_start() {
    let dir = temp_dir("revision-back");
    fs::create_dir_all(&dir).unwrap();
    write_segment(&dir, 1, &[1, 2, 2]);
    let third = frame_offsets(&segment_one(&dir))[2];
    let e = open(&dir).err().expect("a log going back opened");
    assert!(
        e.to_string().contains(&format!(
            "damaged at byte {third}: revision 2 follows revision 2"
        )),
        "{e}"
    );
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_second_recovery_stays_above_the_first_ones_jump() {
    let dir = temp_dir("recover-twice");
    fs::create_dir_all(&dir).unwrap();
    write_segment(&dir, 1, &[1, 2, 3, 4, 5]);
    let offsets = frame_offsets(&segment_one(&dir));
    flip(&segment_one(&dir), offsets[3] + 20);
    let (mut wal, first) = recovering(&dir).unwrap();
    let jump = first.revision;
    put(&mut wal, jump + 1, "x");
    put(&mut wal, jump + 2, "y");
    drop(wal);
    // Damage before the first recovery's revision record.
    flip(&segment_one(&dir), offsets[1] + 20);
    let (_, second) = recovering(&dir).unwrap();
    assert!(
        second.revision >= jump + 2,
        "{} < {}",
        second.revision,
        jump + 2
    );
    let (_, again) = open(&dir).unwrap();
    assert_eq!(again.revision, second.revision);
    fs::remove_dir_all(&dir).unwrap();
}
