//! Query execution over a prepared [`Frame`] (docs/query-language.md "Execution order"): timeframe → conditions → relation →
//! aggregations over all rows of matching groups → funnel.

use crate::EngineError;
use crate::aggregate::aggregate;
use crate::frame::{Col, Frame, Timestamps};
use crate::insights::{BreakdownAcc, TimingAcc};
use crate::predicate::filter_set_mask;
use crate::sequence::{SeqMatcher, SeqSpec, Ts, Witness};
use protocol::exact_sum::ExactSum;
use protocol::result::{PartialFunnel, PartialStep};
use protocol::validate::{cmp_i128_f64, compare_numbers};
use protocol::{AggOptions, Condition, Literal, PartialResult, Query, Step, Target, TargetOp, Timeframe};
use std::cmp::Ordering;

/// Engine settings that do not come from the query.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EngineOptions {
    pub agg: AggOptions,
}

/// A timestamp type with exact comparison to query literals.
trait TsExt: Ts {
    fn cmp_literal(self, lit: &Literal) -> Option<Ordering>;
}
impl TsExt for i64 {
    fn cmp_literal(self, lit: &Literal) -> Option<Ordering> {
        compare_numbers(&Literal::Int(self), lit)
    }
}
impl TsExt for f64 {
    fn cmp_literal(self, lit: &Literal) -> Option<Ordering> {
        compare_numbers(&Literal::Float(self), lit)
    }
}

/// Runs a validated query on a prepared frame and returns the part's partial result.
pub fn execute(frame: &Frame, query: &Query, opts: &EngineOptions) -> Result<PartialResult, EngineError> {
    match &frame.ts {
        Timestamps::Int(ts) => run(frame, ts, query, opts),
        Timestamps::Float(ts) => run(frame, ts, query, opts),
        Timestamps::Absent if query.needs_timestamps() => {
            Err(EngineError::Internal("the part was prepared without timestamps, but the query needs them".into()))
        }
        // No timeframe, sequence or funnel: nothing reads a timestamp.
        Timestamps::Absent => run::<i64>(frame, &[], query, opts),
    }
}

/// The rows of each group inside the timeframe; groups with none are left out.
fn active_ranges<T: TsExt>(frame: &Frame, ts: &[T], tf: Option<&Timeframe>) -> Vec<(u32, u32)> {
    let starts = &frame.group_starts;
    let n_groups = frame.n_groups();
    let mut out = Vec::with_capacity(n_groups);
    let (from, to) = match tf {
        Some(t) if t.from.is_some() || t.to.is_some() => (t.from.as_ref(), t.to.as_ref()),
        // Every group's whole run (timestamps are not touched: they may be absent).
        _ => return starts.windows(2).filter(|w| w[0] < w[1]).map(|w| (w[0], w[1])).collect(),
    };
    for g in 0..n_groups {
        let (s, e) = (starts[g] as usize, starts[g + 1] as usize);
        let run = &ts[s..e];
        // Rows of a group are ordered by timestamp, so the timeframe is a sub-range.
        let lo = from.map_or(0, |f| run.partition_point(|t| t.cmp_literal(f) == Some(Ordering::Less)));
        let hi = to.map_or(run.len(), |t| run.partition_point(|x| x.cmp_literal(t) == Some(Ordering::Less)));
        if lo < hi {
            out.push(((s + lo) as u32, (s + hi) as u32));
        }
    }
    out
}

fn sum_target_holds(sum: &SumAcc, op: TargetOp, value: &Literal) -> bool {
    let ord = match sum {
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

/// Calls `f(range index, row)` for every row where `mask` is true that lies in one of `ranges`
/// (sorted, disjoint), in row order: through the ranges' rows for a dense mask, else
/// [`for_each_sparse_hit`].
fn for_each_hit(mask: &[bool], ranges: &[(u32, u32)], mut f: impl FnMut(usize, usize)) {
    if is_sparse(mask) {
        return for_each_sparse_hit(mask, ranges, f);
    }
    for (g, &(lo, hi)) in ranges.iter().enumerate() {
        let lo = lo as usize;
        for (r, &m) in mask[lo..hi as usize].iter().enumerate() {
            if m {
                f(g, lo + r);
            }
        }
    }
}

/// As [`for_each_hit`], visiting only the set rows: eight false bytes are skipped at a time, so
/// a sparse mask costs little more than reading it.
fn for_each_sparse_hit(mask: &[bool], ranges: &[(u32, u32)], mut f: impl FnMut(usize, usize)) {
    let mut g = 0;
    let mut hit = |r: usize| {
        while g < ranges.len() && ranges[g].1 as usize <= r {
            g += 1;
        }
        if g < ranges.len() && ranges[g].0 as usize <= r {
            f(g, r);
        }
    };
    let mut chunks = mask.chunks_exact(8);
    let mut base = 0;
    for c in &mut chunks {
        // Each bool is one byte, 0 or 1: a set byte is one set bit.
        let mut w = u64::from_le_bytes(std::array::from_fn(|i| u8::from(c[i])));
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

/// Whether fewer than one row in 16 is set: then visiting only the set rows beats a pass over
/// every group's rows.
fn is_sparse(mask: &[bool]) -> bool {
    mask.iter().map(|&b| usize::from(b)).sum::<usize>() < mask.len() / 16
}

enum SumAcc {
    Int(i128),
    Float(ExactSum),
}

/// Per active group: whether the condition holds.
fn eval_condition<T: TsExt>(
    frame: &Frame,
    ts: &[T],
    cond: &Condition,
    ranges: &[(u32, u32)],
) -> Result<Vec<bool>, EngineError> {
    match cond {
        Condition::Filter { filters, target, include_zero, .. } => {
            let mask = filter_set_mask(frame, filters)?;
            match target {
                Target::Count { op, value } => {
                    // Groups with no matching row keep `zero_ok`; with a sparse mask the others are
                    // found by visiting only the matching rows.
                    let zero_ok = *include_zero && op.holds(0u64.cmp(value));
                    let holds = |n: u64| if n == 0 { zero_ok } else { op.holds(n.cmp(value)) };
                    if !is_sparse(&mask) {
                        // Most rows match: a vectorised count per group.
                        return Ok(ranges
                            .iter()
                            .map(|&(lo, hi)| holds(mask[lo as usize..hi as usize].iter().map(|&b| u64::from(b)).sum()))
                            .collect());
                    }
                    let mut out = vec![zero_ok; ranges.len()];
                    let mut current: Option<(usize, u64)> = None;
                    for_each_sparse_hit(&mask, ranges, |g, _| match &mut current {
                        Some((cg, n)) if *cg == g => *n += 1,
                        _ => {
                            if let Some((cg, n)) = current.replace((g, 1)) {
                                out[cg] = holds(n);
                            }
                        }
                    });
                    if let Some((cg, n)) = current {
                        out[cg] = holds(n);
                    }
                    Ok(out)
                }
                Target::Sum { column, op, value } => {
                    let col = frame.column(column)?;
                    let new_acc = match col {
                        Col::Int { .. } => || SumAcc::Int(0),
                        Col::Float { .. } => || SumAcc::Float(ExactSum::new()),
                        other => {
                            return Err(EngineError::TypeMismatch {
                                column: column.clone(),
                                found: other.type_name().to_string(),
                                usage: "as a sum target".to_string(),
                            });
                        }
                    };
                    // A group matches only with at least one matching row: others stay false.
                    let mut out = vec![false; ranges.len()];
                    let mut current: Option<(usize, SumAcc)> = None;
                    for_each_hit(&mask, ranges, |g, r| {
                        if current.as_ref().is_none_or(|(cg, _)| *cg != g) {
                            if let Some((cg, acc)) = current.take() {
                                out[cg] = sum_target_holds(&acc, *op, value);
                            }
                            current = Some((g, new_acc()));
                        }
                        match (&mut current, col) {
                            (Some((_, SumAcc::Int(s))), Col::Int { values, valid })
                                if valid.as_ref().is_none_or(|v| v[r]) =>
                            {
                                *s += i128::from(values[r]);
                            }
                            (Some((_, SumAcc::Float(s))), Col::Float { values }) if !values[r].is_nan() => {
                                s.add(values[r]);
                            }
                            _ => {}
                        }
                    });
                    if let Some((cg, acc)) = current {
                        out[cg] = sum_target_holds(&acc, *op, value);
                    }
                    Ok(out)
                }
            }
        }
        Condition::Sequence { steps, max_duration, .. } => {
            let masks = step_masks(frame, steps)?;
            let spec = seq_spec(&masks, steps, max_duration.as_ref());
            let mut m = SeqMatcher::new();
            let mut buf = Vec::new();
            Ok(ranges.iter().map(|&(lo, hi)| m.matches(&spec, ts, lo as usize, hi as usize, &mut buf)).collect())
        }
    }
}

fn step_masks(frame: &Frame, steps: &[Step]) -> Result<Vec<Vec<bool>>, EngineError> {
    steps.iter().map(|s| filter_set_mask(frame, &s.filters)).collect()
}

fn seq_spec<'a>(masks: &'a [Vec<bool>], steps: &[Step], window: Option<&'a Literal>) -> SeqSpec<'a> {
    SeqSpec {
        masks: masks.iter().map(Vec::as_slice).collect(),
        row_found: steps.iter().map(|s| s.row_found).collect(),
        window,
    }
}

fn n_rows(ranges: &[(u32, u32)]) -> u64 {
    ranges.iter().map(|&(lo, hi)| u64::from(hi - lo)).sum()
}

fn run<T: TsExt>(frame: &Frame, ts: &[T], query: &Query, opts: &EngineOptions) -> Result<PartialResult, EngineError> {
    let ranges = active_ranges(frame, ts, query.timeframe.as_ref());
    let conditions = query.conditions();
    let selected: Vec<(u32, u32)> = if conditions.is_empty() {
        ranges.clone()
    } else {
        let results: Vec<Vec<bool>> =
            conditions.iter().map(|c| eval_condition(frame, ts, c, &ranges)).collect::<Result<_, _>>()?;
        let expr = query
            .query
            .as_ref()
            .and_then(|q| q.relation_expr.as_ref())
            .ok_or_else(|| EngineError::Internal("conditions without a parsed relation".into()))?;
        if expr.used_conditions().iter().any(|&i| i >= results.len()) {
            return Err(EngineError::Internal("relation refers to a missing condition".into()));
        }
        ranges.iter().enumerate().filter(|(g, _)| expr.eval(&|i| results[i][*g])).map(|(_, r)| *r).collect()
    };
    let aggregations = query.aggregations().map(|a| aggregate(frame, a, &selected, &opts.agg)).transpose()?;
    let funnel = match &query.funnel {
        None => None,
        Some(f) => {
            let masks = step_masks(frame, &f.sequence)?;
            let spec = seq_spec(&masks, &f.sequence, f.max_duration.as_ref());
            let n = f.sequence.len();
            let mut per_step: Vec<Vec<(u32, u32)>> = vec![Vec::new(); n];
            let mut matcher = SeqMatcher::new();
            let mut prefix_ok = vec![false; n];
            let mut timings = f.step_timings.as_ref().map(|t| TimingAcc::new(&f.sequence, t.exact_limit, T::IS_INT));
            let mut witness: Vec<Witness<T>> = vec![None; n];
            let mut breakdown =
                f.breakdown.as_ref().map(|b| BreakdownAcc::new(frame, b, &f.sequence, &masks)).transpose()?;
            for &(lo, hi) in &selected {
                let (lo_u, hi_u) = (lo as usize, hi as usize);
                match timings.as_mut() {
                    Some(acc) => {
                        matcher.run_witnessed(&spec, ts, lo_u, hi_u, &mut prefix_ok, &mut witness);
                        acc.add(&witness);
                    }
                    None => matcher.run(&spec, ts, lo_u, hi_u, &mut prefix_ok),
                }
                if let Some(b) = breakdown.as_mut() {
                    b.add(lo_u, hi_u, &prefix_ok);
                }
                for (k, &ok) in prefix_ok.iter().enumerate() {
                    if ok {
                        per_step[k].push((lo, hi));
                    }
                }
            }
            let mut step_timings = timings.map(TimingAcc::finish).unwrap_or_else(|| vec![None; n]).into_iter();
            let sequence = per_step
                .iter()
                .map(|sel| {
                    Ok(PartialStep {
                        matching_groups: sel.len() as u64,
                        matching_group_rows: n_rows(sel),
                        aggregations: f
                            .step_aggregations
                            .as_ref()
                            .map(|a| aggregate(frame, a, sel, &opts.agg))
                            .transpose()?,
                        timings: step_timings.next().flatten(),
                    })
                })
                .collect::<Result<Vec<_>, EngineError>>()?;
            let end_aggregations = f
                .end_aggregations
                .as_ref()
                .map(|a| aggregate(frame, a, per_step.last().map(Vec::as_slice).unwrap_or(&[]), &opts.agg))
                .transpose()?;
            let breakdown = breakdown.map(|b| b.finish(&opts.agg));
            Some(PartialFunnel { sequence, end_aggregations, breakdown })
        }
    };
    Ok(PartialResult {
        matching_groups: selected.len() as u64,
        matching_group_rows: n_rows(&selected),
        aggregations,
        funnel,
        scanned_rows: n_rows(&ranges),
        scanned_groups: ranges.len() as u64,
    })
}
