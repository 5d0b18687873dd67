//! Query execution over a prepared [`Frame`] (docs/query-language.md "Execution order"): timeframe → conditions → relation →
//! aggregations over all rows of matching groups → funnel.

use crate::EngineError;
use crate::aggregate::aggregate;
use crate::frame::{Frame, Timestamps};
use crate::insights::{BreakdownAcc, TimingAcc};
use crate::predicate::step_masks;
use crate::select::{SelectPlan, Universe, count_set, for_each_sparse_hit, select_groups};
use crate::sequence::{SeqMatcher, TsExt, Witness, seq_spec};
use protocol::result::{PartialFunnel, PartialStep};
use protocol::{AggOptions, PartialResult, Query, Timeframe};
use std::borrow::Cow;
use std::cmp::Ordering;

/// Engine settings that do not come from the query.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct EngineOptions {
    pub agg: AggOptions,
    /// How groups are selected (`select.rs`); every plan gives the same answer.
    pub plan: SelectPlan,
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
/// Without a timeframe: the frame's groups as they are (borrowed).
fn active_ranges<'f, T: TsExt>(frame: &'f Frame, ts: &[T], tf: Option<&Timeframe>) -> Cow<'f, [(u32, u32)]> {
    let (from, to) = match tf {
        Some(t) if t.from.is_some() || t.to.is_some() => (t.from.as_ref(), t.to.as_ref()),
        // Every group's whole run (timestamps are not touched: they may be absent).
        _ => return Cow::Borrowed(&frame.groups),
    };
    // Typed bounds (None: no bound; Some(None): not exactly a timestamp, compared generically).
    let typed = (from.map(T::exact_bound), to.map(T::exact_bound));
    if !matches!(typed, (Some(None), _) | (_, Some(None))) {
        let (from, to) = (typed.0.flatten(), typed.1.flatten());
        // Which rows are inside, vectorised. Timestamps have no NaN (the builder rejects
        // them) and a group's rows are ordered by timestamp, so a group's inside rows are
        // contiguous: from its first inside row to its last.
        let inside: Vec<bool> = match (from, to) {
            (Some(f), Some(x)) => ts.iter().map(|&t| (t >= f) & (t < x)).collect(),
            (Some(f), None) => ts.iter().map(|&t| t >= f).collect(),
            (None, Some(x)) => ts.iter().map(|&t| t < x).collect(),
            (None, None) => vec![true; ts.len()],
        };
        if count_set(&inside) < inside.len() / 4 {
            // A narrow timeframe: visit only the inside rows, each one's group found through
            // the frame's group index (no pass over every group).
            let (mut out, mut last) = (Vec::new(), usize::MAX);
            for_each_sparse_hit(&inside, Universe::new(frame, &frame.groups), |g, r| match out.last_mut() {
                Some((_, end)) if last == g => *end = r as u32 + 1,
                _ => {
                    out.push((r as u32, r as u32 + 1));
                    last = g;
                }
            });
            return Cow::Owned(out);
        }
        let mut out = Vec::with_capacity(frame.groups.len());
        for &(s, e) in &frame.groups {
            let (s, e) = (s as usize, e as usize);
            let run = &inside[s..e];
            if let Some(lo) = run.iter().position(|&x| x) {
                let hi = run.iter().rposition(|&x| x).map_or(lo, |h| h + 1);
                out.push(((s + lo) as u32, (s + hi) as u32));
            }
        }
        return Cow::Owned(out);
    }
    let mut out = Vec::new();
    for &(s, e) in &frame.groups {
        let (s, e) = (s as usize, e as usize);
        let run = &ts[s..e];
        // Rows of a group are ordered by timestamp, so the timeframe is a sub-range.
        let lo = from.map_or(0, |f| run.partition_point(|t| t.cmp_literal(f) == Some(Ordering::Less)));
        let hi = to.map_or(run.len(), |t| run.partition_point(|x| x.cmp_literal(t) == Some(Ordering::Less)));
        if lo < hi {
            out.push(((s + lo) as u32, (s + hi) as u32));
        }
    }
    Cow::Owned(out)
}

fn n_rows(ranges: &[(u32, u32)]) -> u64 {
    ranges.iter().map(|&(lo, hi)| u64::from(hi - lo)).sum()
}

fn run<T: TsExt>(frame: &Frame, ts: &[T], query: &Query, opts: &EngineOptions) -> Result<PartialResult, EngineError> {
    let ranges = active_ranges(frame, ts, query.timeframe.as_ref());
    let conditions = query.conditions();
    let selected: Cow<'_, [(u32, u32)]> = if conditions.is_empty() {
        Cow::Borrowed(&ranges[..])
    } else {
        let expr = query
            .query
            .as_ref()
            .and_then(|q| q.relation_expr.as_ref())
            .ok_or_else(|| EngineError::Internal("conditions without a parsed relation".into()))?;
        Cow::Owned(select_groups(frame, ts, conditions, expr, &ranges, opts.plan)?)
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
            for &(lo, hi) in selected.iter() {
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
        scanned_rows: if matches!(ranges, Cow::Borrowed(_)) { frame.n_rows as u64 } else { n_rows(&ranges) },
        scanned_groups: ranges.len() as u64,
    })
}
