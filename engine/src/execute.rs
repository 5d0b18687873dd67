//! Query execution over a prepared [`Frame`] (docs/query-language.md "Execution order"): timeframe → conditions → relation →
//! aggregations over all rows of matching groups → funnel.

use crate::EngineError;
use crate::aggregate::aggregate;
use crate::frame::{Frame, Timestamps};
use crate::insights::{BreakdownAcc, TimingAcc};
use crate::predicate::step_masks;
use crate::select::{SelectPlan, select_groups};
use crate::sequence::{SeqMatcher, TsExt, Witness, seq_spec};
use crate::timeframe::{inside_bitmap, inside_ranges};
use protocol::result::{PartialFunnel, PartialStep};
use protocol::{AggOptions, Literal, PartialResult, Query, Timeframe};
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
    // A timeframe admitting every row selects the frame as it is (no pass over the timestamps):
    // a frame read with only the timeframe's rows (the reader's timeframe pushdown) is one.
    let timeframe = query.timeframe.as_ref().filter(|tf| !frame.within(tf));
    match &frame.ts {
        Timestamps::Int(ts) => run(frame, ts, timeframe, query, opts),
        Timestamps::Offsets { base, offsets } => {
            let tf = timeframe.map(|t| offset_timeframe(t, *base));
            run(frame, offsets, tf.as_ref(), query, opts)
        }
        Timestamps::Float(ts) => run(frame, ts, timeframe, query, opts),
        Timestamps::Absent if query.needs_timestamps() => {
            Err(EngineError::Internal("the part was prepared without timestamps, but the query needs them".into()))
        }
        // No timeframe, sequence or funnel: nothing reads a timestamp.
        Timestamps::Absent => run::<i64>(frame, &[], None, query, opts),
    }
}

/// A timeframe over integer timestamps as the same timeframe over their offsets from `base`
/// ([`Timestamps::Offsets`], each offset below `u32::MAX`): every numeric bound becomes an
/// integer in `0..=u32::MAX` that selects exactly the same rows (a float bound `f` as
/// `ceil(f)`, since `t >= f` and `t < f` are `t >= ceil(f)` and `t < ceil(f)` for an integer
/// `t`; a bound beyond every offset clamped to the nearest end).
fn offset_timeframe(tf: &Timeframe, base: i64) -> Timeframe {
    let shift = |lit: &Literal| -> Literal {
        let v: i128 = match lit {
            Literal::Int(v) => i128::from(*v),
            Literal::UInt(v) => i128::from(*v),
            Literal::Float(f) if f.is_nan() => return lit.clone(),
            // Beyond i64 either way (±1e19) the clamp below decides, without overflow.
            Literal::Float(f) => f.ceil().clamp(-1e19, 1e19) as i128,
            _ => return lit.clone(),
        };
        Literal::Int((v - i128::from(base)).clamp(0, i128::from(u32::MAX)) as i64)
    };
    Timeframe { from: tf.from.as_ref().map(shift), to: tf.to.as_ref().map(shift) }
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
        // Timestamps have no NaN (the builder rejects them) and a group's rows are ordered by
        // timestamp, so a group's inside rows are contiguous: from its first inside row to its
        // last (timeframe.rs: a bitmap of the inside rows, then a walk over the groups with any).
        let words = match (from, to) {
            (Some(f), Some(x)) => T::between_bitmap(ts, f, x),
            (Some(f), None) => inside_bitmap(ts, |t| t >= f),
            (None, Some(x)) => inside_bitmap(ts, |t| t < x),
            (None, None) => return Cow::Borrowed(&frame.groups),
        };
        let out = inside_ranges(&words, frame.group_index().starts(), frame.n_rows);
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

/// Runs `query` with its timeframe given as `tf` (in the timestamps' own terms).
fn run<T: TsExt>(
    frame: &Frame,
    ts: &[T],
    tf: Option<&Timeframe>,
    query: &Query,
    opts: &EngineOptions,
) -> Result<PartialResult, EngineError> {
    let ranges = active_ranges(frame, ts, tf);
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

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::{Column, DataFrame};
    use protocol::validate_query_value;
    use serde_json::{Value, json};

    /// 40 groups of 1..9 rows with timestamps around 1.4e9 (narrow: stored as offsets), and the
    /// same frame with its timestamps as plain i64s.
    fn frames() -> (Frame, Frame) {
        let (u, ts, ev) = rows();
        let narrow = frame_of(&u, &ts, &ev);
        assert!(matches!(narrow.ts, Timestamps::Offsets { .. }), "a narrow span is stored as offsets");
        let mut wide = narrow.clone();
        wide.ts = Timestamps::Int(narrow.ts.as_i64().unwrap());
        (narrow, wide)
    }

    fn frame_of(u: &[i64], ts: &[i64], ev: &[&str]) -> Frame {
        let df = DataFrame::new_infer_height(vec![
            Column::new("u".into(), u),
            Column::new("ts".into(), ts),
            Column::new("ev".into(), ev),
        ])
        .unwrap();
        Frame::prepare(&df, "u", "ts", &["ev".to_string()]).unwrap()
    }

    /// The rows of [`frames`]: (group, timestamp, event).
    fn rows() -> (Vec<i64>, Vec<i64>, Vec<&'static str>) {
        let (mut u, mut ts, mut ev) = (Vec::new(), Vec::new(), Vec::new());
        let mut x = 7u64;
        for g in 0..40i64 {
            let mut t = 1_400_000_000 + g * 13;
            for _ in 0..1 + g % 9 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                t += (x % 50) as i64;
                u.push(g);
                ts.push(t);
                ev.push(if x.is_multiple_of(3) { "a" } else { "b" });
            }
        }
        (u, ts, ev)
    }

    /// The timeframe bounds the tests try: actual timestamps, halfway to their neighbours (a
    /// float bound next to a row's timestamp is where rounding it the wrong way would show),
    /// and bounds far outside, in every JSON number form.
    fn bounds(t: &[i64]) -> Vec<Value> {
        let mut bounds: Vec<Value> = [t[0], t[7], t[40], t[t.len() - 1]]
            .iter()
            .flat_map(|&v| [json!(v), json!(v as f64 - 0.5), json!(v as f64 + 0.5)])
            .collect();
        bounds.extend([
            json!(1_399_999_000.0),
            json!(1_500_000_000),
            json!(-5),
            json!(1e30),
            json!(-1e30),
            json!(9_223_372_036_854_775_807i64),
            json!(18_446_744_073_709_551_615u64),
        ]);
        bounds
    }

    /// Every timeframe over [`bounds`] (`None`: unbounded), as JSON.
    fn timeframes(t: &[i64]) -> Vec<(Option<f64>, Option<f64>, Value)> {
        let bounds = bounds(t);
        let mut out = Vec::new();
        for from in bounds.iter().map(Some).chain([None]) {
            for to in bounds.iter().map(Some).chain([None]) {
                let mut tf = json!({});
                if let Some(f) = from {
                    tf["from"] = f.clone();
                }
                if let Some(t) = to {
                    tf["to"] = t.clone();
                }
                out.push((from.map(|v| v.as_f64().unwrap()), to.map(|v| v.as_f64().unwrap()), tf));
            }
        }
        out
    }

    fn bodies() -> [Value; 3] {
        [
            json!({"query": {"conditions": [{"filter": ["ev", "==", "a"], "target": ["count", ">=", 1]}]}}),
            json!({"query": {"conditions": [{"sequence": [{"filter": ["ev", "==", "b"]}, {"filter": ["ev", "==", "a"]}],
                "maxDuration": 60}]}}),
            json!({"funnel": {"sequence": [{"filter": ["ev", "==", "b"]}, {"filter": ["ev", "==", "a"]}],
                "maxDuration": 90.5, "stepTimings": {}}}),
        ]
    }

    /// A frame of only the rows a timeframe admits (as the reader's timeframe pushdown builds
    /// it) answers the query with that timeframe as the whole frame does: the engine skips a
    /// timeframe admitting every row of a frame, and that must select the same rows. Reference:
    /// the admitted rows chosen here by comparing in f64 (exact: these timestamps are below
    /// 2^53), the query then run on them without a timeframe.
    #[test]
    fn a_timeframe_admitting_every_row_is_skipped_with_the_same_answer() {
        let (u, ts, ev) = rows();
        let whole = frame_of(&u, &ts, &ev);
        let (mut checked, mut partial) = (0, 0);
        for (from, to, tf) in timeframes(&ts) {
            let inside = |t: i64| from.is_none_or(|f| t as f64 >= f) && to.is_none_or(|x| (t as f64) < x);
            let keep: Vec<usize> = (0..ts.len()).filter(|&i| inside(ts[i])).collect();
            if keep.is_empty() {
                continue;
            }
            let pick = |i: &usize| (u[*i], ts[*i], ev[*i]);
            let (ku, (kts, kev)): (Vec<i64>, (Vec<i64>, Vec<&str>)) =
                keep.iter().map(pick).map(|(a, b, c)| (a, (b, c))).unzip();
            let part = frame_of(&ku, &kts, &kev);
            for body in bodies() {
                let mut q = body;
                q["timeframe"] = tf.clone();
                let Ok(v) = validate_query_value(&q, None) else { continue };
                let Ok(plain) = validate_query_value(
                    &{
                        q.as_object_mut().unwrap().remove("timeframe");
                        q
                    },
                    None,
                ) else {
                    panic!("a query without its timeframe is valid")
                };
                let opts = EngineOptions::default();
                let tf = v.query.timeframe.as_ref().unwrap();
                assert!(part.within(tf), "{tf:?} admits every row it kept");
                assert_eq!(whole.within(tf), keep.len() == ts.len(), "{tf:?}");
                partial += usize::from(!whole.within(tf));
                let reference = execute(&part, &plain.query, &opts).unwrap();
                assert_eq!(execute(&part, &v.query, &opts).unwrap(), reference, "{tf:?}");
                assert_eq!(execute(&whole, &v.query, &opts).unwrap(), reference, "{tf:?}");
                checked += 1;
            }
        }
        assert!(checked > 300 && partial > 100, "valid pairs, some admitting only some rows ({checked}, {partial})");
    }

    #[test]
    fn offsets_answer_as_i64_timestamps() {
        let (narrow, wide) = frames();
        // Actual timestamps, and halfway to their neighbours (a float bound next to a row's
        // timestamp is where rounding it the wrong way would show).
        let t = narrow.ts.as_i64().unwrap();
        let mut checked = 0;
        for (_, _, tf) in timeframes(&t) {
            for body in bodies() {
                let mut q = body;
                q["timeframe"] = tf.clone();
                // (`to` must be above `from`: about half the pairs are rejected.)
                let Ok(v) = validate_query_value(&q, None) else { continue };
                let opts = EngineOptions::default();
                let (a, b) = (execute(&narrow, &v.query, &opts).unwrap(), execute(&wide, &v.query, &opts).unwrap());
                assert_eq!(a, b, "{q}");
                checked += 1;
            }
        }
        assert!(checked > 600, "the valid pairs, every body ({checked})");
    }

    #[test]
    fn offset_bounds_are_clamped_exactly() {
        let int = |l: Literal| if let Literal::Int(v) = l { v } else { panic!("{l:?}") };
        let shifted = |l: Literal| int(offset_timeframe(&Timeframe { from: Some(l), to: None }, 1000).from.unwrap());
        assert_eq!(shifted(Literal::Int(1005)), 5);
        assert_eq!(shifted(Literal::Int(999)), 0);
        assert_eq!(shifted(Literal::Float(1004.2)), 5, "t >= 1004.2 is t >= 1005");
        assert_eq!(shifted(Literal::Float(1004.0)), 4);
        assert_eq!(shifted(Literal::Float(-1e300)), 0);
        assert_eq!(shifted(Literal::Float(1e300)), i64::from(u32::MAX));
        assert_eq!(shifted(Literal::UInt(u64::MAX)), i64::from(u32::MAX));
        assert_eq!(shifted(Literal::Int(i64::MIN)), 0);
    }

    #[test]
    fn timestamps_narrow_only_below_u32_span() {
        let span = |d: i64| Timestamps::Int(vec![-3, -3 + d, 0]).narrowed();
        let near = i64::from(u32::MAX) - 1;
        assert!(matches!(span(near), (Timestamps::Offsets { base: -3, .. }, Some((-3, m))) if m == near - 3));
        assert!(matches!(span(near + 1), (Timestamps::Int(_), Some((-3, m))) if m == near - 2));
        assert!(matches!(Timestamps::Int(vec![]).narrowed(), (Timestamps::Int(_), None)));
        let wide = Timestamps::Int(vec![i64::MIN, i64::MAX]).narrowed();
        assert!(matches!(wide, (Timestamps::Int(_), Some((i64::MIN, i64::MAX)))));
        assert!(matches!(Timestamps::Float(vec![1.0]).narrowed(), (Timestamps::Float(_), None)));
        let (Timestamps::Offsets { base, offsets }, span) = Timestamps::Int(vec![7, 5, 9]).narrowed() else { panic!() };
        assert_eq!((base, offsets, span), (5, vec![2, 0, 4], Some((5, 9))));
    }
}
