//! Which groups a query's conditions and relation select (docs/query-language.md "Execution
//! order"), planned so that per-group work is proportional to the groups that can match.
//!
//! Every condition's row mask is computed once, vectorised over the part's rows (a byte per
//! row: cheap next to anything done per group). Then:
//!
//! - **Candidate-first** (the common case): when the relation is a conjunction (`and` of the
//!   conditions, the default) and one of its conjuncts can only hold for a group with at least
//!   one row matching its filter ("hit-requiring": a count target that fails at zero, every
//!   sum target, a sequence with a positive step), the conjunct with the sparsest mask is
//!   evaluated first by visiting only its set rows (eight bytes of mask at a time), which
//!   yields the few candidate groups where it holds. The rest of the relation — every other
//!   condition, `not`, `or` — is then evaluated on those candidates only. A common condition
//!   that follows a rare one (q2: `>= 3 transactions and < 50 views`) costs a pass over its
//!   mask and a look at a handful of groups, instead of a count over every group.
//! - **Every group** otherwise (no hit-requiring conjunct, or its mask is dense): each
//!   condition is evaluated over all groups in the universe, with vectorised per-group counts
//!   for dense masks, and the relation combines them per group.
//!
//! Invariant: both plans select exactly the same groups (the candidates are a superset of the
//! groups where the whole relation holds, because the chosen conjunct must hold); the engine's
//! property tests (engine/tests/it/props.rs) check every plan against a brute-force reference
//! on random parts, conditions and relations ([`SelectPlan`] forces one).

use crate::EngineError;
use crate::frame::{Col, Frame, GroupIndex};
use crate::predicate::{filter_set_mask, step_masks};
use crate::sequence::{SeqMatcher, TsExt, seq_spec};
use protocol::exact_sum::FastExactSum;
use protocol::validate::cmp_i128_f64;
use protocol::{Condition, Literal, RelationExpr, Step, Target, TargetOp};
use std::cmp::Ordering;

/// How the conditions select groups (see `select.rs`). Results are identical whatever the plan;
/// anything but `Auto` is for tests that check exactly that.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SelectPlan {
    /// Candidate-first when a hit-requiring conjunct has a sparse mask, else every group.
    #[default]
    Auto,
    /// Every condition over every group.
    EveryGroup,
    /// Candidate-first whenever the relation has a hit-requiring conjunct, however dense.
    CandidateFirst,
}

/// The groups (row ranges, in order) that the conditions and relation select among `ranges`
/// (the universe: every group's rows inside the timeframe).
pub(crate) fn select_groups<T: TsExt>(
    frame: &Frame,
    ts: &[T],
    conditions: &[Condition],
    expr: &RelationExpr,
    ranges: &[(u32, u32)],
    plan: SelectPlan,
) -> Result<Vec<(u32, u32)>, EngineError> {
    if expr.used_conditions().iter().any(|&i| i >= conditions.len()) {
        return Err(EngineError::Internal("relation refers to a missing condition".into()));
    }
    let mut evals: Vec<CondEval<'_, T>> =
        conditions.iter().map(|c| CondEval::new(frame, c)).collect::<Result<_, _>>()?;
    let first = match plan {
        SelectPlan::EveryGroup => None,
        SelectPlan::Auto => pick_candidate_conjunct(expr, &evals, true),
        SelectPlan::CandidateFirst => pick_candidate_conjunct(expr, &evals, false),
    };
    let u = Universe::new(frame, ranges);
    if let Some(first) = first {
        let candidates = evals[first].candidates(u);
        let mut results = vec![false; evals.len()];
        let mut out = Vec::with_capacity(candidates.len());
        for (g, decided) in candidates {
            let (lo, hi) = ranges[g];
            for (j, e) in evals.iter_mut().enumerate() {
                results[j] = if j == first && decided { true } else { e.holds(ts, lo as usize, hi as usize) };
            }
            if expr.eval(&|i| results[i]) {
                out.push((lo, hi));
            }
        }
        return Ok(out);
    }
    let results: Vec<Vec<bool>> = evals.iter_mut().map(|e| e.over_all(ts, u)).collect();
    if let RelationExpr::Cond(i) = expr {
        // One condition: its per-group results are the selection (no relation to evaluate).
        return Ok(ranges.iter().zip(&results[*i]).filter(|(_, ok)| **ok).map(|(r, _)| *r).collect());
    }
    Ok(ranges.iter().enumerate().filter(|(g, _)| expr.eval(&|i| results[i][*g])).map(|(_, r)| *r).collect())
}

/// The conjunct to find candidates with: a hit-requiring condition of the top-level `and`
/// (whose mask is sparse, if `sparse_only`), the sparsest of them.
fn pick_candidate_conjunct<T: TsExt>(
    expr: &RelationExpr,
    evals: &[CondEval<'_, T>],
    sparse_only: bool,
) -> Option<usize> {
    let conjuncts: Vec<usize> = match expr {
        RelationExpr::Cond(i) => vec![*i],
        RelationExpr::And(es) => {
            es.iter().filter_map(|e| if let RelationExpr::Cond(i) = e { Some(*i) } else { None }).collect()
        }
        _ => Vec::new(),
    };
    conjuncts
        .into_iter()
        .filter_map(|i| evals[i].hit_mask().map(|(m, set)| (i, set, m.len())))
        .filter(|&(_, set, n)| !sparse_only || is_sparse(set, n))
        .min_by_key(|&(_, set, _)| set)
        .map(|(i, _, _)| i)
}

/// A condition ready to evaluate on any group: its masks, computed once, with the number of
/// set rows of the mask a group needs a hit of (counted once: every plan decision reads it),
/// and for a sequence the matcher and its scratch buffer, reused across groups.
enum CondEval<'a, T> {
    Count {
        mask: Vec<bool>,
        set: usize,
        op: TargetOp,
        value: u64,
        zero_ok: bool,
    },
    Sum {
        mask: Vec<bool>,
        set: usize,
        col: &'a Col,
        op: TargetOp,
        value: &'a Literal,
    },
    Sequence {
        masks: Vec<Vec<bool>>,
        /// The positive step with the sparsest mask (every matching group has a row of it) and
        /// its number of set rows.
        sparsest: Option<(usize, usize)>,
        steps: &'a [Step],
        window: Option<&'a Literal>,
        matcher: SeqMatcher<T>,
        buf: Vec<bool>,
    },
}

impl<'a, T: TsExt> CondEval<'a, T> {
    fn new(frame: &'a Frame, cond: &'a Condition) -> Result<CondEval<'a, T>, EngineError> {
        Ok(match cond {
            Condition::Filter { filters, target, include_zero, .. } => {
                let mask = filter_set_mask(frame, filters)?;
                let set = count_set(&mask);
                match target {
                    Target::Count { op, value } => {
                        let zero_ok = *include_zero && op.holds(0u64.cmp(value));
                        CondEval::Count { mask, set, op: *op, value: *value, zero_ok }
                    }
                    Target::Sum { column, op, value } => {
                        let col = frame.column(column)?;
                        if !matches!(col, Col::Int { .. } | Col::Float { .. }) {
                            return Err(EngineError::TypeMismatch {
                                column: column.clone(),
                                found: col.type_name().to_string(),
                                usage: "as a sum target".to_string(),
                            });
                        }
                        CondEval::Sum { mask, set, col, op: *op, value }
                    }
                }
            }
            Condition::Sequence { steps, max_duration, .. } => {
                let masks = step_masks(frame, steps)?;
                let sparsest = (0..steps.len())
                    .filter(|&k| steps[k].row_found)
                    .map(|k| (k, count_set(&masks[k])))
                    .min_by_key(|&(_, set)| set);
                CondEval::Sequence {
                    masks,
                    sparsest,
                    steps,
                    window: max_duration.as_ref(),
                    matcher: SeqMatcher::new(),
                    buf: Vec::new(),
                }
            }
        })
    }

    /// The mask a group needs a set row of for the condition to hold, if there is one, and
    /// its number of set rows.
    fn hit_mask(&self) -> Option<(&[bool], usize)> {
        match self {
            CondEval::Count { mask, set, zero_ok, .. } => (!zero_ok).then_some((mask.as_slice(), *set)),
            // A group matches a sum target only with at least one matching row.
            CondEval::Sum { mask, set, .. } => Some((mask, *set)),
            // Every positive step needs a row: the sparsest of their masks.
            CondEval::Sequence { masks, sparsest, .. } => sparsest.map(|(k, set)| (masks[k].as_slice(), set)),
        }
    }

    /// The groups (indexes into `ranges`) with a set row of the hit mask, each with whether the
    /// condition is already known to hold there (count and sum targets are decided on the way;
    /// for them only the groups where it holds are returned).
    fn candidates(&self, u: Universe<'_>) -> Vec<(usize, bool)> {
        let mut out = Vec::new();
        match self {
            CondEval::Count { mask, op, value, .. } => {
                let (op, value) = (*op, *value);
                count_hits_per_group(mask, u, |g, n| {
                    if op.holds(n.cmp(&value)) {
                        out.push((g, true));
                    }
                })
            }
            CondEval::Sum { mask, col, op, value, .. } => {
                let mut current: Option<(usize, SumAcc)> = None;
                for_each_sparse_hit(mask, u, |g, r| {
                    if current.as_ref().is_none_or(|(cg, _)| *cg != g)
                        && let Some((cg, acc)) = current.replace((g, SumAcc::new(col)))
                        && acc.holds(*op, value)
                    {
                        out.push((cg, true));
                    }
                    if let Some((_, acc)) = current.as_mut() {
                        acc.add(col, r);
                    }
                });
                if let Some((cg, acc)) = current
                    && acc.holds(*op, value)
                {
                    out.push((cg, true));
                }
            }
            CondEval::Sequence { .. } => {
                let mask = self.hit_mask().map_or(&[][..], |(m, _)| m);
                for_each_sparse_hit(mask, u, |g, _| {
                    if out.last().is_none_or(|&(last, _)| last != g) {
                        out.push((g, false));
                    }
                });
            }
        }
        out
    }

    /// Whether the condition holds on the group of rows `lo..hi`.
    fn holds(&mut self, ts: &[T], lo: usize, hi: usize) -> bool {
        match self {
            CondEval::Count { mask, op, value, zero_ok, .. } => {
                let n = count_range(mask, lo, hi);
                if n == 0 { *zero_ok } else { op.holds(n.cmp(value)) }
            }
            CondEval::Sum { mask, col, op, value, .. } => {
                let mut acc: Option<SumAcc> = None;
                for r in (lo..hi).filter(|&r| mask[r]) {
                    acc.get_or_insert_with(|| SumAcc::new(col)).add(col, r);
                }
                acc.is_some_and(|a| a.holds(*op, value))
            }
            CondEval::Sequence { masks, steps, window, matcher, buf, .. } => {
                let spec = seq_spec(masks, steps, *window);
                matcher.matches(&spec, ts, lo, hi, buf)
            }
        }
    }

    /// Per group of `ranges`: whether the condition holds (the every-group plan).
    fn over_all(&mut self, ts: &[T], u: Universe<'_>) -> Vec<bool> {
        let ranges = u.ranges;
        match self {
            CondEval::Count { mask, set, op, value, zero_ok } => {
                let (op, value, zero_ok) = (*op, *value, *zero_ok);
                let holds = |n: u64| if n == 0 { zero_ok } else { op.holds(n.cmp(&value)) };
                if !is_sparse(*set, mask.len()) {
                    // Most rows match: a count per group.
                    return ranges.iter().map(|&(lo, hi)| holds(count_range(mask, lo as usize, hi as usize))).collect();
                }
                // Groups without a matching row keep `zero_ok`; the others are decided while
                // visiting only the matching rows.
                let mut out = vec![zero_ok; ranges.len()];
                count_hits_per_group(mask, u, |g, n| out[g] = holds(n));
                out
            }
            CondEval::Sum { .. } => {
                // Groups without a matching row do not match a sum target.
                let mut out = vec![false; ranges.len()];
                for (g, _) in self.candidates(u) {
                    out[g] = true;
                }
                out
            }
            CondEval::Sequence { .. } => {
                ranges.iter().map(|&(lo, hi)| self.holds(ts, lo as usize, hi as usize)).collect()
            }
        }
    }
}

/// Calls `f(group, n)` for every group of the universe with `n` > 0 set rows of `mask`, in
/// order, visiting only the set rows.
fn count_hits_per_group(mask: &[bool], u: Universe<'_>, mut f: impl FnMut(usize, u64)) {
    let mut current: Option<(usize, u64)> = None;
    for_each_sparse_hit(mask, u, |g, _| match &mut current {
        Some((cg, n)) if *cg == g => *n += 1,
        _ => {
            if let Some((cg, n)) = current.replace((g, 1)) {
                f(cg, n);
            }
        }
    });
    if let Some((cg, n)) = current {
        f(cg, n);
    }
}

/// A running sum of a target column over a group's matching rows.
enum SumAcc {
    Int(i128),
    Float(FastExactSum),
}

impl SumAcc {
    /// An empty sum for `col` (an INT or FLOAT column: checked by [`CondEval::new`]).
    fn new(col: &Col) -> SumAcc {
        match col {
            Col::Float { .. } => SumAcc::Float(FastExactSum::new()),
            _ => SumAcc::Int(0),
        }
    }

    /// Adds row `r` of `col`, nulls skipped.
    #[inline]
    fn add(&mut self, col: &Col, r: usize) {
        match (self, col) {
            (SumAcc::Int(s), Col::Int { values, valid }) if valid.as_ref().is_none_or(|v| v[r]) => {
                *s += i128::from(values[r]);
            }
            (SumAcc::Float(s), Col::Float { values }) if !values[r].is_nan() => s.add(values[r]),
            _ => {}
        }
    }

    fn holds(&self, op: TargetOp, value: &Literal) -> bool {
        let ord = match self {
            SumAcc::Int(s) => match value {
                Literal::Int(v) => Some(s.cmp(&i128::from(*v))),
                Literal::UInt(v) => Some(s.cmp(&i128::from(*v))),
                Literal::Float(v) => cmp_i128_f64(*s, *v),
                _ => None,
            },
            SumAcc::Float(s) => {
                let x = s.value();
                match value {
                    Literal::Float(v) => x.partial_cmp(v),
                    Literal::Int(v) => cmp_i128_f64(i128::from(*v), x).map(Ordering::reverse),
                    Literal::UInt(v) => cmp_i128_f64(i128::from(*v), x).map(Ordering::reverse),
                    _ => None,
                }
            }
        };
        ord.is_some_and(|o| op.holds(o))
    }
}

/// The number of set bytes of a mask: summed in byte lanes (vectorised, 16 or 32 rows an
/// instruction) over blocks of 240 rows, so that no lane can overflow. Summing each byte
/// widened to `usize` compiled to one scalar load and add per row: 12% of a memory-resident
/// timeframe query, which counts a dense mask over every row (docs/benchmarks.md, "Round 2,
/// sixth session").
pub(crate) fn count_set(mask: &[bool]) -> usize {
    mask.chunks(240).map(|block| usize::from(block.iter().fold(0u8, |n, &b| n.wrapping_add(u8::from(b))))).sum()
}

/// The set bytes of `mask[lo..hi]`. A group of at most 8 rows (most of them on web traffic,
/// and a timeframe leaves most groups a few rows) is counted with one 8-byte load (the bytes
/// past `hi` masked off, when the mask has 8 bytes from `lo`) and a multiplication that sums
/// the bytes into the top one; longer groups by [`count_set`]. Counting each short group's
/// bytes through `count_set` was 15% of a memory-resident timeframe query (docs/benchmarks.md,
/// "Round 2, sixth session").
#[inline]
fn count_range(mask: &[bool], lo: usize, hi: usize) -> u64 {
    let len = hi - lo;
    if len <= 8
        && let Some(c) = mask.get(lo..lo + 8)
    {
        let bytes = eight_bytes(c);
        let keep = if len == 8 { u64::MAX } else { (1u64 << (8 * len)) - 1 };
        // Each byte is 0 or 1, so the top byte of the product is their sum (at most 8).
        return (bytes & keep).wrapping_mul(0x0101_0101_0101_0101) >> 56;
    }
    count_set(&mask[lo..hi]) as u64
}

/// The first 8 bytes of a mask as one word, row `i` in byte `i` (each byte 0 or 1, so a set
/// row is one set bit, at bit `8 * i`). `c` has at least 8 rows.
#[inline]
fn eight_bytes(c: &[bool]) -> u64 {
    u64::from_le_bytes(std::array::from_fn(|i| u8::from(c[i])))
}

/// Whether a mask with `set` of its `rows` rows set is sparse (fewer than one row in 16): then
/// visiting only the set rows beats a pass over every group's rows.
fn is_sparse(set: usize, rows: usize) -> bool {
    set < rows / 16
}

/// The first range at or after `g` whose end is past row `r` (ranges sorted and disjoint):
/// galloping, so that a walk over few hits among many groups costs O(hits × log gap), not
/// O(groups).
#[inline]
fn advance(ranges: &[(u32, u32)], g: usize, r: usize) -> usize {
    let past = |i: usize| ranges[i].1 as usize <= r;
    if g >= ranges.len() || !past(g) {
        return g;
    }
    // Find a step `hi` with ranges[hi] not past r (or the end).
    let (mut lo, mut step) = (g, 1);
    let hi = loop {
        let next = lo + step;
        if next >= ranges.len() {
            break ranges.len();
        }
        if !past(next) {
            break next;
        }
        lo = next;
        step *= 2;
    };
    // ranges[lo] is past r; the answer is in (lo, hi].
    lo + 1 + ranges[lo + 1..hi].partition_point(|x| x.1 as usize <= r)
}

/// The groups a walk over matching rows reports: `ranges` (sorted, disjoint) and, when they
/// are every group of the frame, its row → group index.
#[derive(Clone, Copy)]
pub(crate) struct Universe<'a> {
    pub(crate) ranges: &'a [(u32, u32)],
    index: Option<&'a GroupIndex>,
}

impl<'a> Universe<'a> {
    pub(crate) fn new(frame: &'a Frame, ranges: &'a [(u32, u32)]) -> Universe<'a> {
        let every_group = std::ptr::eq(ranges, frame.groups.as_slice());
        Universe { ranges, index: every_group.then(|| frame.group_index()) }
    }
}

/// Calls `f(range index, row)` for every row where `mask` is true that lies in one of the
/// universe's ranges, in row order, visiting only the set rows: eight false bytes are skipped
/// at a time, so a sparse mask costs little more than reading it. Each hit's group is found by
/// the frame's group index when the universe is every group, else by galloping from the
/// previous hit's.
pub(crate) fn for_each_sparse_hit(mask: &[bool], u: Universe<'_>, mut f: impl FnMut(usize, usize)) {
    match u.index {
        Some(index) => for_each_set(mask, |r| f(index.group_of(r), r)),
        None => {
            let ranges = u.ranges;
            let mut g = 0;
            for_each_set(mask, |r| {
                g = advance(ranges, g, r);
                if g < ranges.len() && ranges[g].0 as usize <= r {
                    f(g, r);
                }
            });
        }
    }
}

/// Calls `hit(row)` for every set byte of `mask`, in order.
#[inline]
fn for_each_set(mask: &[bool], mut hit: impl FnMut(usize)) {
    let mut chunks = mask.chunks_exact(8);
    let mut base = 0;
    for c in &mut chunks {
        let mut w = eight_bytes(c);
        while w != 0 {
            hit(base + (w.trailing_zeros() / 8) as usize);
            w &= w - 1;
        }
        base += 8;
    }
    for (i, &m) in chunks.remainder().iter().enumerate() {
        if m {
            hit(base + i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{GroupIndex, ranges_of};

    /// Every length around the 240-row blocks, all set (the most a byte lane may hold) and
    /// pseudo-random: as counting the set bytes one by one.
    #[test]
    fn count_set_as_brute_force() {
        let mut x = 0x2545_F491_u64;
        for n in (0..=1000).chain([4799, 4800, 4801]) {
            let full = vec![true; n];
            assert_eq!(count_set(&full), n);
            let mask: Vec<bool> = (0..n)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x.is_multiple_of(3)
                })
                .collect();
            assert_eq!(count_set(&mask), mask.iter().filter(|&&b| b).count(), "length {n}");
        }
    }

    /// Every range of up to 20 rows at every offset of a pseudo-random mask (ranges that end
    /// near the mask's end take the long path): as counting the set bytes one by one.
    #[test]
    fn count_range_as_brute_force() {
        let mut x = 0x9E37_79B9_u64;
        let mask: Vec<bool> = (0..100)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x & 1 == 1
            })
            .collect();
        for lo in 0..=mask.len() {
            for hi in lo..=(lo + 20).min(mask.len()) {
                let expected = mask[lo..hi].iter().filter(|&&b| b).count() as u64;
                assert_eq!(count_range(&mask, lo, hi), expected, "rows {lo}..{hi}");
            }
        }
        let full = vec![true; 16];
        assert_eq!(count_range(&full, 3, 11), 8);
        assert_eq!(count_range(&full, 0, 0), 0);
    }

    /// Groups of 1..=70 rows (some cross 64-row words), a pseudo-random mask, and every
    /// other group as a sub-universe: each walk reports exactly the brute-force (group, row)
    /// pairs.
    #[test]
    fn sparse_walks_find_each_hit_group() {
        let mut seed = 0x9E37_79B9_u64;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let mut starts = vec![0u32];
        while *starts.last().unwrap() < 5_000 {
            let len = if next(4) == 0 { 1 + next(70) } else { 1 + next(3) } as u32;
            starts.push(starts.last().unwrap() + len);
        }
        let groups = ranges_of(&starts);
        let n_rows = *starts.last().unwrap() as usize;
        let mask: Vec<bool> = (0..n_rows).map(|_| next(10) == 0).collect();
        let index = GroupIndex::new(&groups, n_rows);
        let brute = |ranges: &[(u32, u32)]| -> Vec<(usize, usize)> {
            let mut out = Vec::new();
            for (g, &(lo, hi)) in ranges.iter().enumerate() {
                out.extend((lo as usize..hi as usize).filter(|&r| mask[r]).map(|r| (g, r)));
            }
            out
        };
        let walk = |u: Universe<'_>| {
            let mut got = Vec::new();
            for_each_sparse_hit(&mask, u, |g, r| got.push((g, r)));
            got
        };
        assert_eq!(walk(Universe { ranges: &groups, index: Some(&index) }), brute(&groups));
        assert_eq!(walk(Universe { ranges: &groups, index: None }), brute(&groups));
        let some: Vec<(u32, u32)> = groups.iter().copied().step_by(2).collect();
        assert_eq!(walk(Universe { ranges: &some, index: None }), brute(&some));
        for r in 0..n_rows {
            let g = groups.partition_point(|x| x.1 as usize <= r);
            assert_eq!(index.group_of(r), g, "row {r}");
        }
    }
}
