//! The timeframe's kernel: which rows of each group lie inside `[from, to)`, as one row range
//! per group that has any (docs/query-language.md "Execution order": the timeframe comes
//! first, everything after it sees only these ranges).
//!
//! Why this shape: a timeframe is one comparison per row over the part's timestamps (4-byte
//! offsets where the part's span allows, else 8-byte values) — the only pass over every row a
//! timeframe query needs — and then per-group work. The rows inside are marked in a
//! **bitmap** (64 rows a word, written once: an eighth of a byte per row, where a
//! byte-per-row mask was ten MB of fresh memory per 10M rows and query), and a **walk** visits
//! only the groups that have an inside row: from each such group's first inside row (found a
//! word at a time) it takes the group through its last inside row and jumps to the group's
//! end. Per-row work after the comparison is nil; per-group work is a forward search for the
//! group's end in the group-start bitmap ([`GroupIndex`]) and a backward search for its last
//! inside row, for the groups with inside rows only.
//!
//! Invariant: the result equals, per group in order, `(first inside row, last inside row + 1)`
//! for the groups with any inside row — exactly what a per-group binary search gives on
//! timestamps ordered within each group (the frame's invariant), and still well defined if
//! they were not (tests check both against a brute-force reference).

use crate::frame::Frame;
#[cfg(doc)]
use crate::frame::GroupIndex;

/// Marks the rows where `inside(ts[r])` holds, 64 rows a word (bit `r % 64` of word `r / 64`);
/// bits past the last row are clear.
pub(crate) fn inside_bitmap<T: Copy>(ts: &[T], inside: impl Fn(T) -> bool) -> Vec<u64> {
    // Rows in order (a backward walk within each 64-row chunk measured 2× slower: the loads
    // are what costs).
    let mut words = Vec::with_capacity(ts.len().div_ceil(64));
    let mut chunks = ts.chunks_exact(64);
    words.extend((&mut chunks).map(|c| pack_word(c, &inside)));
    let rest = chunks.remainder();
    if !rest.is_empty() {
        // Fewer than 64 rows: the bytes past them stay 0, so their bits are clear.
        words.push(pack_word(rest, &inside));
    }
    words
}

/// One word of [`inside_bitmap`] from up to 64 rows: the comparisons written as 64 bytes of 0/1
/// first (a loop the compiler vectorises: a compare and a pack per 16 rows), then each 8
/// bytes gathered into 8 bits by one multiplication. Folding `bit << i` per row instead
/// compiled to a variable shift and an or per row: 36% of a memory-resident timeframe query
/// (docs/benchmarks.md, "Round 2, sixth session").
#[inline]
fn pack_word<T: Copy>(rows: &[T], inside: &impl Fn(T) -> bool) -> u64 {
    let mut bytes = [0u8; 64];
    for (b, &t) in bytes.iter_mut().zip(rows) {
        *b = u8::from(inside(t));
    }
    let mut word = 0u64;
    for (j, eight) in bytes.chunks_exact(8).enumerate() {
        word |= gather_bits(u64::from_le_bytes(eight.try_into().unwrap_or_default())) << (8 * j);
    }
    word
}

/// Eight bytes, each 0 or 1, as eight bits (byte `i`, counted from the least significant, to
/// bit `i`): the product adds byte `i`'s bit at position `8i + 7k + 7` for each `k` in 0..8,
/// all distinct (no carries), and those with `i + k = 7` land at `56 + i`.
#[inline]
fn gather_bits(bytes: u64) -> u64 {
    bytes.wrapping_mul(0x0102_0408_1020_4080) >> 56
}

/// The rows of integer timestamps `ts` with `from <= t < to`, one unsigned comparison per
/// row: `sub(t, from)`, the difference wrapped to an unsigned type, is below `sub(to, from)`
/// exactly then (a `t` below `from` wraps above any width).
pub(crate) fn between_bitmap_wrapping<T: Copy + Ord, U: PartialOrd>(
    ts: &[T],
    from: T,
    to: T,
    sub: impl Fn(T, T) -> U,
) -> Vec<u64> {
    if to <= from {
        return vec![0; ts.len().div_ceil(64)];
    }
    let width = sub(to, from);
    inside_bitmap(ts, |t| sub(t, from) < width)
}

/// The first set bit at or after row `from`, if any.
#[inline]
fn next_set(words: &[u64], from: usize) -> Option<usize> {
    let mut w = from / 64;
    let mut bits = *words.get(w)? & (u64::MAX << (from % 64));
    loop {
        if bits != 0 {
            return Some(w * 64 + bits.trailing_zeros() as usize);
        }
        w += 1;
        bits = *words.get(w)?;
    }
}

/// The last set bit before row `end`, given that one is set at or after `floor` (< `end`).
#[inline]
fn last_set_before(words: &[u64], floor: usize, end: usize) -> usize {
    let last = end - 1;
    let mut w = last / 64;
    let mut bits = words[w] & (u64::MAX >> (63 - last % 64));
    while bits == 0 && w > floor / 64 {
        w -= 1;
        bits = words[w];
    }
    // `floor`'s bit is set, so `bits` is not empty here.
    w * 64 + 63 - bits.leading_zeros() as usize
}

/// Per group with an inside row, from its first inside row to its last, in group order (see
/// the module docs). `starts` marks the first row of every group of the frame (its groups
/// cover its `n_rows` rows; [`GroupIndex`]): a group's end is the next start, found in the
/// same words as the inside rows, so no group table is read at all.
pub(crate) fn inside_ranges(words: &[u64], starts: &[u64], n_rows: usize) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    let mut at = next_set(words, 0);
    while let Some(r) = at {
        let e = next_set(starts, r + 1).unwrap_or(n_rows).min(n_rows);
        let last = last_set_before(words, r, e);
        out.push((r as u32, last as u32 + 1));
        at = next_set(words, e);
    }
    out
}

/// The integer timestamps a query's timeframe admits: exactly the `t` with `from <= t < to`
/// (engine semantics, docs/query-language.md), as the closed range `lo..=hi` (empty when
/// `lo > hi`). For a reader that builds a part's frame for one query only (no memory cache):
/// rows outside the timeframe are never seen by any part of the query (conditions, relation,
/// aggregations, funnel and the scanned counts all start from the timeframe's rows, see
/// `execute.rs`), so such a reader may leave them out and the query's answer is the same. The
/// engine still applies the timeframe itself; leaving rows out is only a saving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeBounds {
    lo: i64,
    hi: i64,
}

impl TimeBounds {
    /// The bounds of `tf` over integer timestamps; `None` when it bounds nothing (no `from` or
    /// `to`) or a bound is not a number the rows can be compared with exactly here (NaN, a
    /// string): the reader then keeps every row. A float bound `f` admits the integers from
    /// `ceil(f)` (`t >= f`) or below `ceil(f)` (`t < f`), as the engine compares them exactly.
    pub fn of(tf: &protocol::Timeframe) -> Option<TimeBounds> {
        use protocol::Literal;
        fn ceil(lit: &Literal) -> Option<i128> {
            match lit {
                Literal::Int(v) => Some(i128::from(*v)),
                Literal::UInt(v) => Some(i128::from(*v)),
                // Beyond ±1.7e38 the clamp keeps the value within i128; any such bound lies
                // beyond every i64 either way.
                Literal::Float(f) if !f.is_nan() => Some(f.ceil().clamp(-1.7e38, 1.7e38) as i128),
                _ => None,
            }
        }
        if tf.from.is_none() && tf.to.is_none() {
            return None;
        }
        let (min, max) = (i128::from(i64::MIN), i128::from(i64::MAX));
        let lo = tf.from.as_ref().map_or(Some(min), ceil)?;
        let hi = tf.to.as_ref().map_or(Some(max), |l| ceil(l).map(|c| c - 1))?;
        if lo > max || hi < min || lo > hi {
            return Some(TimeBounds { lo: 1, hi: 0 });
        }
        Some(TimeBounds { lo: lo.max(min) as i64, hi: hi.min(max) as i64 })
    }

    /// Whether no timestamp is admitted.
    pub fn is_empty(&self) -> bool {
        self.lo > self.hi
    }

    /// Whether `t` is admitted.
    #[inline]
    pub fn contains(&self, t: i64) -> bool {
        self.lo <= t && t <= self.hi
    }

    /// Whether some timestamp in `min..=max` is admitted (e.g. a row group's statistics).
    pub fn overlaps(&self, min: i64, max: i64) -> bool {
        !self.is_empty() && min <= self.hi && self.lo <= max
    }

    /// The admitted rows of `ts` as runs of consecutive rows `(first row, rows)`, in order:
    /// one comparison per row into a bitmap ([`inside_bitmap`]), then a walk over its set runs.
    pub fn runs(&self, ts: &[i64]) -> Vec<(u32, u32)> {
        if self.is_empty() {
            return Vec::new();
        }
        let (lo, width) = (self.lo, self.hi.wrapping_sub(self.lo) as u64);
        let words = inside_bitmap(ts, |t: i64| t.wrapping_sub(lo) as u64 <= width);
        let mut out = Vec::new();
        let mut at = next_set(&words, 0);
        while let Some(s) = at {
            let e = next_clear(&words, s).min(ts.len());
            out.push((s as u32, (e - s) as u32));
            at = next_set(&words, e);
        }
        out
    }
}

/// The first clear bit at or after row `from` (the words' length × 64 when none).
#[inline]
fn next_clear(words: &[u64], from: usize) -> usize {
    let mut w = from / 64;
    let Some(&first) = words.get(w) else { return from };
    let mut bits = !first & (u64::MAX << (from % 64));
    loop {
        if bits != 0 {
            return w * 64 + bits.trailing_zeros() as usize;
        }
        w += 1;
        match words.get(w) {
            Some(&x) => bits = !x,
            None => return w * 64,
        }
    }
}

impl Frame {
    /// Whether `tf` admits every row of the frame: its integer timestamps' least and greatest
    /// both inside it, as [`TimeBounds::of`] decides (exactly the rows the engine's comparison
    /// puts inside `[from, to)`), or it has no bound. `false` when that cannot be told (no
    /// rows, float timestamps, a bound that is not a number): the engine then applies the
    /// timeframe row by row.
    pub fn within(&self, tf: &protocol::Timeframe) -> bool {
        if tf.from.is_none() && tf.to.is_none() {
            return true;
        }
        match (self.ts_span, TimeBounds::of(tf)) {
            (Some((min, max)), Some(bounds)) => bounds.contains(min) && bounds.contains(max),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Brute force: per group, the first and last row inside.
    fn reference(inside: &[bool], groups: &[(u32, u32)]) -> Vec<(u32, u32)> {
        groups
            .iter()
            .filter_map(|&(s, e)| {
                let rows: Vec<usize> = (s as usize..e as usize).filter(|&r| inside[r]).collect();
                Some((*rows.first()? as u32, *rows.last()? as u32 + 1))
            })
            .collect()
    }

    /// The group-start bitmap, as the frame's group index marks it.
    fn starts_of(groups: &[(u32, u32)], n: usize) -> Vec<u64> {
        let mut starts = vec![0u64; n.div_ceil(64)];
        for &(s, _) in groups {
            starts[s as usize / 64] |= 1 << (s % 64);
        }
        starts
    }

    fn groups_of(lengths: &[usize]) -> Vec<(u32, u32)> {
        let mut at = 0u32;
        lengths
            .iter()
            .map(|&n| {
                let g = (at, at + n as u32);
                at += n as u32;
                g
            })
            .collect()
    }

    #[test]
    fn bitmap_marks_exactly_the_inside_rows() {
        for n in [0usize, 1, 63, 64, 65, 200] {
            let ts: Vec<i64> = (0..n as i64).map(|i| (i * 37) % 101).collect();
            let words = inside_bitmap(&ts, |t| (20..70).contains(&t));
            assert_eq!(words.len(), n.div_ceil(64));
            for (r, &t) in ts.iter().enumerate() {
                assert_eq!(words[r / 64] >> (r % 64) & 1 == 1, (20..70).contains(&t), "row {r}");
            }
            if n % 64 != 0 {
                assert_eq!(words[n / 64] >> (n % 64), 0, "bits past the last row are clear");
            }
        }
    }

    #[test]
    fn gathers_every_byte_pattern() {
        for b in 0u64..256 {
            let bytes = (0..8).fold(0u64, |x, i| x | ((b >> i) & 1) << (8 * i));
            assert_eq!(gather_bits(bytes), b, "pattern {b:08b}");
        }
    }

    #[test]
    fn ranges_of_groups_spanning_words() {
        // A group of 200 rows inside from row 70 to 130, one of 1 row inside, one with none.
        let groups = groups_of(&[200, 1, 5, 64]);
        let mut inside = vec![false; 270];
        inside[70..130].fill(true);
        inside[200] = true;
        inside[269] = true;
        let ts: Vec<u8> = inside.iter().map(|&b| u8::from(b)).collect();
        let words = inside_bitmap(&ts, |t| t == 1);
        let starts = starts_of(&groups, 270);
        assert_eq!(inside_ranges(&words, &starts, 270), vec![(70, 130), (200, 201), (269, 270)]);
        assert_eq!(inside_ranges(&words, &starts, 270), reference(&inside, &groups));
    }

    /// `TimeBounds::of` admits exactly the integers the engine's exact comparison puts inside
    /// `[from, to)`, for integer, huge unsigned and fractional float bounds; `runs` gives the
    /// admitted rows as brute force finds them.
    #[test]
    fn bounds_admit_exactly_the_timeframes_integers() {
        use protocol::validate::compare_numbers;
        use protocol::{Literal, Timeframe};
        use std::cmp::Ordering::Less;
        let lits = [
            None,
            Some(Literal::Int(-3)),
            Some(Literal::Int(0)),
            Some(Literal::Int(7)),
            Some(Literal::Int(i64::MIN)),
            Some(Literal::Int(i64::MAX)),
            Some(Literal::UInt(u64::MAX)),
            Some(Literal::Float(2.5)),
            Some(Literal::Float(-2.5)),
            Some(Literal::Float(4.0)),
            Some(Literal::Float(1e30)),
            Some(Literal::Float(-1e300)),
            Some(Literal::Float(f64::INFINITY)),
        ];
        let ts: Vec<i64> = (-6..12).chain([i64::MIN, i64::MIN + 1, i64::MAX - 1, i64::MAX]).collect();
        for from in &lits {
            for to in &lits {
                let tf = Timeframe { from: from.clone(), to: to.clone() };
                let Some(b) = TimeBounds::of(&tf) else {
                    assert!(from.is_none() && to.is_none(), "{tf:?}");
                    continue;
                };
                let inside = |t: i64| {
                    let t = Literal::Int(t);
                    from.as_ref().is_none_or(|f| compare_numbers(&t, f) != Some(Less))
                        && to.as_ref().is_none_or(|x| compare_numbers(&t, x) == Some(Less))
                };
                for &t in &ts {
                    assert_eq!(b.contains(t), inside(t), "t = {t}, {tf:?}");
                }
                if b.is_empty() {
                    assert!(!ts.iter().any(|&t| inside(t)), "{tf:?}");
                }
                let want: Vec<u32> = (0..ts.len() as u32).filter(|&r| inside(ts[r as usize])).collect();
                let got: Vec<u32> = b.runs(&ts).iter().flat_map(|&(s, n)| s..s + n).collect();
                assert_eq!(got, want, "{tf:?}");
            }
        }
        // Not a number: no bounds (every row kept).
        assert_eq!(TimeBounds::of(&Timeframe { from: Some(Literal::Float(f64::NAN)), to: None }), None);
        assert_eq!(TimeBounds::of(&Timeframe { from: None, to: Some(Literal::Str("x".into())) }), None);
        let b = TimeBounds::of(&Timeframe { from: Some(Literal::Int(10)), to: Some(Literal::Int(20)) }).unwrap();
        assert!(b.overlaps(19, 30) && b.overlaps(0, 10) && !b.overlaps(20, 30) && !b.overlaps(0, 9));
    }

    proptest! {
        /// The admitted rows as runs, on any timestamps and bounds, long parts included: as
        /// brute force, runs maximal and in order.
        #[test]
        fn runs_as_brute_force(ts in proptest::collection::vec(-20i64..20, 0..400), lo in -25i64..25, len in 0i64..30) {
            let tf = protocol::Timeframe { from: Some(protocol::Literal::Int(lo)), to: Some(protocol::Literal::Int(lo + len)) };
            let b = TimeBounds::of(&tf).unwrap();
            let runs = b.runs(&ts);
            let got: Vec<u32> = runs.iter().flat_map(|&(s, n)| s..s + n).collect();
            let want: Vec<u32> = (0..ts.len() as u32).filter(|&r| (lo..lo + len).contains(&ts[r as usize])).collect();
            prop_assert_eq!(got, want);
            prop_assert!(runs.iter().all(|&(_, n)| n > 0));
            prop_assert!(runs.windows(2).all(|w| w[0].0 + w[0].1 < w[1].0), "runs are maximal");
        }

        /// Any groups and any inside rows (contiguous within a group or not): as brute force.
        #[test]
        fn ranges_as_brute_force(
            lengths in proptest::collection::vec(1usize..150, 0..40),
            seed in any::<u64>(),
            density in 0u64..=100,
        ) {
            let groups = groups_of(&lengths);
            let n: usize = lengths.iter().sum();
            let mut x = seed | 1;
            let inside: Vec<bool> = (0..n)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x % 100 < density
                })
                .collect();
            let words = inside_bitmap(&inside, |b| b);
            prop_assert_eq!(inside_ranges(&words, &starts_of(&groups, n), n), reference(&inside, &groups));
        }
    }
}
