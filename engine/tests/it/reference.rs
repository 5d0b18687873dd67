//! A brute-force, row-by-row reference evaluator of docs/query-language.md, written independently of the
//! engine's kernels: no sorting tricks, no masks, exhaustive search over step assignments for
//! sequences. Slow by design; used on small data only.

use crate::data::{TestData, V};
use protocol::{AggType, Aggregation, Condition, Filter, FilterSet, Literal, Op, Query, Step, Target, TargetOp};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

fn lit_f64(l: &Literal) -> f64 {
    match l {
        Literal::Int(i) => *i as f64,
        Literal::UInt(u) => *u as f64,
        Literal::Float(f) => *f,
        _ => f64::NAN,
    }
}

fn num_of(v: &V) -> Option<f64> {
    match v {
        V::Int(i) => Some(*i as f64),
        V::Float(f) if !f.is_nan() => Some(*f),
        _ => None,
    }
}

fn ordered(op: Op, a: f64, b: f64) -> bool {
    match op {
        Op::Eq => a == b,
        Op::Ne => a != b,
        Op::Gt => a > b,
        Op::Ge => a >= b,
        Op::Lt => a < b,
        Op::Le => a <= b,
        _ => false,
    }
}

pub fn filter_row(d: &TestData, row: usize, f: &Filter) -> bool {
    let v = d.value(&f.column, row);
    let is_null = matches!(v, V::Null) || matches!(v, V::Float(x) if x.is_nan());
    if is_null {
        return f.op == Op::Ne || f.op == Op::NotContains;
    }
    match (v, &f.value) {
        (V::Str(s), Literal::Str(t)) => match f.op {
            Op::Eq => s == t,
            Op::Ne => s != t,
            Op::Contains => s.contains(t.as_str()),
            Op::NotContains => !s.contains(t.as_str()),
            Op::Regex => regex::Regex::new(t).unwrap().is_match(s),
            _ => panic!("bad string op"),
        },
        (V::Bool(b), Literal::Bool(t)) => match f.op {
            Op::Eq => b == t,
            Op::Ne => b != t,
            _ => panic!("bad bool op"),
        },
        (v, l) => ordered(f.op, num_of(v).unwrap(), lit_f64(l)),
    }
}

fn filters_row(d: &TestData, row: usize, fs: &FilterSet) -> bool {
    let mut it = fs.filters().iter().map(|f| filter_row(d, row, f));
    if fs.is_any() { it.any(|b| b) } else { it.all(|b| b) }
}

fn target_holds(op: TargetOp, actual: f64, expected: f64) -> bool {
    match op {
        TargetOp::Eq => actual == expected,
        TargetOp::Ne => actual != expected,
        TargetOp::Gt => actual > expected,
        TargetOp::Ge => actual >= expected,
        TargetOp::Lt => actual < expected,
        TargetOp::Le => actual <= expected,
    }
}

fn ts_of(d: &TestData, row: usize) -> f64 {
    num_of(d.value(&d.ts, row)).expect("numeric timestamp")
}

/// Exhaustive check of a sequence on one group's rows (docs/query-language.md "Sequences and funnels").
pub fn sequence_matches(d: &TestData, rows: &[usize], steps: &[Step], window: Option<&Literal>) -> bool {
    let positives: Vec<usize> = (0..steps.len()).filter(|&i| steps[i].row_found).collect();
    let matching =
        |k: usize| -> Vec<usize> { rows.iter().copied().filter(|&r| filters_row(d, r, &steps[k].filters)).collect() };
    if positives.is_empty() {
        return (0..steps.len()).all(|k| matching(k).is_empty());
    }
    // Try every assignment of rows to positive steps with strictly increasing timestamps.
    fn search(
        steps: &[Step],
        positives: &[usize],
        cands: &[Vec<f64>],
        chosen: &mut Vec<f64>,
        window: Option<&Literal>,
        negs: &dyn Fn(usize) -> Vec<f64>,
    ) -> bool {
        let j = chosen.len();
        if j == positives.len() {
            let first = chosen[0];
            let last = *chosen.last().unwrap();
            if let Some(w) = window
                && last - first > lit_f64(w)
            {
                return false;
            }
            // Negative steps: none of their rows strictly inside the interval of neighbours.
            for (k, step) in steps.iter().enumerate() {
                if step.row_found {
                    continue;
                }
                let before = positives.iter().rposition(|&p| p < k).map(|i| chosen[i]);
                let after = positives.iter().position(|&p| p > k).map(|i| chosen[i]);
                let bad = negs(k).into_iter().any(|t| before.is_none_or(|b| t > b) && after.is_none_or(|a| t < a));
                if bad {
                    return false;
                }
            }
            return true;
        }
        for &t in &cands[j] {
            if chosen.last().is_none_or(|&p| t > p) {
                chosen.push(t);
                if search(steps, positives, cands, chosen, window, negs) {
                    return true;
                }
                chosen.pop();
            }
        }
        false
    }
    let cands: Vec<Vec<f64>> =
        positives.iter().map(|&k| matching(k).into_iter().map(|r| ts_of(d, r)).collect()).collect();
    let negs = |k: usize| -> Vec<f64> { matching(k).into_iter().map(|r| ts_of(d, r)).collect() };
    search(steps, &positives, &cands, &mut Vec::new(), window, &negs)
}

/// Every valid assignment of timestamps to the positive steps of `steps` (strictly increasing,
/// inside the window, no negative step's row strictly between its neighbours), exhaustively.
fn valid_chains(d: &TestData, rows: &[usize], steps: &[Step], window: Option<&Literal>) -> Vec<Vec<f64>> {
    let positives: Vec<usize> = (0..steps.len()).filter(|&i| steps[i].row_found).collect();
    let times = |k: usize| -> Vec<f64> {
        rows.iter().copied().filter(|&r| filters_row(d, r, &steps[k].filters)).map(|r| ts_of(d, r)).collect()
    };
    let mut chains: Vec<Vec<f64>> = vec![vec![]];
    for &k in &positives {
        let ts = times(k);
        let mut next = Vec::new();
        for c in &chains {
            for &t in &ts {
                if c.last().is_none_or(|&p| t > p) {
                    let mut n = c.clone();
                    n.push(t);
                    next.push(n);
                }
            }
        }
        chains = next;
    }
    chains.retain(|c| {
        let in_window = window.is_none_or(|w| c.last().unwrap() - c[0] <= lit_f64(w));
        let negatives_ok = (0..steps.len()).filter(|&k| !steps[k].row_found).all(|k| {
            let before = positives.iter().rposition(|&p| p < k).map(|i| c[i]);
            let after = positives.iter().position(|&p| p > k).map(|i| c[i]);
            !times(k).into_iter().any(|t| before.is_none_or(|b| t > b) && after.is_none_or(|a| t < a))
        });
        in_window && negatives_ok
    });
    chains
}

/// The matching whose timestamps a step's timings use (docs/query-language.md "Funnel
/// insights"): (last, first, previous) of the prefix `steps` ending on a positive step.
/// `plain`: the whole funnel has no window and no `rowFound: false` step.
fn witness(
    d: &TestData,
    rows: &[usize],
    steps: &[Step],
    window: Option<&Literal>,
    plain: bool,
) -> Option<(f64, f64, f64)> {
    if plain {
        // The first row of step 0, then the first row of each step after the previous one.
        let mut chain: Vec<f64> = Vec::new();
        for s in steps {
            let next = rows
                .iter()
                .filter(|&&r| filters_row(d, r, &s.filters))
                .map(|&r| ts_of(d, r))
                .filter(|&t| chain.last().is_none_or(|&p| t > p))
                .min_by(f64::total_cmp)?;
            chain.push(next);
        }
        let n = chain.len();
        return Some((chain[n - 1], chain[0], chain[n.saturating_sub(2)]));
    }
    // Earliest completion, then the latest predecessor, then the latest start.
    let key = |c: &Vec<f64>| {
        let n = c.len();
        (-c[n - 1], c[n.saturating_sub(2)], c[0])
    };
    valid_chains(d, rows, steps, window)
        .into_iter()
        .max_by(|a, b| {
            let (x, y) = (key(a), key(b));
            x.0.total_cmp(&y.0).then(x.1.total_cmp(&y.1)).then(x.2.total_cmp(&y.2))
        })
        .map(|c| (c[c.len() - 1], c[0], c[c.len().saturating_sub(2)]))
}

/// `{count, min, max, mean, p50, p90, p99, exact}` of durations, all kept (exact quantiles by
/// nearest rank; the mean of the exact sum).
fn duration_summary(xs: &[f64], exact_sum: &protocol::result::Num) -> Value {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let q = |p: f64| if n == 0 { Value::Null } else { json!(v[((p * n as f64).ceil() as usize).clamp(1, n) - 1]) };
    let mean = match exact_sum {
        _ if n == 0 => Value::Null,
        protocol::result::Num::Int(s) => json!(*s as f64 / n as f64),
        protocol::result::Num::Float(s) => json!(s.value() / n as f64),
    };
    json!({
        "count": n,
        "min": v.first().map_or(Value::Null, |x| json!(x)),
        "max": v.last().map_or(Value::Null, |x| json!(x)),
        "mean": mean,
        "p50": q(0.5), "p90": q(0.9), "p99": q(0.99),
        "exact": true,
    })
}

/// Users per value of the breakdown column per step: a user's value is the one of its earliest
/// row (ties: the first in the data) matching the first positive step.
fn breakdown(
    d: &TestData,
    matched: &[(String, Vec<usize>)],
    sequence: &[Step],
    first_pos: Option<usize>,
    reached: &[Vec<String>],
    b: &protocol::insights::Breakdown,
) -> Value {
    let mut users: BTreeMap<Option<String>, Vec<u64>> = BTreeMap::new();
    for (g, rows) in matched {
        if !reached[0].contains(g) {
            continue;
        }
        let row = first_pos.and_then(|k| {
            rows.iter()
                .copied()
                .filter(|&r| filters_row(d, r, &sequence[k].filters))
                .min_by(|&a, &b| ts_of(d, a).total_cmp(&ts_of(d, b)).then(a.cmp(&b)))
        });
        let key = row.and_then(|r| key_of(d.value(&b.column, r)));
        let e = users.entry(key).or_insert_with(|| vec![0; sequence.len()]);
        for (k, r) in reached.iter().enumerate() {
            e[k] += u64::from(r.contains(g));
        }
    }
    let mut order: Vec<(Option<String>, Vec<u64>)> = users.into_iter().collect();
    order.sort_by(|x, y| y.1[0].cmp(&x.1[0]));
    let row = |value: Value, u: &[u64]| {
        let conv: Vec<Value> =
            u.iter().map(|&x| if u[0] == 0 { Value::Null } else { json!(x as f64 / u[0] as f64) }).collect();
        json!({"value": value, "users": u, "conversion": conv})
    };
    let mut values: Vec<Value> = Vec::new();
    let mut other = vec![0u64; sequence.len()];
    for (i, (k, u)) in order.iter().enumerate() {
        if i < b.top {
            values.push(row(k.as_ref().map_or(Value::Null, |s| json!(s)), u));
        } else {
            for (o, x) in other.iter_mut().zip(u) {
                *o += x;
            }
        }
    }
    if other.iter().any(|&x| x > 0) {
        let mut r = row(json!(protocol::insights::OTHER_LABEL), &other);
        r["other"] = json!(true);
        values.push(r);
    }
    json!({"column": b.column, "approximate": false, "values": values})
}

fn cond_matches(d: &TestData, rows: &[usize], c: &Condition) -> bool {
    match c {
        Condition::Filter { filters, target, include_zero, .. } => {
            let hits: Vec<usize> = rows.iter().copied().filter(|&r| filters_row(d, r, filters)).collect();
            match target {
                Target::Count { op, value } => {
                    if hits.is_empty() {
                        *include_zero && target_holds(*op, 0.0, *value as f64)
                    } else {
                        target_holds(*op, hits.len() as f64, *value as f64)
                    }
                }
                Target::Sum { column, op, value } => {
                    if hits.is_empty() {
                        return false;
                    }
                    let s: f64 = hits.iter().filter_map(|&r| num_of(d.value(column, r))).sum();
                    target_holds(*op, s, lit_f64(value))
                }
            }
        }
        Condition::Sequence { steps, max_duration, .. } => sequence_matches(d, rows, steps, max_duration.as_ref()),
    }
}

fn key_of(v: &V) -> Option<String> {
    match v {
        V::Null => None,
        V::Int(i) => Some(i.to_string()),
        V::Float(f) if f.is_nan() => None,
        V::Float(f) => Some(protocol::result::float_key(*f)),
        V::Bool(b) => Some(b.to_string()),
        V::Str(s) => Some(s.clone()),
    }
}

fn num_json(x: f64, is_int: bool) -> Value {
    if is_int { json!(x as i64) } else { json!(x) }
}

fn top_sorted<T: Clone>(m: &BTreeMap<String, T>, score: impl Fn(&T) -> f64, top: u32) -> Vec<(String, T)> {
    let mut v: Vec<(String, T)> = m.iter().map(|(k, x)| (k.clone(), x.clone())).collect();
    v.sort_by(|a, b| score(&b.1).partial_cmp(&score(&a.1)).unwrap().then_with(|| a.0.cmp(&b.0)));
    v.truncate(top as usize);
    v
}

fn aggregation(d: &TestData, groups: &[(String, Vec<usize>)], a: &Aggregation) -> Value {
    let rows: Vec<(usize, usize)> =
        groups.iter().enumerate().flat_map(|(g, (_, rs))| rs.iter().map(move |&r| (g, r))).collect();
    let value = match a.agg_type {
        AggType::Count => json!(rows.iter().filter(|&&(_, r)| key_of(d.value(&a.column, r)).is_some()).count()),
        AggType::CountPerValue | AggType::GroupsPerValue => {
            let mut m: BTreeMap<String, std::collections::BTreeSet<usize>> = BTreeMap::new();
            let mut c: BTreeMap<String, f64> = BTreeMap::new();
            for &(g, r) in &rows {
                if let Some(k) = key_of(d.value(&a.column, r)) {
                    m.entry(k.clone()).or_default().insert(g);
                    *c.entry(k).or_default() += 1.0;
                }
            }
            let counts: BTreeMap<String, f64> = if a.agg_type == AggType::GroupsPerValue {
                m.into_iter().map(|(k, s)| (k, s.len() as f64)).collect()
            } else {
                c
            };
            let mut out = Map::new();
            for (k, v) in top_sorted(&counts, |x| *x, a.top.unwrap()) {
                out.insert(k, json!(v as u64));
            }
            Value::Object(out)
        }
        AggType::SumPerValue | AggType::MeanPerValue => {
            let other = a.other_column.as_deref().unwrap();
            let is_int =
                d.columns.iter().any(|c| c.0 == other && matches!(c.1, crate::data::Ty::Int | crate::data::Ty::UInt32));
            let mut m: BTreeMap<String, (f64, u64)> = BTreeMap::new();
            for &(_, r) in &rows {
                if let Some(k) = key_of(d.value(&a.column, r)) {
                    let e = m.entry(k).or_insert((0.0, 0));
                    if let Some(x) = num_of(d.value(other, r)) {
                        e.0 += x;
                        e.1 += 1;
                    }
                }
            }
            let mut out = Map::new();
            if a.agg_type == AggType::SumPerValue {
                for (k, (s, _)) in top_sorted(&m, |x| x.0, a.top.unwrap()) {
                    out.insert(k, num_json(s, is_int));
                }
            } else {
                let means: BTreeMap<String, f64> =
                    m.into_iter().filter(|(_, (_, n))| *n > 0).map(|(k, (s, n))| (k, s / n as f64)).collect();
                for (k, v) in top_sorted(&means, |x| *x, a.top.unwrap()) {
                    out.insert(k, json!(v));
                }
            }
            Value::Object(out)
        }
    };
    let mut o = Map::new();
    o.insert("column".into(), json!(a.column));
    o.insert("type".into(), json!(a.agg_type.as_str()));
    o.insert("value".into(), value);
    o.insert("top".into(), a.top.map_or(Value::Null, |t| json!(t)));
    o.insert("name".into(), a.name.as_ref().map_or(Value::Null, |n| json!(n)));
    if let Some(oc) = &a.other_column {
        o.insert("otherColumn".into(), json!(oc));
    }
    Value::Object(o)
}

fn aggregations(d: &TestData, groups: &[(String, Vec<usize>)], aggs: Option<&[Aggregation]>) -> Value {
    match aggs {
        None => Value::Null,
        Some(a) => Value::Array(a.iter().map(|a| aggregation(d, groups, a)).collect()),
    }
}

fn n_rows(groups: &[(String, Vec<usize>)]) -> usize {
    groups.iter().map(|g| g.1.len()).sum()
}

/// The final result JSON of `q` on `d` (same shape as `PartialResult::finalize`).
pub fn run(d: &TestData, q: &Query) -> Value {
    // Timeframe first.
    let in_tf = |r: usize| {
        let t = ts_of(d, r);
        let tf = q.timeframe.as_ref();
        tf.and_then(|t| t.from.as_ref()).is_none_or(|f| t >= lit_f64(f))
            && tf.and_then(|t| t.to.as_ref()).is_none_or(|x| t < lit_f64(x))
    };
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for r in 0..d.n_rows() {
        if in_tf(r) {
            groups.entry(d.group_key(r)).or_default().push(r);
        }
    }
    let conds = q.conditions();
    let matched: Vec<(String, Vec<usize>)> = groups
        .into_iter()
        .filter(|(_, rows)| {
            if conds.is_empty() {
                return true;
            }
            let truth: Vec<bool> = conds.iter().map(|c| cond_matches(d, rows, c)).collect();
            q.query.as_ref().unwrap().relation_expr.as_ref().unwrap().eval(&|i| truth[i])
        })
        .collect();
    let funnel = q.funnel.as_ref().map(|f| {
        let mut steps = Vec::new();
        let mut last: Vec<(String, Vec<usize>)> = Vec::new();
        let first_pos = f.sequence.iter().position(|s| s.row_found);
        let int_ts = matches!(d.value(&d.ts, 0), V::Int(_));
        let mut reached: Vec<Vec<String>> = Vec::new();
        let plain = f.max_duration.is_none() && f.sequence.iter().all(|s| s.row_found);
        for k in 0..f.sequence.len() {
            let prefix = &f.sequence[..=k];
            let sel: Vec<(String, Vec<usize>)> = matched
                .iter()
                .filter(|(_, rows)| sequence_matches(d, rows, prefix, f.max_duration.as_ref()))
                .cloned()
                .collect();
            let mut step = json!({
                "matchingGroups": sel.len(),
                "matchingGroupRows": n_rows(&sel),
                "aggregations": aggregations(d, &sel, f.step_aggregations.as_deref()),
            });
            if f.step_timings.is_some() && f.sequence[k].row_found && Some(k) != first_pos {
                let (mut ff, mut fp) = (Vec::new(), Vec::new());
                let zero = || {
                    if int_ts {
                        protocol::result::Num::Int(0)
                    } else {
                        protocol::result::Num::Float(protocol::exact_sum::ExactSum::new())
                    }
                };
                let (mut sf, mut sp) = (zero(), zero());
                for (_, rows) in &sel {
                    let (t, first, prev) = witness(d, rows, prefix, f.max_duration.as_ref(), plain).expect("a witness");
                    ff.push(t - first);
                    fp.push(t - prev);
                    let exact = |a: f64, b: f64| {
                        if int_ts {
                            protocol::result::Num::Int(b as i128 - a as i128)
                        } else {
                            let mut e = protocol::exact_sum::ExactSum::new();
                            e.add(b);
                            e.add(-a);
                            protocol::result::Num::Float(e)
                        }
                    };
                    sf.add(&exact(first, t));
                    sp.add(&exact(prev, t));
                }
                step["timings"] =
                    json!({"fromFirst": duration_summary(&ff, &sf), "fromPrevious": duration_summary(&fp, &sp)});
            }
            steps.push(step);
            reached.push(sel.iter().map(|(g, _)| g.clone()).collect());
            last = sel;
        }
        let mut out =
            json!({"sequence": steps, "endAggregations": aggregations(d, &last, f.end_aggregations.as_deref())});
        if let Some(b) = &f.breakdown {
            out["breakdown"] = breakdown(d, &matched, &f.sequence, first_pos, &reached, b);
        }
        out
    });
    json!({
        "query": {
            "matchingGroups": matched.len(),
            "matchingGroupRows": n_rows(&matched),
            "aggregations": aggregations(d, &matched, q.aggregations()),
        },
        "funnel": funnel,
    })
}
