//! Target: the write-ahead log reader, `strata_engine::wal::scan`, which applies recovery's
//! rules to a segment image: whatever a torn or corrupted file holds, it must not panic or
//! allocate beyond the input, and what it accepts must be what was written.
//!
//! [`check`] scans the input; the records it returns must number consecutively from the
//! header's first sequence number, and when nothing stopped the scan, framing those records
//! again must give back exactly the input.

use rand::rngs::SmallRng;
use rand::Rng;
use strata_engine::wal::{encode_payload, file_header, frame, scan, FILE_HEADER};

use crate::effect::random_effect;

pub const DICTIONARY: &[&[u8]] = &[
    b"STRATAWL",
    b"\x01\x00\x00\x00",
    b"\x00\x00\x00\x00",
    b"\xff\xff\xff\xff",
    b"\x00",
    b"\x01",
    b"\x19",
];

pub fn check(data: &[u8]) {
    let s = scan(data);
    if !s.header_ok {
        assert!(s.records.is_empty());
        return;
    }
    let first = u64::from_le_bytes(data[12..20].try_into().expect("8"));
    for (i, (seq, _)) in s.records.iter().enumerate() {
        assert_eq!(
            *seq,
            first.wrapping_add(i as u64),
            "sequence numbers must be consecutive"
        );
    }
    if s.stop.is_none() {
        let mut again = file_header(first).to_vec();
        for (seq, effects) in &s.records {
            frame(*seq, &encode_payload(effects), &mut again);
        }
        assert_eq!(
            again, data,
            "an accepted segment must re-frame to the same bytes"
        );
    } else if let Some((off, _)) = s.stop {
        assert!(off >= FILE_HEADER && off < data.len());
    }
}

/// A well-formed segment of a few records of random effects.
pub fn generate(rng: &mut SmallRng) -> Vec<u8> {
    let first = match rng.gen_range(0..3) {
        0 => 1,
        1 => rng.gen_range(1..1_000_000),
        _ => u64::MAX - 2,
    };
    let mut out = file_header(first).to_vec();
    for i in 0..rng.gen_range(0..4u64) {
        let effects: Vec<_> = (0..rng.gen_range(0..3))
            .map(|_| random_effect(rng))
            .collect();
        frame(first.wrapping_add(i), &encode_payload(&effects), &mut out);
    }
    out
}
