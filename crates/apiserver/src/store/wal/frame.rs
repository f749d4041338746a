//! The on-disk frame every log and snapshot record is written in, and the scan
//! that tells a torn tail from damage.
//!
//! A frame is a 12-byte header and a payload:
//!
//! ```text
//! +----------------+----------------------+----------------------------+---------+
//! | len: u32 LE    | payload CRC-32C: u32 | header CRC-32C: u32        | payload |
//! | payload bytes  | of the payload       | of the first eight bytes   |         |
//! +----------------+----------------------+----------------------------+---------+
//! ```
//!
//! The header carries its own checksum so a damaged length is seen as damage,
//! never mistaken for a record that runs past the end of the file. Scanning
//! stops at the first frame that is not whole and sound:
//! - **torn**: what an append cut short by a crash leaves, and nothing else
//!   can: the file ends inside a frame whose header is sound (or inside the
//!   header itself); or everything from the frame on is zero bytes, no more
//!   than one write could have been ([`MAX_TORN_ZEROS`]: a file system that
//!   extended the file before writing its data); or the last frame ends at
//!   the end of the file, its payload checksum fails and one of its pieces
//!   between sector boundaries is all zeros (a frame only partly written,
//!   as etcd's `isTornEntry` judges it; a last acknowledged frame zeroed
//!   that way by a failing disk would be taken for torn too, as by etcd). Only the last append, never acknowledged, can end like that.
//! - **damaged**: a header or payload checksum does not match. Anything else
//!   in the middle of a log, or in the last complete frame, is damage.

/// Bytes before the payload.
pub(crate) const HEADER: usize = 12;

/// Frames larger than this are not written (a record is one write's objects,
/// each at most the 1.5 MiB etcd accepts), and a header claiming more is damage.
pub(crate) const MAX_PAYLOAD: usize = 1 << 30;

/// The longest run of zero bytes at the end of a log that is taken for one
/// append cut short: the largest object etcd stores (1.5 MiB) twice over,
/// with room for the rest of a write, rounded to pages. A longer run would
/// be more than one write lost: damage. (A write larger than this that is cut
/// short is refused as damage too, which is safe: recovery keeps the rest.)
pub(crate) const MAX_TORN_ZEROS: usize = 4 << 20;

/// The unit a disk writes whole, or not at all.
const SECTOR: usize = 512;

/// `payload` framed.
pub(crate) fn encode(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + payload.len());
    // Payloads are bounded by MAX_PAYLOAD (< u32::MAX), checked by the caller.
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(payload).to_le_bytes());
    let header_crc = crc32c::crc32c(&out[..8]);
    out.extend_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// How a scan ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum End {
    /// Every byte belongs to a whole, sound frame.
    Clean,
    /// An incomplete frame starts at this offset and runs to the end.
    Torn { offset: u64 },
    /// The frame at this offset is damaged: why.
    Damaged { offset: u64, why: String },
}

/// The sound frames of a file, and how the scan ended.
pub(crate) struct Scan<'a> {
    /// Each frame's offset and payload, in file order.
    pub(crate) frames: Vec<(u64, &'a [u8])>,
    /// How the scan ended.
    pub(crate) end: End,
}

/// Splits `bytes` into frames, stopping at the first one that is not sound.
pub(crate) fn scan(bytes: &[u8]) -> Scan<'_> {
    let mut frames = Vec::new();
    let mut at = 0usize;
    let end = loop {
        let rest = &bytes[at..];
        if rest.is_empty() {
            break End::Clean;
        }
        let offset = at as u64;
        if rest.iter().all(|b| *b == 0) {
            if rest.len() <= MAX_TORN_ZEROS {
                break End::Torn { offset };
            }
            break End::Damaged {
                offset,
                why: format!(
                    "the log ends with {} zero bytes, more than one write",
                    rest.len()
                ),
            };
        }
        if rest.len() < HEADER {
            break End::Torn { offset };
        }
        let word = |i: usize| u32::from_le_bytes([rest[i], rest[i + 1], rest[i + 2], rest[i + 3]]);
        let (len, payload_crc, header_crc) = (word(0), word(4), word(8));
        if crc32c::crc32c(&rest[..8]) != header_crc {
            break End::Damaged {
                offset,
                why: "the record header's checksum does not match".into(),
            };
        }
        let len = len as usize;
        if len > MAX_PAYLOAD {
            break End::Damaged {
                offset,
                why: format!("the record header claims {len} bytes"),
            };
        }
        if rest.len() < HEADER + len {
            break End::Torn { offset };
        }
        let payload = &rest[HEADER..HEADER + len];
        if crc32c::crc32c(payload) != payload_crc {
            if rest.len() == HEADER + len && has_zero_chunk(bytes, at + HEADER, bytes.len()) {
                break End::Torn { offset };
            }
            break End::Damaged {
                offset,
                why: "the record's checksum does not match".into(),
            };
        }
        frames.push((offset, payload));
        at += HEADER + len;
    };
    Scan { frames, end }
}

/// Whether a piece of `from..to`, cut at the file's sector boundaries (the
/// partial pieces at both ends included), is all zeros: what a write that
/// reached the disk only in part leaves, as etcd's `isTornEntry` judges it.
/// Payloads are JSON, which has no zero byte, so no written piece is zeros.
fn has_zero_chunk(bytes: &[u8], from: usize, to: usize) -> bool {
    let mut start = from;
    while start < to {
        let end = ((start / SECTOR + 1) * SECTOR).min(to);
        if bytes[start..end].iter().all(|b| *b == 0) {
            return true;
        }
        start = end;
    }
    false
}

/// The payloads of every sound frame in `bytes`, found by their checksums
/// wherever they start: what can still be read past damage.
pub(crate) fn salvage(bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at + HEADER <= bytes.len() {
        let rest = &bytes[at..];
        let word = |i: usize| u32::from_le_bytes([rest[i], rest[i + 1], rest[i + 2], rest[i + 3]]);
        let len = word(0) as usize;
        let sound = crc32c::crc32c(&rest[..8]) == word(8)
            && len <= MAX_PAYLOAD
            && rest.len() >= HEADER + len
            && crc32c::crc32c(&rest[HEADER..HEADER + len]) == word(4);
        if sound {
            out.push(&rest[HEADER..HEADER + len]);
            at += HEADER + len;
        } else {
            at += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(payloads: &[&[u8]]) -> Vec<u8> {
        payloads.iter().flat_map(|p| encode(p)).collect()
    }

    #[test]
    fn whole_frames_scan_clean() {
        let bytes = file(&[b"one", b"", b"three"]);
        let s = scan(&bytes);
        assert_eq!(s.end, End::Clean);
        let payloads: Vec<&[u8]> = s.frames.iter().map(|(_, p)| *p).collect();
        assert_eq!(payloads, [&b"one"[..], b"", b"three"]);
        assert_eq!(s.frames[1].0, (HEADER + 3) as u64);
    }

    #[test]
    fn a_file_ending_inside_the_last_frame_is_torn_there() {
        let bytes = file(&[b"one", b"two"]);
        let second = (HEADER + 3) as u64;
        for cut in [
            bytes.len() - 1,
            second as usize + HEADER,
            second as usize + 5,
        ] {
            let s = scan(&bytes[..cut]);
            assert_eq!(s.end, End::Torn { offset: second }, "cut at {cut}");
            assert_eq!(s.frames.len(), 1);
        }
        // Zeros where the last frame should be: extended, never written.
        let mut zeros = file(&[b"one"]);
        zeros.extend_from_slice(&[0; 40]);
        assert_eq!(scan(&zeros).end, End::Torn { offset: second });
    }

    #[test]
    fn zeros_are_torn_only_where_one_write_could_have_left_them() {
        let one = file(&[b"one"]);
        let second = one.len() as u64;
        // More zeros than one write: acknowledged records may be under them.
        let mut long = one.clone();
        long.resize(one.len() + MAX_TORN_ZEROS + 1, 0);
        assert!(
            matches!(scan(&long).end, End::Damaged { offset, .. } if offset == second),
            "{:?}",
            scan(&long).end
        );
        let mut short = one.clone();
        short.resize(one.len() + MAX_TORN_ZEROS, 0);
        assert_eq!(scan(&short).end, End::Torn { offset: second });

        // A last frame whose length made it to disk but part of whose payload
        // did not: a zeroed sector inside it.
        let big = vec![7u8; 3 * SECTOR];
        let mut partly = file(&[b"one", &big]);
        let n = partly.len();
        let sector = (second as usize + HEADER).div_ceil(SECTOR) * SECTOR;
        partly[sector..sector + SECTOR].fill(0);
        assert_eq!(scan(&partly).end, End::Torn { offset: second });
        // The same frame with a flipped byte instead is damage.
        let mut flipped = file(&[b"one", &big]);
        flipped[n - 1] ^= 1;
        assert!(matches!(scan(&flipped).end, End::Damaged { .. }));
        // A small frame crossing a sector boundary, its second part unwritten.
        let mut small = file(&[&[7u8; 400], &[8u8; 300]]);
        let second_small = HEADER + 400;
        let boundary = SECTOR;
        assert!(second_small < boundary && small.len() > boundary);
        let n_small = small.len();
        small[boundary..n_small].fill(0);
        assert_eq!(
            scan(&small).end,
            End::Torn {
                offset: second_small as u64
            }
        );
        // And a zeroed sector in a frame that is not the last is damage.
        let mut middle = file(&[b"one", &big, b"three"]);
        middle[sector..sector + SECTOR].fill(0);
        assert!(matches!(scan(&middle).end, End::Damaged { offset, .. } if offset == second));
    }

    #[test]
    fn salvage_finds_sound_frames_past_damage() {
        let mut bytes = file(&[b"one", b"two", b"three"]);
        bytes[HEADER + 1] ^= 1;
        assert_eq!(salvage(&bytes), [&b"two"[..], b"three"]);
        assert!(salvage(&[0u8; 5]).is_empty());
    }

    #[test]
    fn any_changed_byte_of_a_complete_frame_is_damage_at_that_frame() {
        let bytes = file(&[b"one", b"two", b"three"]);
        let second = HEADER + 3;
        for i in second..second + HEADER + 3 {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0x20;
            let s = scan(&damaged);
            assert!(
                matches!(s.end, End::Damaged { offset, .. } if offset == second as u64),
                "byte {i}: {:?}",
                s.end
            );
            assert_eq!(s.frames.len(), 1, "byte {i}");
        }
        // The last complete frame too.
        let mut last = bytes.clone();
        let n = last.len();
        last[n - 1] ^= 1;
        assert!(matches!(scan(&last).end, End::Damaged { .. }));
    }
}
