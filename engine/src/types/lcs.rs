//! The LCS command's computation: the longest common subsequence of two strings and, for IDX, the
//! runs of it that are contiguous in both strings.
//!
//! Redis fills the classic dynamic-programming table and walks it back from the end of both
//! strings; when the two neighbours tie it steps back in `b`. Any other tie rule yields another
//! (equally long) subsequence, so this module keeps the same rule to answer with the same bytes and
//! the same match ranges, in the same order (last match first). The table costs 4 bytes per cell,
//! and Redis refuses to build one larger than `proto-max-bulk-len`; so does this module.

use crate::error::{self, CmdError};

/// `proto-max-bulk-len`'s default, the cap on the table when the config does not override it.
pub const DEFAULT_PROTO_MAX_BULK_LEN: u64 = 512 * 1024 * 1024;

/// One run of the LCS that is contiguous in both strings: inclusive byte ranges in `a` and `b`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LcsMatch {
    pub a: (usize, usize),
    pub b: (usize, usize),
    pub len: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LcsResult {
    /// The common subsequence itself.
    pub lcs: Vec<u8>,
    /// Its length (the `len` of LEN and IDX replies), whatever MINMATCHLEN filtered out.
    pub len: usize,
    /// IDX's `matches`, last run first; empty unless `want_idx`.
    pub matches: Vec<LcsMatch>,
}

/// Dynamic-programming LCS as Redis computes it, with the table bounded by the default
/// `proto-max-bulk-len`; see [`lcs_with_limit`].
pub fn lcs(
    a: &[u8],
    b: &[u8],
    want_idx: bool,
    min_match_len: usize,
) -> Result<LcsResult, CmdError> {
    lcs_with_limit(a, b, want_idx, min_match_len, DEFAULT_PROTO_MAX_BULK_LEN)
}

/// Computes the LCS of `a` and `b`. With `want_idx`, also lists the contiguous runs, keeping only
/// those at least `min_match_len` long (0 keeps all; the caller turns a negative MINMATCHLEN into
/// 0 as Redis does).
///
/// Refuses, with Redis's errors, strings of 2^32 - 2 bytes or more, and a table of
/// `(a.len() + 1) * (b.len() + 1)` 4-byte cells larger than `proto_max_bulk_len`; an allocation
/// that still fails is reported rather than aborting the process.
pub fn lcs_with_limit(
    a: &[u8],
    b: &[u8],
    want_idx: bool,
    min_match_len: usize,
    proto_max_bulk_len: u64,
) -> Result<LcsResult, CmdError> {
    let too_long = |s: &[u8]| u64::try_from(s.len()).map_or(true, |n| n >= u64::from(u32::MAX) - 1);
    if too_long(a) || too_long(b) {
        return Err(error::LCS_TOO_LONG);
    }
    let table = Table::build(a, b, proto_max_bulk_len)?;

    let total = table.at(a.len(), b.len()) as usize;
    let mut lcs = vec![0u8; total];
    let mut filled = total;
    let mut matches = Vec::new();
    // The run being extended backwards: (a start, a end, b start, b end), inclusive.
    let mut run: Option<(usize, usize, usize, usize)> = None;
    let mut emit = |run: (usize, usize, usize, usize)| {
        let (a_start, a_end, b_start, b_end) = run;
        let len = a_end - a_start + 1;
        if want_idx && len >= min_match_len {
            matches.push(LcsMatch {
                a: (a_start, a_end),
                b: (b_start, b_end),
                len,
            });
        }
    };

    let (mut i, mut j) = (a.len(), b.len());
    while let (Some(i1), Some(j1)) = (i.checked_sub(1), j.checked_sub(1)) {
        if a[i1] == b[j1] {
            // `filled` counts down from the table's total exactly once per matching byte.
            filled -= 1;
            lcs[filled] = a[i1];
            // A match right after a match is always the diagonal neighbour, so a run only ever
            // grows backwards by one in both strings.
            run = Some(match run {
                Some((_, a_end, _, b_end)) => (i1, a_end, j1, b_end),
                None => (i1, i1, j1, j1),
            });
            i = i1;
            j = j1;
        } else {
            if table.at(i1, j) > table.at(i, j1) {
                i = i1;
            } else {
                j = j1;
            }
            if let Some(done) = run.take() {
                emit(done);
            }
        }
    }
    if let Some(done) = run.take() {
        emit(done);
    }

    Ok(LcsResult {
        lcs,
        len: total,
        matches,
    })
}

/// `LCS(i, j)`, the LCS length of `a[..i]` and `b[..j]`, for every `i <= a.len()`, `j <= b.len()`.
struct Table {
    cells: Vec<u32>,
    row: usize,
}

impl Table {
    fn build(a: &[u8], b: &[u8], proto_max_bulk_len: u64) -> Result<Table, CmdError> {
        let row = b.len() + 1;
        let count = (a.len() as u64)
            .checked_add(1)
            .and_then(|rows| rows.checked_mul(row as u64))
            .ok_or(error::LCS_ALLOC_FAILED)?;
        let bytes = count.checked_mul(4).ok_or(error::LCS_ALLOC_FAILED)?;
        if bytes > proto_max_bulk_len {
            return Err(error::LCS_OVER_BULK_LEN);
        }
        let count = usize::try_from(count).map_err(|_| error::LCS_ALLOC_FAILED)?;
        let mut cells: Vec<u32> = Vec::new();
        cells
            .try_reserve_exact(count)
            .map_err(|_| error::LCS_ALLOC_FAILED)?;
        // Row 0 (an empty prefix of `a`) is all zeros.
        cells.resize(row, 0);
        for &ca in a {
            let above = cells.len() - row;
            cells.push(0);
            for (j, &cb) in b.iter().enumerate() {
                let here = if ca == cb {
                    cells[above + j] + 1
                } else {
                    cells[above + j + 1].max(cells[cells.len() - 1])
                };
                cells.push(here);
            }
        }
        Ok(Table { cells, row })
    }

    fn at(&self, i: usize, j: usize) -> u32 {
        self.cells.get(i * self.row + j).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    //! Expected values were read from redis-server 7.0.15 (`LCS a b` and `LCS a b IDX
    //! WITHMATCHLEN`), not derived from this code.
    use super::*;

    fn m(a: (usize, usize), b: (usize, usize), len: usize) -> LcsMatch {
        LcsMatch { a, b, len }
    }

    fn check(a: &str, b: &str, lcs_want: &str, matches_want: &[LcsMatch]) {
        let got = lcs(a.as_bytes(), b.as_bytes(), true, 0).expect("small input");
        assert_eq!(got.lcs, lcs_want.as_bytes(), "{a:?} {b:?}");
        assert_eq!(got.len, lcs_want.len());
        assert_eq!(got.matches, matches_want, "{a:?} {b:?}");
    }

    #[test]
    fn matches_redis() {
        check(
            "ohmytext",
            "mynewtext",
            "mytext",
            &[m((4, 7), (5, 8), 4), m((2, 3), (0, 1), 2)],
        );
        check("", "", "", &[]);
        check("abc", "", "", &[]);
        check("abc", "abc", "abc", &[m((0, 2), (0, 2), 3)]);
        check(
            "abcd",
            "acbd",
            "acd",
            &[
                m((3, 3), (3, 3), 1),
                m((2, 2), (1, 1), 1),
                m((0, 0), (0, 0), 1),
            ],
        );
        check("aaaa", "aa", "aa", &[m((2, 3), (0, 1), 2)]);
        check("ab", "ba", "b", &[m((1, 1), (0, 0), 1)]);
        check("xyzabcxyz", "abcxyzabc", "abcxyz", &[m((3, 8), (0, 5), 6)]);
        check("1234567890", "0987654321", "0", &[m((9, 9), (0, 0), 1)]);
        check(
            "rxaxbxcxdq",
            "abcd",
            "abcd",
            &[
                m((8, 8), (3, 3), 1),
                m((6, 6), (2, 2), 1),
                m((4, 4), (1, 1), 1),
                m((2, 2), (0, 0), 1),
            ],
        );
    }

    #[test]
    fn min_match_len_filters_matches_not_len() {
        let got = lcs(b"ohmytext", b"mynewtext", true, 4).expect("small input");
        assert_eq!(got.matches, [m((4, 7), (5, 8), 4)]);
        assert_eq!(got.len, 6);
        let got = lcs(b"abcd", b"acbd", true, 2).expect("small input");
        assert!(got.matches.is_empty());
        assert_eq!(got.len, 3);
        let got = lcs(b"ohmytext", b"mynewtext", false, 0).expect("small input");
        assert!(got.matches.is_empty());
        assert_eq!(got.lcs, b"mytext");
    }

    #[test]
    fn table_bounded_by_proto_max_bulk_len() {
        // Redis 7.0.15 accepts 11580-byte strings (536,478,244-byte table) and refuses 11600.
        let big = vec![b'x'; 11600];
        let other = vec![b'y'; 11600];
        assert_eq!(lcs(&big, &other, false, 0), Err(error::LCS_OVER_BULK_LEN));
        assert_eq!(
            lcs_with_limit(b"abc", b"abc", false, 0, 63),
            Err(error::LCS_OVER_BULK_LEN)
        );
        assert!(lcs_with_limit(b"abc", b"abc", false, 0, 64).is_ok());
    }
}
