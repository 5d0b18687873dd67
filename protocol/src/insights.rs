//! Funnel insights beyond step counts (docs/query-language.md "Funnel insights"): time to
//! convert per step and a breakdown of every step by a column's value — their query fields,
//! their partial (per-part, mergeable) forms and their final forms.
//!
//! Invariants:
//! - Merging is exact, associative and commutative. A [`Durations`] keeps every value while
//!   it holds at most `exact_limit` of them (quantiles exact); beyond that the values live in a
//!   [`LogSketch`] whose content depends only on the multiset of values, so any merge order
//!   gives the same sketch. Counts, min, max and the sum (exact: `i128` for integer
//!   timestamps, [`ExactSum`] for float ones) never lose anything.
//! - Sketched quantiles are within [`SKETCH_RELATIVE_ERROR`] (1%) of the exact nearest-rank
//!   quantile: a value `x` falls in bucket `i` with `γ^(i-1) < x ≤ γ^i`, `γ = (1+α)/(1-α)`,
//!   and the bucket is read as `2γ^i/(γ+1)`, within `α·x` of every value in it (clamped to
//!   [min, max], which only moves it closer).
//! - Breakdown counts per value and step are exact unless a part had more distinct values than
//!   the aggregation exact limit; then it sends its top values and sums the rest into
//!   "(other)" (totals stay exact) and the result says `approximate`.

use crate::error::MergeError;
use crate::num::Num;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Default `stepTimings.exactLimit`.
pub const DEFAULT_TIMINGS_EXACT_LIMIT: usize = 10_000;
/// Largest `stepTimings.exactLimit` a query may ask for.
pub const MAX_TIMINGS_EXACT_LIMIT: usize = 1_000_000;
/// The sketch's relative accuracy α.
pub const SKETCH_RELATIVE_ERROR: f64 = 0.01;
/// Default `breakdown.top`.
pub const DEFAULT_BREAKDOWN_TOP: usize = 10;
/// The label of the values beyond the top.
pub const OTHER_LABEL: &str = "(other)";

/// `funnel.stepTimings` (`true` expands to the default limit).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StepTimings {
    pub exact_limit: usize,
}

/// `funnel.breakdown`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Breakdown {
    pub column: String,
    pub top: usize,
}

/// γ of the sketch.
fn gamma() -> f64 {
    (1.0 + SKETCH_RELATIVE_ERROR) / (1.0 - SKETCH_RELATIVE_ERROR)
}

/// A mergeable log-bucket histogram of positive values (DDSketch's mapping, without bucket
/// collapsing: durations span few orders of magnitude, a few hundred buckets at most).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogSketch {
    /// Values `<= 0` (a duration of zero).
    pub zeros: u64,
    /// Bucket index → count.
    pub bins: BTreeMap<i32, u64>,
}

/// The bucket of a positive value.
fn bucket(x: f64, inv_ln_gamma: f64) -> i32 {
    (x.ln() * inv_ln_gamma).ceil() as i32
}

impl LogSketch {
    pub fn insert(&mut self, x: f64) {
        if x.is_nan() || x <= 0.0 {
            self.zeros += 1;
            return;
        }
        *self.bins.entry(bucket(x, 1.0 / gamma().ln())).or_insert(0) += 1;
    }

    /// The sketch of many values at once: bucket indices counted in a dense array over their
    /// range (a few hundred buckets for durations), not one map update per value.
    pub fn of(values: &[f64]) -> LogSketch {
        let inv = 1.0 / gamma().ln();
        let mut zeros = 0;
        let idx: Vec<i32> = values
            .iter()
            .filter_map(|&x| {
                if x.is_nan() || x <= 0.0 {
                    zeros += 1;
                    None
                } else {
                    Some(bucket(x, inv))
                }
            })
            .collect();
        let (Some(&lo), Some(&hi)) = (idx.iter().min(), idx.iter().max()) else {
            return LogSketch { zeros, bins: BTreeMap::new() };
        };
        let mut dense = vec![0u64; (i64::from(hi) - i64::from(lo) + 1) as usize];
        for i in idx {
            dense[(i - lo) as usize] += 1;
        }
        let bins = dense.into_iter().enumerate().filter(|(_, n)| *n > 0).map(|(k, n)| (lo + k as i32, n)).collect();
        LogSketch { zeros, bins }
    }

    pub fn merge(&mut self, o: &LogSketch) {
        self.zeros += o.zeros;
        for (i, n) in &o.bins {
            *self.bins.entry(*i).or_insert(0) += n;
        }
    }

    /// The value of rank `rank` (1-based) among `count`.
    fn at_rank(&self, rank: u64) -> f64 {
        if rank <= self.zeros {
            return 0.0;
        }
        let mut seen = self.zeros;
        for (i, n) in &self.bins {
            seen += n;
            if seen >= rank {
                let g = gamma();
                return 2.0 * g.powi(*i) / (g + 1.0);
            }
        }
        f64::NAN
    }
}

/// The values themselves, or their sketch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum DurationValues {
    /// Sorted ascending.
    Exact {
        values: Vec<f64>,
    },
    Sketch {
        sketch: LogSketch,
    },
}

/// Durations of one kind (from the first step, or from the previous one) at one step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Durations {
    pub count: u64,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub sum: Num,
    pub exact_limit: usize,
    pub values: DurationValues,
}

impl Durations {
    pub fn new(exact_limit: usize, int_timestamps: bool) -> Durations {
        Durations {
            count: 0,
            min: None,
            max: None,
            sum: Num::zero_like(int_timestamps),
            exact_limit,
            values: DurationValues::Exact { values: Vec::new() },
        }
    }

    /// Adds one duration: exact as `d` (an `i128` difference or an exact float sum of one),
    /// its value as `x`.
    pub fn add(&mut self, d: &Num, x: f64) {
        self.count += 1;
        self.min = Some(self.min.map_or(x, |m| m.min(x)));
        self.max = Some(self.max.map_or(x, |m| m.max(x)));
        self.sum.add(d);
        match &mut self.values {
            DurationValues::Exact { values } => values.push(x),
            DurationValues::Sketch { sketch } => sketch.insert(x),
        }
    }

    /// Sorts the exact values, or sketches them when there are more than the limit (call once
    /// a part is done adding).
    pub fn seal(&mut self) {
        if let DurationValues::Exact { values } = &mut self.values {
            if values.len() > self.exact_limit {
                self.values = DurationValues::Sketch { sketch: LogSketch::of(values) };
            } else {
                values.sort_by(f64::total_cmp);
            }
        }
    }

    pub fn merge(&mut self, o: Durations, path: &str) -> Result<(), MergeError> {
        if self.exact_limit != o.exact_limit {
            return Err(MergeError::ShapeMismatch { path: path.into(), detail: "different exactLimit".into() });
        }
        self.count += o.count;
        self.min = match (self.min, o.min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.max = match (self.max, o.max) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.sum.add(&o.sum);
        let values = std::mem::replace(&mut self.values, DurationValues::Exact { values: Vec::new() });
        self.values = match (values, o.values) {
            (DurationValues::Exact { values: a }, DurationValues::Exact { values: b })
                if a.len() + b.len() <= self.exact_limit =>
            {
                DurationValues::Exact { values: merge_sorted(a, b) }
            }
            (a, b) => {
                let mut sketch = LogSketch::default();
                for v in [a, b] {
                    match v {
                        DurationValues::Exact { values } => sketch.merge(&LogSketch::of(&values)),
                        DurationValues::Sketch { sketch: s } => sketch.merge(&s),
                    }
                }
                DurationValues::Sketch { sketch }
            }
        };
        Ok(())
    }

    /// The nearest-rank quantile `p` (the smallest value with at least `p·count` values at or
    /// below it); `None` without values.
    pub fn quantile(&self, p: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((p * self.count as f64).ceil() as u64).clamp(1, self.count);
        let v = match &self.values {
            DurationValues::Exact { values } => values[(rank - 1) as usize],
            DurationValues::Sketch { sketch } => sketch.at_rank(rank),
        };
        Some(match (self.min, self.max) {
            (Some(lo), Some(hi)) => v.clamp(lo, hi),
            _ => v,
        })
    }

    pub fn is_exact(&self) -> bool {
        matches!(self.values, DurationValues::Exact { .. })
    }

    /// The final form: `{count, min, max, mean, p50, p90, p99, exact[, relativeError]}`.
    pub fn finalize(&self) -> Value {
        let num = |x: Option<f64>| x.and_then(serde_json::Number::from_f64).map_or(Value::Null, Value::Number);
        let mean = (self.count > 0).then(|| mean_of(&self.sum, self.count));
        let mut v = json!({
            "count": self.count,
            "min": num(self.min),
            "max": num(self.max),
            "mean": num(mean),
            "p50": num(self.quantile(0.5)),
            "p90": num(self.quantile(0.9)),
            "p99": num(self.quantile(0.99)),
            "exact": self.is_exact(),
        });
        if !self.is_exact() {
            v["relativeError"] = json!(SKETCH_RELATIVE_ERROR);
        }
        v
    }
}

/// Two ascending lists as one, in linear time.
fn merge_sorted(a: Vec<f64>, b: Vec<f64>) -> Vec<f64> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].total_cmp(&b[j]).is_le() {
            out.push(a[i]);
            i += 1;
        } else {
            out.push(b[j]);
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// The mean of an exact sum (integer part and remainder divided separately, so an `i128` sum
/// beyond f64's integers still gives the right mean to f64 precision).
fn mean_of(sum: &Num, count: u64) -> f64 {
    match sum {
        // Exact in f64: one division, correctly rounded.
        Num::Int(s) if s.unsigned_abs() <= 1 << 53 => *s as f64 / count as f64,
        Num::Int(s) => {
            let c = i128::from(count);
            (s / c) as f64 + (s % c) as f64 / count as f64
        }
        Num::Float(s) => s.value() / count as f64,
    }
}

/// Time to convert at one step: from the first step and from the previous (positive) step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartialTimings {
    pub from_first: Durations,
    pub from_previous: Durations,
}

impl PartialTimings {
    pub fn merge(&mut self, o: PartialTimings, path: &str) -> Result<(), MergeError> {
        self.from_first.merge(o.from_first, &format!("{path}.fromFirst"))?;
        self.from_previous.merge(o.from_previous, &format!("{path}.fromPrevious"))
    }

    pub fn finalize(&self) -> Value {
        json!({"fromFirst": self.from_first.finalize(), "fromPrevious": self.from_previous.finalize()})
    }
}

/// Users per breakdown value at every step (`users[k]`: reached step k).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartialBreakdown {
    pub column: String,
    pub top: usize,
    /// Value (as aggregation keys are written; `None` for null) → users per step.
    pub entries: Vec<(Option<String>, Vec<u64>)>,
    /// Users of values a part left out (beyond its limit), per step.
    pub other: Vec<u64>,
    pub approximate: bool,
}

fn add_into(a: &mut [u64], b: &[u64]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
}

impl PartialBreakdown {
    /// A part's breakdown from its per-value counts, truncated to the `keep` values with the
    /// most first-step users (value ascending on ties) when it has more than `limit` values.
    pub fn from_counts(
        column: &str,
        top: usize,
        steps: usize,
        counts: BTreeMap<Option<String>, Vec<u64>>,
        limit: usize,
        keep: usize,
    ) -> PartialBreakdown {
        let mut entries: Vec<(Option<String>, Vec<u64>)> = counts.into_iter().collect();
        let mut other = vec![0; steps];
        let approximate = entries.len() > limit;
        if approximate {
            let mut order: Vec<usize> = (0..entries.len()).collect();
            order.sort_by(|&a, &b| entries[b].1[0].cmp(&entries[a].1[0]).then(a.cmp(&b)));
            let kept: std::collections::HashSet<usize> = order.into_iter().take(keep).collect();
            let mut kept_entries = Vec::new();
            for (i, e) in entries.into_iter().enumerate() {
                if kept.contains(&i) {
                    kept_entries.push(e);
                } else {
                    add_into(&mut other, &e.1);
                }
            }
            entries = kept_entries;
        }
        PartialBreakdown { column: column.into(), top, entries, other, approximate }
    }

    pub fn merge(&mut self, o: PartialBreakdown, path: &str) -> Result<(), MergeError> {
        if self.column != o.column || self.top != o.top || self.other.len() != o.other.len() {
            return Err(MergeError::ShapeMismatch { path: path.into(), detail: "different breakdowns".into() });
        }
        let mut map: BTreeMap<Option<String>, Vec<u64>> = std::mem::take(&mut self.entries).into_iter().collect();
        for (k, v) in o.entries {
            match map.get_mut(&k) {
                Some(x) => add_into(x, &v),
                None => {
                    map.insert(k, v);
                }
            }
        }
        self.entries = map.into_iter().collect();
        add_into(&mut self.other, &o.other);
        self.approximate |= o.approximate;
        Ok(())
    }

    /// `{column, approximate, values: [{value, users: [per step], conversion: [per step]}]}`:
    /// the `top` values with the most first-step users (value ascending on ties; null sorts
    /// first), then "(other)" (the rest, and what parts left out) when it has any user.
    /// `conversion[k]` = users at step k / users at step 0 (1 at step 0; null without users).
    pub fn finalize(&self) -> Value {
        let mut order: Vec<&(Option<String>, Vec<u64>)> = self.entries.iter().collect();
        order.sort_by(|a, b| b.1[0].cmp(&a.1[0]));
        let mut other = self.other.clone();
        let mut values = Vec::new();
        let row = |value: Value, users: &[u64], other: bool| {
            let conv: Vec<Value> = users
                .iter()
                .map(|&u| if users[0] == 0 { Value::Null } else { json!(u as f64 / users[0] as f64) })
                .collect();
            let mut v = json!({"value": value, "users": users, "conversion": conv});
            if other {
                v["other"] = json!(true);
            }
            v
        };
        for (i, (k, users)) in order.into_iter().enumerate() {
            if i < self.top {
                values.push(row(k.as_ref().map_or(Value::Null, |s| json!(s)), users, false));
            } else {
                add_into(&mut other, users);
            }
        }
        if other.iter().any(|&u| u > 0) {
            values.push(row(json!(OTHER_LABEL), &other, true));
        }
        json!({"column": self.column, "approximate": self.approximate, "values": values})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn durations(xs: &[i64], limit: usize) -> Durations {
        let mut d = Durations::new(limit, true);
        for &x in xs {
            d.add(&Num::Int(i128::from(x)), x as f64);
        }
        d.seal();
        d
    }

    #[test]
    fn exact_quantiles_are_nearest_rank() {
        let d = durations(&[5, 1, 4, 2, 3], 10);
        assert_eq!(d.quantile(0.5), Some(3.0));
        assert_eq!(d.quantile(0.9), Some(5.0));
        assert_eq!(d.quantile(0.2), Some(1.0));
        assert_eq!(d.quantile(0.21), Some(2.0));
        let f = d.finalize();
        assert_eq!((f["mean"].clone(), f["exact"].clone()), (json!(3.0), json!(true)));
        assert_eq!(durations(&[], 10).finalize()["p50"], Value::Null);
    }

    #[test]
    fn sketched_quantiles_are_within_the_bound_and_merges_agree() {
        let xs: Vec<i64> = (0..5000).map(|i| 1 + (i * 7919) % 100_000).collect();
        let mut sorted = xs.clone();
        sorted.sort();
        let whole = durations(&xs, 100);
        assert!(!whole.is_exact());
        for p in [0.01, 0.5, 0.9, 0.99, 1.0] {
            let exact = sorted[((p * 5000.0_f64).ceil() as usize).clamp(1, 5000) - 1] as f64;
            let got = whole.quantile(p).unwrap();
            assert!((got - exact).abs() <= SKETCH_RELATIVE_ERROR * exact + 1e-9, "p{p}: {got} vs {exact}");
        }
        // Any split, merged in any order, gives the same sketch.
        let (a, b, c) = (durations(&xs[..40], 100), durations(&xs[40..3000], 100), durations(&xs[3000..], 100));
        let mut ab_c = a.clone();
        ab_c.merge(b.clone(), "t").unwrap();
        ab_c.merge(c.clone(), "t").unwrap();
        let mut c_ba = c;
        let mut ba = b;
        ba.merge(a, "t").unwrap();
        c_ba.merge(ba, "t").unwrap();
        assert_eq!(ab_c, c_ba);
        assert_eq!(ab_c.values, whole.values);
        // The bulk sketch is the one-by-one sketch.
        let mut one_by_one = LogSketch::default();
        xs.iter().for_each(|&x| one_by_one.insert(x as f64));
        assert_eq!(whole.values, DurationValues::Sketch { sketch: one_by_one });
        assert_eq!(
            (ab_c.count, ab_c.sum.clone(), ab_c.min, ab_c.max),
            (whole.count, whole.sum.clone(), whole.min, whole.max)
        );
    }

    #[test]
    fn exact_lists_merge_exactly_up_to_the_limit() {
        let mut a = durations(&[3, 1], 4);
        a.merge(durations(&[2, 2], 4), "t").unwrap();
        assert_eq!(a.values, DurationValues::Exact { values: vec![1.0, 2.0, 2.0, 3.0] });
        a.merge(durations(&[9], 4), "t").unwrap();
        assert!(!a.is_exact());
        assert_eq!(a.count, 5);
        assert!(durations(&[1], 4).merge(durations(&[1], 5), "t").is_err());
    }

    #[test]
    fn means_of_huge_integer_sums_are_right() {
        let mut d = Durations::new(10, true);
        let big = i128::from(i64::MAX);
        for _ in 0..3 {
            d.add(&Num::Int(big), big as f64);
        }
        d.add(&Num::Int(1), 1.0);
        d.seal();
        let want = ((3 * big + 1) as f64) / 4.0;
        assert_eq!(d.finalize()["mean"], json!(want));
    }

    #[test]
    fn breakdown_keeps_the_top_then_other() {
        let mut counts = BTreeMap::new();
        counts.insert(Some("a".to_string()), vec![5, 2]);
        counts.insert(Some("b".to_string()), vec![3, 3]);
        counts.insert(None, vec![4, 0]);
        counts.insert(Some("c".to_string()), vec![1, 1]);
        let b = PartialBreakdown::from_counts("x", 2, 2, counts.clone(), 100, 0);
        let f = b.finalize();
        assert_eq!(f["values"][0], json!({"value": "a", "users": [5, 2], "conversion": [1.0, 0.4]}));
        assert_eq!(f["values"][1]["value"], Value::Null);
        assert_eq!(
            f["values"][2],
            json!({"value": "(other)", "users": [4, 4], "conversion": [1.0, 1.0], "other": true})
        );
        // A part over the limit keeps its `keep` largest values and sums the rest.
        let t = PartialBreakdown::from_counts("x", 2, 2, counts, 3, 2);
        assert!(t.approximate);
        assert_eq!(t.other, vec![4, 4]);
        assert_eq!(t.entries.len(), 2);
        // Merge adds per value and step, in any order.
        let mut m1 = PartialBreakdown::from_counts("x", 2, 2, BTreeMap::from([(Some("a".into()), vec![1, 1])]), 9, 9);
        let m2 = PartialBreakdown::from_counts(
            "x",
            2,
            2,
            BTreeMap::from([(Some("a".into()), vec![2, 0]), (None, vec![1, 1])]),
            9,
            9,
        );
        let mut m3 = m2.clone();
        m1.merge(m2, "b").unwrap();
        m3.merge(PartialBreakdown::from_counts("x", 2, 2, BTreeMap::from([(Some("a".into()), vec![1, 1])]), 9, 9), "b")
            .unwrap();
        assert_eq!(m1, m3);
        assert_eq!(m1.entries, vec![(None, vec![1, 1]), (Some("a".to_string()), vec![3, 1])]);
    }
}
