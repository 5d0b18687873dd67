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

    proptest! {
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
