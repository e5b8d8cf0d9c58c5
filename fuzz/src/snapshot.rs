//! Target: the snapshot reader, `strata_engine::snapshot::load_image`, which startup runs on
//! the snapshot file: whatever the file holds, loading must not panic or allocate beyond what
//! the input can justify (compressed blocks claim their raw length; it is checked against
//! lz4's largest expansion first), and a refusal must say where the damage is.

use rand::rngs::SmallRng;
use rand::Rng;
use strata_engine::snapshot::{encode_image, load_image};
use strata_engine::{Engine, EngineConfig};

use crate::effect::random_effect;

pub const DICTIONARY: &[&[u8]] = &[
    b"STRATASN",
    b"\x02\x00\x00\x00",
    b"\x00\x00\x00\x00",
    b"\xff\xff\xff\xff",
    b"\x00",
    b"\x01",
];

pub fn check(data: &[u8]) {
    let eng = Engine::open(
        EngineConfig {
            databases: 16,
            shards: 2,
            ..Default::default()
        },
        None,
    );
    match load_image(&eng, data, "fuzz") {
        Ok(l) => {
            let seq = u64::from_le_bytes(data[12..20].try_into().expect("a header"));
            assert_eq!(l.seq, seq, "the loaded sequence must be the header's");
        }
        Err(e) => assert!(
            e.contains("is damaged at offset"),
            "unexplained refusal: {e}"
        ),
    }
}

/// A well-formed snapshot of a few records of random effects (which may not apply: the
/// reader must then refuse, not panic).
pub fn generate(rng: &mut SmallRng) -> Vec<u8> {
    let records: Vec<Vec<_>> = (0..rng.gen_range(0..4))
        .map(|_| {
            let n = rng.gen_range(0..4);
            let one = random_effect(rng);
            // Repeats make some records compressible, so both codecs are exercised.
            (0..n).map(|_| one.clone()).collect()
        })
        .collect();
    encode_image(rng.gen_range(0..1000), records.len() as u64, &records)
}
