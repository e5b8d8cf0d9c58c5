//! Target: the effect codec, `strata_engine::effect::{decode, encode}`: the record format of the
//! write-ahead log, so its decoder reads whatever a torn or corrupted file holds.
//!
//! [`check`] decodes the input as one record and as a log of records back to back. For a record
//! that decodes it checks: it used at most the input; re-encoding gives at most that many bytes
//! (the same bytes when as many: only over-long varints may differ) and decodes to the same
//! effect; every proper prefix of it is `Truncated`. For a refused input it checks the error
//! names the right cause where that is knowable (an unknown tag, an empty input).

use rand::rngs::SmallRng;
use rand::Rng;
use strata_engine::effect::{decode, encode, DecodeError, Effect};

use crate::{input_rng, show};

/// The highest record tag the codec knows (ZREM).
const LAST_TAG: u8 = 26;

pub const DICTIONARY: &[&[u8]] = &[
    b"\x00",
    b"\x01",
    b"\x02",
    b"\x05",
    b"\x06",
    b"\x0a",
    b"\x0b",
    b"\x0d",
    b"\x0e",
    b"\xff",
    b"\x80\x00",
    b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
    b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02",
    b"\xff\xff\xff\xff\x0f",
    b"\xff\xff\xff\xff\x10",
];

pub fn check(data: &[u8]) {
    match decode(data) {
        Ok((effect, used)) => check_record(data, &effect, used),
        Err(DecodeError::UnknownTag(tag)) => {
            assert_eq!(data.first(), Some(&tag), "UnknownTag names another byte");
            assert!(
                tag == 0 || tag > LAST_TAG,
                "tag {tag} is known but was refused"
            );
        }
        Err(e) => assert!(
            !data.is_empty() || e == DecodeError::Truncated,
            "an empty input must be Truncated, not {e:?}"
        ),
    }

    // As a log reader does: records back to back until one does not decode.
    let mut pos = 0;
    while pos < data.len() {
        match decode(&data[pos..]) {
            Ok((_, used)) => {
                assert!(
                    used > 0 && used <= data.len() - pos,
                    "decode claims {used} bytes of {}",
                    data.len() - pos
                );
                pos += used;
            }
            Err(_) => break,
        }
    }
}

fn check_record(data: &[u8], effect: &Effect, used: usize) {
    assert!(
        (1..=data.len()).contains(&used),
        "decode claims {used} bytes of {}",
        data.len()
    );
    let record = &data[..used];
    let mut encoded = Vec::new();
    encode(effect, &mut encoded);
    assert!(
        encoded.len() <= used,
        "{effect:?} re-encodes to {} bytes, more than the {used} it was decoded from",
        encoded.len()
    );
    if encoded.len() == used {
        assert!(
            encoded == record,
            "{effect:?} decoded from {} re-encodes to {}",
            show(record),
            show(&encoded)
        );
    }
    assert_eq!(
        decode(&encoded),
        Ok((effect.clone(), encoded.len())),
        "the re-encoding of {effect:?} does not decode back to it"
    );
    assert_eq!(
        decode(record),
        Ok((effect.clone(), used)),
        "bytes after the record changed how it decodes"
    );

    // encode appends; it does not overwrite what is there.
    let mut appended = vec![0xa5];
    encode(effect, &mut appended);
    assert!(appended[0] == 0xa5 && appended[1..] == encoded[..]);

    // Every proper prefix stops short inside some field.
    let mut rng = input_rng(data);
    let cuts: Vec<usize> = if used <= 32 {
        (0..used).collect()
    } else {
        (0..8).map(|_| rng.gen_range(0..used)).collect()
    };
    for cut in cuts {
        assert_eq!(
            decode(&record[..cut]),
            Err(DecodeError::Truncated),
            "the first {cut} bytes of {}",
            show(record)
        );
    }
}

/// One to four encoded effects back to back.
pub fn generate(rng: &mut SmallRng) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..rng.gen_range(1..=4) {
        encode(&random_effect(rng), &mut out);
    }
    out
}

/// An effect of any kind with values chosen to sit on varint and type boundaries.
pub fn random_effect(rng: &mut SmallRng) -> Effect {
    match rng.gen_range(0..26) {
        0 => Effect::Set {
            db: random_db(rng),
            key: random_bytes(rng),
            value: random_bytes(rng),
            expire_at: random_u64(rng),
            keep_ttl: rng.gen(),
        },
        1 => Effect::Del {
            db: random_db(rng),
            key: random_bytes(rng),
        },
        2 => Effect::Expire {
            db: random_db(rng),
            key: random_bytes(rng),
            at: random_u64(rng),
        },
        3 => Effect::Persist {
            db: random_db(rng),
            key: random_bytes(rng),
        },
        4 => Effect::Rename {
            db: random_db(rng),
            src: random_bytes(rng),
            dst: random_bytes(rng),
        },
        5 => Effect::Copy {
            src_db: random_db(rng),
            src: random_bytes(rng),
            dst_db: random_db(rng),
            dst: random_bytes(rng),
            replace: rng.gen(),
        },
        6 => Effect::Move {
            db: random_db(rng),
            key: random_bytes(rng),
            dst_db: random_db(rng),
        },
        7 => Effect::SwapDb {
            a: random_db(rng),
            b: random_db(rng),
        },
        8 => Effect::FlushDb { db: random_db(rng) },
        9 => Effect::FlushAll,
        10 => Effect::IncrBy {
            db: random_db(rng),
            key: random_bytes(rng),
            by: random_i64(rng),
        },
        11 => Effect::Append {
            db: random_db(rng),
            key: random_bytes(rng),
            data: random_bytes(rng),
        },
        12 => Effect::SetRange {
            db: random_db(rng),
            key: random_bytes(rng),
            offset: random_u64(rng),
            data: random_bytes(rng),
        },
        13 => Effect::HSet {
            db: random_db(rng),
            key: random_bytes(rng),
            pairs: (0..rng.gen_range(0..4))
                .map(|_| (random_bytes(rng), random_bytes(rng)))
                .collect(),
        },
        14 => Effect::HDel {
            db: random_db(rng),
            key: random_bytes(rng),
            fields: random_list(rng),
        },
        15 => Effect::HExpire {
            db: random_db(rng),
            key: random_bytes(rng),
            fields: (0..rng.gen_range(0..4))
                .map(|_| (random_bytes(rng), random_u64(rng)))
                .collect(),
        },
        16 => Effect::ListPush {
            db: random_db(rng),
            key: random_bytes(rng),
            left: rng.gen(),
            elems: random_list(rng),
        },
        17 => Effect::ListPop {
            db: random_db(rng),
            key: random_bytes(rng),
            left: rng.gen(),
            count: random_u64(rng),
        },
        18 => Effect::ListSet {
            db: random_db(rng),
            key: random_bytes(rng),
            index: random_u64(rng),
            elem: random_bytes(rng),
        },
        19 => Effect::ListTrim {
            db: random_db(rng),
            key: random_bytes(rng),
            start: random_i64(rng),
            end: random_i64(rng),
        },
        20 => Effect::ListRem {
            db: random_db(rng),
            key: random_bytes(rng),
            count: random_i64(rng),
            elem: random_bytes(rng),
        },
        21 => Effect::ListInsert {
            db: random_db(rng),
            key: random_bytes(rng),
            before: rng.gen(),
            pivot: random_bytes(rng),
            elem: random_bytes(rng),
        },
        22 => Effect::SAdd {
            db: random_db(rng),
            key: random_bytes(rng),
            members: random_list(rng),
        },
        23 => Effect::SRem {
            db: random_db(rng),
            key: random_bytes(rng),
            members: random_list(rng),
        },
        24 => Effect::ZAdd {
            db: random_db(rng),
            key: random_bytes(rng),
            pairs: (0..rng.gen_range(0..4))
                .map(|_| {
                    let s = match rng.gen_range(0..4) {
                        0 => f64::INFINITY,
                        1 => f64::NEG_INFINITY,
                        2 => -0.0,
                        _ => rng.gen::<f64>() * 1e6 - 5e5,
                    };
                    (random_bytes(rng), s)
                })
                .collect(),
        },
        _ => Effect::ZRem {
            db: random_db(rng),
            key: random_bytes(rng),
            members: random_list(rng),
        },
    }
}

fn random_list(rng: &mut SmallRng) -> Vec<Vec<u8>> {
    (0..rng.gen_range(0..4))
        .map(|_| random_bytes(rng))
        .collect()
}

fn random_db(rng: &mut SmallRng) -> u32 {
    const EDGES: &[u32] = &[127, 128, 16_383, 16_384, u32::MAX];
    match rng.gen_range(0..6) {
        0 => rng.gen(),
        1 => EDGES[rng.gen_range(0..EDGES.len())],
        _ => rng.gen_range(0..16),
    }
}

fn random_u64(rng: &mut SmallRng) -> u64 {
    const EDGES: &[u64] = &[
        0,
        1,
        127,
        128,
        16_383,
        16_384,
        1_700_000_000_000,
        (1 << 56) - 1,
        1 << 56,
        (1 << 63) - 1,
        1 << 63,
        u64::MAX,
    ];
    match rng.gen_range(0..3) {
        0 => EDGES[rng.gen_range(0..EDGES.len())],
        1 => rng.gen::<u64>() >> rng.gen_range(0..64),
        _ => rng.gen(),
    }
}

fn random_i64(rng: &mut SmallRng) -> i64 {
    const EDGES: &[i64] = &[0, 1, -1, 63, -64, 64, -65, i64::MAX, i64::MIN, i64::MIN + 1];
    match rng.gen_range(0..3) {
        0 => EDGES[rng.gen_range(0..EDGES.len())],
        1 => rng.gen::<i64>() >> rng.gen_range(0..64),
        _ => rng.gen(),
    }
}

fn random_bytes(rng: &mut SmallRng) -> Vec<u8> {
    let len = match rng.gen_range(0..10) {
        0 => 0,
        1 => rng.gen_range(100..300),
        _ => rng.gen_range(1..16),
    };
    (0..len).map(|_| rng.gen()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn generated_logs_decode_back_to_their_effects() {
        let mut rng = SmallRng::seed_from_u64(5);
        for _ in 0..500 {
            let effects: Vec<Effect> = (0..rng.gen_range(1..5))
                .map(|_| random_effect(&mut rng))
                .collect();
            let mut log = Vec::new();
            for e in &effects {
                encode(e, &mut log);
            }
            let mut decoded = Vec::new();
            let mut pos = 0;
            while pos < log.len() {
                let (e, used) = decode(&log[pos..]).expect("a generated record decodes");
                decoded.push(e);
                pos += used;
            }
            assert_eq!(decoded, effects);
            check(&log);
        }
    }
}
