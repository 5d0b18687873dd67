//! Sequence matching per group (docs/query-language.md "Sequences and funnels"): strictly increasing timestamps over the positive
//! steps, `rowFound: false` steps as "no such row in the open interval between the neighbouring
//! positive steps", and an existential, inclusive `maxDuration` window.
//!
//! Without negative steps or a window the greedy earliest match is exact and runs in one scan.
//! Otherwise an exact DP runs over the positive steps: for a candidate row `u` of step j+1 the
//! best predecessor is the latest reachable row `t` of step j with `ts(t) < ts(u)`, valid iff no
//! negative row lies strictly between them (`t >= pn(u)`, the last negative timestamp before
//! `u`). Each reachable row keeps the latest start of any chain ending at it; that start is
//! non-decreasing in the row's timestamp, so the latest predecessor is also the one with the
//! latest start, and `ts(u) − start(u)` is the shortest chain ending at `u`.

use crate::timeframe::{between_bitmap_wrapping, inside_bitmap};
use protocol::Literal;
use protocol::exact_sum::ExactSum;
use protocol::result::Num;
use protocol::validate::{cmp_i128_f64, compare_numbers};
use std::cmp::Ordering;

/// A timestamp type the matcher works on.
pub(crate) trait Ts: Copy + PartialOrd + std::fmt::Debug {
    /// Integer timestamps (durations are then exact integers).
    const IS_INT: bool;
    /// Whether `last - first <= window` (exactly for integers).
    fn within(first: Self, last: Self, window: &Literal) -> bool;
    /// `last - first`: exactly (an `i128`, or an exact float sum of `last` and `-first`), and
    /// as a number.
    fn duration(first: Self, last: Self) -> (Num, f64);
}

impl Ts for i64 {
    const IS_INT: bool = true;
    fn duration(first: i64, last: i64) -> (Num, f64) {
        // i64 arithmetic when it cannot overflow: converting an i128 to f64 is a slow
        // software routine, and this runs per user and step.
        match last.checked_sub(first) {
            Some(d) => (Num::Int(i128::from(d)), d as f64),
            None => {
                let d = i128::from(last) - i128::from(first);
                (Num::Int(d), d as f64)
            }
        }
    }
    fn within(first: i64, last: i64, window: &Literal) -> bool {
        let d = i128::from(last) - i128::from(first);
        match window {
            Literal::Int(w) => d <= i128::from(*w),
            Literal::UInt(w) => d <= i128::from(*w),
            Literal::Float(w) => cmp_i128_f64(d, *w) != Some(Ordering::Greater),
            _ => true,
        }
    }
}

/// 32-bit offsets from a part's minimum timestamp ([`crate::frame::Timestamps::Offsets`]):
/// durations and windows are differences, the same as the timestamps'.
impl Ts for u32 {
    const IS_INT: bool = true;
    #[inline]
    fn duration(first: u32, last: u32) -> (Num, f64) {
        let d = i64::from(last) - i64::from(first);
        (Num::Int(i128::from(d)), d as f64)
    }
    #[inline]
    fn within(first: u32, last: u32, window: &Literal) -> bool {
        i64::within(i64::from(first), i64::from(last), window)
    }
}

impl Ts for f64 {
    const IS_INT: bool = false;
    fn duration(first: f64, last: f64) -> (Num, f64) {
        let mut e = ExactSum::new();
        e.add(last);
        e.add(-first);
        (Num::Float(e), last - first)
    }
    fn within(first: f64, last: f64, window: &Literal) -> bool {
        let d = last - first;
        match window {
            Literal::Float(w) => d <= *w,
            Literal::Int(w) => cmp_i128_f64(i128::from(*w), d).is_some_and(|o| o != Ordering::Less),
            Literal::UInt(w) => cmp_i128_f64(i128::from(*w), d).is_some_and(|o| o != Ordering::Less),
            _ => true,
        }
    }
}

/// A timestamp type with exact comparison to query literals.
pub(crate) trait TsExt: Ts {
    fn cmp_literal(self, lit: &Literal) -> Option<Ordering>;
    /// The literal as a timestamp when comparing with it is exactly comparing with the literal
    /// (an integer bound on integer timestamps, a float bound on float ones).
    fn exact_bound(lit: &Literal) -> Option<Self>;
    /// The rows of `ts` with `from <= t < to`, as a bitmap ([`inside_bitmap`]).
    fn between_bitmap(ts: &[Self], from: Self, to: Self) -> Vec<u64> {
        inside_bitmap(ts, |t| (t >= from) & (t < to))
    }
}
impl TsExt for i64 {
    fn cmp_literal(self, lit: &Literal) -> Option<Ordering> {
        compare_numbers(&Literal::Int(self), lit)
    }
    fn exact_bound(lit: &Literal) -> Option<i64> {
        if let Literal::Int(v) = lit { Some(*v) } else { None }
    }
    fn between_bitmap(ts: &[i64], from: i64, to: i64) -> Vec<u64> {
        between_bitmap_wrapping(ts, from, to, |t, f| t.wrapping_sub(f) as u64)
    }
}
/// Offsets compare with literals already in offset space (the query's bounds shifted by the
/// part's base: `execute.rs`).
impl TsExt for u32 {
    fn cmp_literal(self, lit: &Literal) -> Option<Ordering> {
        compare_numbers(&Literal::Int(i64::from(self)), lit)
    }
    fn exact_bound(lit: &Literal) -> Option<u32> {
        if let Literal::Int(v) = lit { u32::try_from(*v).ok() } else { None }
    }
    fn between_bitmap(ts: &[u32], from: u32, to: u32) -> Vec<u64> {
        between_bitmap_wrapping(ts, from, to, u32::wrapping_sub)
    }
}

impl TsExt for f64 {
    fn cmp_literal(self, lit: &Literal) -> Option<Ordering> {
        compare_numbers(&Literal::Float(self), lit)
    }
    fn exact_bound(lit: &Literal) -> Option<f64> {
        if let Literal::Float(v) = lit { Some(*v) } else { None }
    }
}

/// A sequence's steps as row masks over the frame.
pub(crate) struct SeqSpec<'a> {
    pub masks: Vec<&'a [bool]>,
    pub row_found: Vec<bool>,
    pub window: Option<&'a Literal>,
}

/// The spec of a sequence of `steps` whose masks are `masks`, within `window`.
pub(crate) fn seq_spec<'a>(
    masks: &'a [Vec<bool>],
    steps: &[protocol::Step],
    window: Option<&'a Literal>,
) -> SeqSpec<'a> {
    SeqSpec {
        masks: masks.iter().map(Vec::as_slice).collect(),
        row_found: steps.iter().map(|s| s.row_found).collect(),
        window,
    }
}

impl SeqSpec<'_> {
    fn is_plain(&self) -> bool {
        self.window.is_none() && self.row_found.iter().all(|&p| p)
    }
    pub fn n_steps(&self) -> usize {
        self.masks.len()
    }
}

/// The matching used for a step's timings: (this step's timestamp, the first step's, the
/// previous positive step's) — docs/query-language.md "Funnel insights".
pub(crate) type Witness<T> = Option<(T, T, T)>;

/// Reusable buffers for matching one group after another. A reachable row is kept as
/// (its timestamp, the latest start of a chain ending at it, its predecessor's timestamp).
pub(crate) struct SeqMatcher<T> {
    reach: Vec<(T, T, T)>,
    next: Vec<(T, T, T)>,
}

impl<T: Ts> SeqMatcher<T> {
    pub fn new() -> Self {
        SeqMatcher { reach: Vec::new(), next: Vec::new() }
    }

    /// For the group rows `lo..hi` (ordered by timestamp), sets `prefix_ok[k]` to whether steps
    /// `0..=k` match as a sequence of their own, for every k.
    pub fn run(&mut self, spec: &SeqSpec<'_>, ts: &[T], lo: usize, hi: usize, prefix_ok: &mut [bool]) {
        self.dispatch(spec, ts, lo, hi, prefix_ok, None);
    }

    /// As [`run`](Self::run), also setting `witness[k]` for every positive step k reached: the
    /// greedy earliest match without negative steps or a window; otherwise, of the chains that
    /// complete step k earliest, the one with the latest start (and latest predecessor).
    pub fn run_witnessed(
        &mut self,
        spec: &SeqSpec<'_>,
        ts: &[T],
        lo: usize,
        hi: usize,
        prefix_ok: &mut [bool],
        witness: &mut [Witness<T>],
    ) {
        witness.iter_mut().for_each(|w| *w = None);
        self.dispatch(spec, ts, lo, hi, prefix_ok, Some(witness));
    }

    /// The greedy scan when it is exact, else the DP.
    fn dispatch(
        &mut self,
        spec: &SeqSpec<'_>,
        ts: &[T],
        lo: usize,
        hi: usize,
        prefix_ok: &mut [bool],
        witness: Option<&mut [Witness<T>]>,
    ) {
        if spec.is_plain() {
            greedy(spec, ts, lo, hi, prefix_ok, witness);
        } else {
            self.exact(spec, ts, lo, hi, prefix_ok, witness);
        }
    }

    /// Whether the whole sequence matches.
    pub fn matches(&mut self, spec: &SeqSpec<'_>, ts: &[T], lo: usize, hi: usize, buf: &mut Vec<bool>) -> bool {
        buf.clear();
        buf.resize(spec.n_steps(), false);
        self.run(spec, ts, lo, hi, buf);
        buf.last().copied().unwrap_or(false)
    }

    fn exact(
        &mut self,
        spec: &SeqSpec<'_>,
        ts: &[T],
        lo: usize,
        hi: usize,
        prefix_ok: &mut [bool],
        mut witness: Option<&mut [Witness<T>]>,
    ) {
        let n = spec.n_steps();
        let masks = &spec.masks;
        let fits = |first: T, last: T| spec.window.is_none_or(|w| T::within(first, last, w));
        // Leading negative steps: prefixes made only of them match iff no row matches any.
        let first_pos = spec.row_found.iter().position(|&p| p).unwrap_or(n);
        let mut lead_min: Option<T> = None;
        for k in 0..first_pos {
            let first_match = (lo..hi).find(|&r| masks[k][r]).map(|r| ts[r]);
            if let Some(t) = first_match
                && lead_min.is_none_or(|m| t < m)
            {
                lead_min = Some(t);
            }
            prefix_ok[k] = lead_min.is_none();
        }
        if first_pos == n {
            return;
        }
        // Step `first_pos`: every matching row not after the first leading-negative row.
        self.reach.clear();
        for r in lo..hi {
            let t = ts[r];
            if masks[first_pos][r] && lead_min.is_none_or(|m| t <= m) && self.reach.last().is_none_or(|l| l.0 < t) {
                self.reach.push((t, t, t));
            }
        }
        let mut cur = first_pos;
        loop {
            // `reach` is ordered by timestamp: the first fitting entry completes earliest.
            let best = self.reach.iter().find(|&&(t, s, _)| fits(s, t));
            prefix_ok[cur] = best.is_some();
            if let Some(w) = witness.as_deref_mut() {
                w[cur] = best.copied();
            }
            // Negative steps after `cur` are trailing for the prefixes that end on them.
            let mut k = cur + 1;
            let mut trailing_max: Option<T> = None;
            while k < n && !spec.row_found[k] {
                if let Some(r) = (lo..hi).rev().find(|&r| masks[k][r])
                    && trailing_max.is_none_or(|m| ts[r] > m)
                {
                    trailing_max = Some(ts[r]);
                }
                prefix_ok[k] = self.reach.iter().any(|&(t, s, _)| fits(s, t) && trailing_max.is_none_or(|m| t >= m));
                k += 1;
            }
            if k == n {
                return;
            }
            // Advance to positive step k, with negatives cur+1..k between.
            let negs = cur + 1..k;
            self.next.clear();
            let (mut p, mut q) = (0usize, lo);
            let mut pn: Option<T> = None;
            for r in lo..hi {
                if !masks[k][r] {
                    continue;
                }
                let u = ts[r];
                if self.next.last().is_some_and(|l| l.0 == u) {
                    continue;
                }
                while p < self.reach.len() && self.reach[p].0 < u {
                    p += 1;
                }
                while q < hi && ts[q] < u {
                    if negs.clone().any(|j| masks[j][q]) {
                        pn = Some(ts[q]);
                    }
                    q += 1;
                }
                if p > 0 {
                    let (t, s, _) = self.reach[p - 1];
                    if pn.is_none_or(|n| t >= n) {
                        self.next.push((u, s, t));
                    }
                }
            }
            std::mem::swap(&mut self.reach, &mut self.next);
            cur = k;
        }
    }
}

/// Greedy earliest match: exact when there are no negative steps and no window.
fn greedy<T: Ts>(
    spec: &SeqSpec<'_>,
    ts: &[T],
    lo: usize,
    hi: usize,
    prefix_ok: &mut [bool],
    mut witness: Option<&mut [Witness<T>]>,
) {
    let n = spec.n_steps();
    let mut state = 0usize;
    let mut last: Option<T> = None;
    let mut first: Option<T> = None;
    for (r, &t) in ts.iter().enumerate().take(hi).skip(lo) {
        if state == n {
            break;
        }
        if spec.masks[state][r] && last.is_none_or(|l| t > l) {
            if let Some(w) = witness.as_deref_mut() {
                w[state] = Some((t, *first.get_or_insert(t), last.unwrap_or(t)));
            }
            last = Some(t);
            state += 1;
        }
    }
    for (k, ok) in prefix_ok.iter_mut().enumerate() {
        *ok = k < state;
    }
}
