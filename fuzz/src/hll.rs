//! Target: HyperLogLog on arbitrary strings, `strata_engine::types::hll`. An HLL is an ordinary
//! string that a client can `SET` to anything, so PFADD, PFCOUNT and PFMERGE must treat every byte
//! as hostile.
//!
//! The input is framed (see [`frame`]): a flags byte, `hll-sparse-max-bytes` (u16), an element
//! count, then up to three values each with a u16 length, then the elements. For each value
//! [`check`] compares the header check with its own, and the registers that PFCOUNT, PFMERGE and
//! PFADD work on with [`registers`], an independent decoder of both encodings:
//! - PFCOUNT returns the cached cardinality when it is valid, otherwise recomputes it, stores it
//!   and touches nothing else; the recomputed value equals a one-key union;
//! - PFMERGE into a new key keeps the registers exactly, and of two keys takes their maximum;
//! - PFADD only raises registers, at most one per element, reports a change exactly when it made
//!   one, is idempotent, and keeps a sparse value within `hll-sparse-max-bytes` (or its old size);
//! - a refused value is refused with the right error and left unchanged.

use rand::rngs::SmallRng;
use rand::Rng;
use strata_engine::error::{HLL_INVALID, HLL_WRONGTYPE};
use strata_engine::types::hll::{add, count, count_union, merge, new_sparse, validate};

use crate::input::Input;
use crate::show;

const REGISTERS: usize = 16384;
const HEADER: usize = 16;
const DENSE_LEN: usize = HEADER + REGISTERS * 6 / 8;
const ENCODING_AT: usize = 4;
const CARD_AT: usize = 8;
/// The byte whose top bit marks the cached cardinality invalid.
const CACHE_FLAG_AT: usize = 15;
const CACHE_INVALID: u8 = 0x80;

pub const DICTIONARY: &[&[u8]] = &[
    b"HYLL",
    b"HYLL\x00",
    b"HYLL\x01",
    b"\x00",
    b"\x01",
    b"\x80",
    b"\x7f\xff",
    b"\x40\x00",
    b"\xfc",
    b"\xff",
];

pub fn check(data: &[u8]) {
    let mut input = Input::new(data);
    let flags = input.byte();
    let sparse_max = usize::from(input.u16());
    let element_count = usize::from(input.byte() % 17);
    let mut values: Vec<Vec<u8>> = Vec::new();
    for k in 0..3 {
        if input.is_empty() {
            break;
        }
        let len = usize::from(input.u16());
        let mut value = input.bytes(len).to_vec();
        // Flag bit k marks value k's cache invalid, so PFCOUNT really walks it.
        if flags & (1 << k) != 0 {
            if let Some(b) = value.get_mut(CACHE_FLAG_AT) {
                *b |= CACHE_INVALID;
            }
        }
        values.push(value);
    }
    let elements: Vec<&[u8]> = (0..element_count)
        .map(|_| {
            let len = usize::from(input.byte() % 9);
            input.bytes(len)
        })
        .collect();

    for value in &values {
        check_value(value, &elements, sparse_max);
    }
    if let [a, b, ..] = values.as_slice() {
        check_merge(a, b, sparse_max);
    }
    check_union(&values);
}

/// Builds an input for [`check`].
pub fn frame(
    flags: u8,
    sparse_max: u16,
    element_count: u8,
    values: &[Vec<u8>],
    elements: &[Vec<u8>],
) -> Vec<u8> {
    let mut out = vec![flags];
    out.extend_from_slice(&sparse_max.to_le_bytes());
    out.push(element_count);
    for value in values.iter().take(3) {
        let len = value.len().min(usize::from(u16::MAX));
        out.extend_from_slice(&(len as u16).to_le_bytes());
        out.extend_from_slice(&value[..len]);
    }
    for element in elements {
        let len = element.len().min(8);
        out.push(len as u8);
        out.extend_from_slice(&element[..len]);
    }
    out
}

fn header_is_valid(v: &[u8]) -> bool {
    v.len() >= HEADER
        && v.starts_with(b"HYLL")
        && (v[ENCODING_AT] == 1 || (v[ENCODING_AT] == 0 && v.len() == DENSE_LEN))
}

fn is_dense(v: &[u8]) -> bool {
    v[ENCODING_AT] == 0
}

fn cached_card(v: &[u8]) -> u64 {
    let mut card = [0u8; 8];
    card.copy_from_slice(&v[CARD_AT..CARD_AT + 8]);
    u64::from_le_bytes(card)
}

/// The 16384 registers of an HLL whose header is valid, or None when a sparse body does not
/// cover exactly 16384 registers (or a value run passes the end). Dense: 6-bit registers packed
/// LSB first. Sparse: `00xxxxxx` ZERO of x+1, `01xxxxxx yyyyyyyy` XZERO of (x<<8|y)+1 (a missing
/// last byte reads as 0, as Redis reads the string's terminating NUL), `1vvvvvxx` VAL of x+1
/// registers holding v+1.
pub fn registers(hll: &[u8]) -> Option<Vec<u8>> {
    let body = hll.get(HEADER..)?;
    let mut regs = vec![0u8; REGISTERS];
    if is_dense(hll) {
        for (i, r) in regs.iter_mut().enumerate() {
            let bit = i * 6;
            let lo = u16::from(body.get(bit / 8).copied().unwrap_or(0));
            let hi = u16::from(body.get(bit / 8 + 1).copied().unwrap_or(0));
            *r = (((lo | (hi << 8)) >> (bit % 8)) & 63) as u8;
        }
        return Some(regs);
    }
    let mut at = 0;
    let mut first = 0usize;
    while at < body.len() {
        let op = body[at];
        let (value, len, size) = match op >> 6 {
            0 => (0, usize::from(op & 63) + 1, 1),
            1 => {
                let low = usize::from(body.get(at + 1).copied().unwrap_or(0));
                (0, ((usize::from(op & 63) << 8) | low) + 1, 2)
            }
            _ => (((op >> 2) & 31) + 1, usize::from(op & 3) + 1, 1),
        };
        if value > 0 {
            if first + len > REGISTERS {
                return None;
            }
            regs[first..first + len].fill(value);
        }
        first += len;
        at += size;
    }
    (first == REGISTERS).then_some(regs)
}

fn check_value(value: &[u8], elements: &[&[u8]], sparse_max: usize) {
    let header_ok = header_is_valid(value);
    assert_eq!(
        validate(value).is_ok(),
        header_ok,
        "validate disagrees about the header of {}",
        show(&value[..value.len().min(HEADER)])
    );
    if !header_ok {
        check_refused(value, elements, sparse_max);
        return;
    }
    let regs = registers(value);

    // PFCOUNT with the cache as found.
    let cache_valid = value[CACHE_FLAG_AT] & CACHE_INVALID == 0;
    let mut counted = value.to_vec();
    match count(&mut counted) {
        Ok((n, changed)) if cache_valid => {
            assert!(!changed, "PFCOUNT recomputed a valid cache");
            assert_eq!(n, cached_card(value), "PFCOUNT ignored a valid cache");
            assert!(
                counted == value,
                "PFCOUNT changed an HLL with a valid cache"
            );
        }
        Ok((n, changed)) => {
            assert!(
                changed,
                "PFCOUNT did not report storing the recomputed cache"
            );
            assert!(
                counted[..CARD_AT] == value[..CARD_AT] && counted[HEADER..] == value[HEADER..],
                "PFCOUNT changed more than the cached cardinality"
            );
            assert_eq!(
                counted[CARD_AT..HEADER],
                n.to_le_bytes(),
                "cache not stored"
            );
            let mut again = counted.clone();
            assert_eq!(
                count(&mut again).map(|(m, _)| m),
                Ok(n),
                "a second PFCOUNT disagrees"
            );
        }
        Err(e) => {
            assert_eq!(e, HLL_INVALID);
            assert!(
                !cache_valid && !is_dense(value),
                "PFCOUNT refused a dense HLL"
            );
            assert!(counted == value, "a refused PFCOUNT changed the value");
        }
    }

    // The recomputed count is the union of one key, and is possible exactly when the registers
    // decode.
    let mut forced = value.to_vec();
    forced[CACHE_FLAG_AT] |= CACHE_INVALID;
    let recomputed = count(&mut forced).map(|(n, _)| n);
    let union = count_union(&[value]);
    assert_eq!(recomputed, union, "PFCOUNT and a one-key union disagree");
    assert_eq!(
        union.is_ok(),
        regs.is_some(),
        "count_union and the reference decoder disagree on whether the registers are sound: \
         {union:?}"
    );
    if regs.as_ref().is_some_and(|r| r.iter().all(|&x| x == 0)) {
        assert_eq!(union, Ok(0), "an empty HLL does not count 0");
    }

    // PFMERGE into a new key keeps the registers.
    match merge(None, &[value], sparse_max) {
        Ok(merged) => {
            assert!(validate(&merged).is_ok(), "PFMERGE wrote an invalid header");
            assert!(registers(&merged) == regs, "PFMERGE changed the registers");
            if is_dense(value) {
                assert!(is_dense(&merged), "PFMERGE of a dense HLL came out sparse");
            } else if !is_dense(&merged) {
                assert!(
                    merged.len() <= sparse_max.max(new_sparse().len()),
                    "a sparse PFMERGE result of {} bytes is over hll-sparse-max-bytes {sparse_max}",
                    merged.len()
                );
            }
            assert_eq!(merged[CACHE_FLAG_AT] & CACHE_INVALID, CACHE_INVALID);
            let mut m = merged.clone();
            assert_eq!(
                count(&mut m).map(|(n, _)| n),
                union,
                "PFMERGE changed the count"
            );
        }
        Err(e) => {
            assert_eq!(e, HLL_INVALID);
            assert!(union.is_err(), "PFMERGE refused what count_union accepts");
        }
    }

    // PFADD.
    let mut added = value.to_vec();
    let result = add(&mut added, elements, sparse_max);
    assert!(validate(&added).is_ok(), "PFADD broke the header");
    match &result {
        Ok(false) => assert!(added == value, "PFADD changed bytes but reported no change"),
        Ok(true) => {
            assert!(!elements.is_empty(), "PFADD of nothing reported a change");
            assert_eq!(
                added[CACHE_FLAG_AT] & CACHE_INVALID,
                CACHE_INVALID,
                "PFADD changed registers but left the cache valid"
            );
            let mut again = added.clone();
            assert_eq!(
                add(&mut again, elements, sparse_max),
                Ok(false),
                "adding the same elements again changed the HLL again"
            );
            assert!(again == added, "a PFADD that changed nothing changed bytes");
        }
        Err(e) => assert_eq!(*e, HLL_INVALID),
    }
    if !is_dense(&added) {
        assert!(
            added.len() <= value.len().max(sparse_max),
            "PFADD grew a sparse HLL to {} bytes (was {}, hll-sparse-max-bytes {sparse_max})",
            added.len(),
            value.len()
        );
    }
    if let (Some(before), Ok(changed)) = (&regs, &result) {
        let after = registers(&added).expect("PFADD broke a sound register body");
        let mut raised = 0;
        for (i, (a, b)) in before.iter().zip(&after).enumerate() {
            assert!(b >= a, "PFADD lowered register {i} from {a} to {b}");
            if b != a {
                raised += 1;
            }
        }
        assert!(
            raised <= elements.len(),
            "{} elements raised {raised} registers",
            elements.len()
        );
        assert_eq!(
            raised > 0,
            *changed,
            "PFADD's reply disagrees with its registers"
        );
    }
}

/// A value whose header is not an HLL's: every command refuses it and leaves it alone.
fn check_refused(value: &[u8], elements: &[&[u8]], sparse_max: usize) {
    assert_eq!(validate(value), Err(HLL_WRONGTYPE));
    let mut copy = value.to_vec();
    assert_eq!(count(&mut copy), Err(HLL_WRONGTYPE));
    assert_eq!(add(&mut copy, elements, sparse_max), Err(HLL_WRONGTYPE));
    assert!(copy == value, "a refused value was changed");
    assert_eq!(count_union(&[value]), Err(HLL_WRONGTYPE));
    assert_eq!(merge(None, &[value], sparse_max), Err(HLL_WRONGTYPE));
}

/// PFMERGE a b: registers are the maximum of both; dense if either is.
fn check_merge(a: &[u8], b: &[u8], sparse_max: usize) {
    if !header_is_valid(a) || !header_is_valid(b) {
        assert!(merge(Some(a), &[b], sparse_max).is_err());
        return;
    }
    let Ok(merged) = merge(Some(a), &[b], sparse_max) else {
        return;
    };
    let (Some(ra), Some(rb)) = (registers(a), registers(b)) else {
        panic!("PFMERGE accepted an HLL whose registers do not decode");
    };
    let want: Vec<u8> = ra.iter().zip(&rb).map(|(x, y)| (*x).max(*y)).collect();
    assert!(
        registers(&merged) == Some(want),
        "PFMERGE's registers are not the maximum of its inputs'"
    );
    assert!(validate(&merged).is_ok());
    if is_dense(a) || is_dense(b) {
        assert!(
            is_dense(&merged),
            "PFMERGE with a dense input came out sparse"
        );
    }
    assert!(
        merged[..ENCODING_AT] == a[..ENCODING_AT]
            && merged[ENCODING_AT + 1..CARD_AT] == a[ENCODING_AT + 1..CARD_AT],
        "PFMERGE did not keep the destination's header"
    );
    let mut m = merged.clone();
    assert_eq!(
        count(&mut m).map(|(n, _)| n),
        count_union(&[a, b]),
        "the merged count is not the union's"
    );
}

fn check_union(values: &[Vec<u8>]) {
    assert_eq!(count_union(&[]), Ok(0));
    let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
    let all = count_union(&refs);
    let sound = values
        .iter()
        .all(|v| header_is_valid(v) && registers(v).is_some());
    assert_eq!(all.is_ok(), sound, "count_union over all values: {all:?}");
    let reversed: Vec<&[u8]> = refs.iter().rev().copied().collect();
    if sound {
        assert_eq!(
            count_union(&reversed),
            all,
            "count_union depends on key order"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The generator

pub fn generate(rng: &mut SmallRng) -> Vec<u8> {
    let sparse_max: u16 = match rng.gen_range(0..6) {
        0 => 0,
        1 => rng.gen_range(16..64),
        2 => rng.gen_range(64..400),
        3 => 3000,
        4 => u16::MAX,
        _ => rng.gen(),
    };
    let values: Vec<Vec<u8>> = (0..rng.gen_range(1..=3)).map(|_| random_hll(rng)).collect();
    let elements: Vec<Vec<u8>> = (0..16)
        .map(|_| (0..rng.gen_range(0..=8)).map(|_| rng.gen()).collect())
        .collect();
    frame(
        rng.gen(),
        sparse_max,
        rng.gen_range(0..17),
        &values,
        &elements,
    )
}

fn random_hll(rng: &mut SmallRng) -> Vec<u8> {
    match rng.gen_range(0..10) {
        0..=2 => {
            // Built by PFADD, so its sparse bytes are the ones Redis would write.
            let mut hll = new_sparse();
            let n = rng.gen_range(0..200);
            let max = if rng.gen_bool(0.7) {
                3000
            } else {
                rng.gen_range(0..600)
            };
            let elements: Vec<[u8; 8]> = (0..n).map(|_| rng.gen::<u64>().to_le_bytes()).collect();
            let refs: Vec<&[u8]> = elements.iter().map(|e| e.as_slice()).collect();
            let _ = add(&mut hll, &refs, max);
            hll
        }
        3 => {
            let mut hll = dense_header();
            hll.resize(DENSE_LEN, 0);
            rng.fill(&mut hll[HEADER..]);
            hll
        }
        4 => {
            let mut regs = vec![0u8; REGISTERS];
            for _ in 0..rng.gen_range(0..40) {
                let i = rng.gen_range(0..REGISTERS);
                regs[i] = rng.gen_range(1..64);
            }
            pack_dense(&regs)
        }
        5..=7 => random_sparse(rng),
        8 => {
            // A header and garbage.
            let mut hll = b"HYLL".to_vec();
            hll.push(rng.gen_range(0..3));
            let len = rng.gen_range(0..64);
            hll.extend((0..len).map(|_| rng.gen::<u8>()));
            hll
        }
        _ => (0..rng.gen_range(0..40)).map(|_| rng.gen()).collect(),
    }
}

fn dense_header() -> Vec<u8> {
    let mut hll = b"HYLL".to_vec();
    hll.extend_from_slice(&[0u8; HEADER - 4]);
    hll
}

fn pack_dense(regs: &[u8]) -> Vec<u8> {
    let mut hll = dense_header();
    hll.resize(DENSE_LEN, 0);
    for (i, &r) in regs.iter().enumerate() {
        let bit = i * 6;
        let byte = HEADER + bit / 8;
        let shifted = u16::from(r & 63) << (bit % 8);
        hll[byte] |= shifted as u8;
        if let Some(b) = hll.get_mut(byte + 1) {
            *b |= (shifted >> 8) as u8;
        }
    }
    hll
}

/// A sparse body of random opcodes, usually covering exactly 16384 registers (in layouts PFADD
/// would never write: adjacent ZEROs, long XZEROs of one register), sometimes too few or too
/// many, sometimes cut inside its last opcode.
fn random_sparse(rng: &mut SmallRng) -> Vec<u8> {
    let mut hll = b"HYLL\x01".to_vec();
    hll.extend_from_slice(&[0u8; HEADER - 5]);
    let target = if rng.gen_bool(0.8) {
        REGISTERS
    } else {
        rng.gen_range(0..2 * REGISTERS)
    };
    let mut covered = 0;
    while covered < target {
        let left = target - covered;
        match rng.gen_range(0..3) {
            0 => {
                let len = rng.gen_range(1..=left.min(64));
                hll.push((len - 1) as u8);
                covered += len;
            }
            1 => {
                let len = rng.gen_range(1..=left.min(REGISTERS));
                let l = len - 1;
                hll.push(0x40 | (l >> 8) as u8);
                hll.push((l & 0xff) as u8);
                covered += len;
            }
            _ => {
                let len = rng.gen_range(1..=left.min(4));
                let value: u8 = rng.gen_range(1..=32);
                hll.push(0x80 | ((value - 1) << 2) | (len - 1) as u8);
                covered += len;
            }
        }
    }
    if rng.gen_bool(0.1) {
        hll.pop();
    }
    hll
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn reference_decoder_reads_what_the_engine_writes() {
        assert_eq!(registers(&new_sparse()), Some(vec![0u8; REGISTERS]));
        let mut hll = new_sparse();
        let elements: Vec<Vec<u8>> = (0..50).map(|i| format!("e{i}").into_bytes()).collect();
        let refs: Vec<&[u8]> = elements.iter().map(Vec::as_slice).collect();
        assert_eq!(add(&mut hll, &refs, 3000), Ok(true));
        let sparse = registers(&hll).expect("sparse decodes");
        assert!(sparse.iter().filter(|&&r| r > 0).count() <= 50);
        assert!(sparse.iter().any(|&r| r > 0));
        // The same registers through a dense HLL.
        let zero = pack_dense(&[0u8; REGISTERS]);
        let dense = merge(Some(zero.as_slice()), &[hll.as_slice()], 3000).expect("merge");
        assert!(is_dense(&dense));
        assert_eq!(registers(&dense), Some(sparse.clone()));
        assert_eq!(registers(&pack_dense(&sparse)), Some(sparse));
    }

    #[test]
    fn generated_inputs_pass() {
        let mut rng = SmallRng::seed_from_u64(9);
        for _ in 0..20 {
            check(&generate(&mut rng));
        }
    }
}
