//! Partial (per-part) results, their pure merge, and the final query result.
//!
//! Merging is exact, associative and commutative: counts and integer sums are integers, float
//! sums are [`ExactSum`](crate::exact_sum::ExactSum)s, means carry (sum, count), and per-value maps are key-wise unions.
//! Truncation happens only twice: a part whose map has more distinct keys than
//! [`AggOptions::exact_limit`] sends its top `ceil(top × grace)` entries and marks the value
//! approximate; and [`PartialResult::finalize`] keeps the `top` largest entries.

use crate::error::MergeError;
use crate::insights::{PartialBreakdown, PartialTimings};
pub use crate::num::Num;
use crate::num::f64_json;
use crate::query::{AggType, Aggregation};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// Options of per-value aggregation maps (config `aggregations.*`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AggOptions {
    /// A part returns its whole map while it has at most this many keys (default 10,000).
    pub exact_limit: usize,
    /// Beyond that it returns the `ceil(top × grace_factor)` largest entries (default 2.0).
    pub grace_factor: f64,
}

impl Default for AggOptions {
    fn default() -> Self {
        AggOptions { exact_limit: 10_000, grace_factor: 2.0 }
    }
}

/// Sum and count of the non-null values of the other column, for one key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeanAcc {
    pub sum: Num,
    pub count: u64,
}

impl MeanAcc {
    pub fn mean(&self) -> f64 {
        self.sum.to_f64() / self.count as f64
    }
}

/// The value of one aggregation in a partial result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum PartialAggValue {
    Count {
        count: u64,
    },
    /// countPerValue and groupsPerValue.
    Counts {
        approximate: bool,
        entries: BTreeMap<String, u64>,
    },
    Sums {
        approximate: bool,
        entries: BTreeMap<String, Num>,
    },
    Means {
        approximate: bool,
        entries: BTreeMap<String, MeanAcc>,
    },
}

fn top_keys<V>(entries: &BTreeMap<String, V>, n: usize, cmp: impl Fn(&V, &V) -> Ordering) -> Vec<String> {
    let mut v: Vec<(&String, &V)> = entries.iter().collect();
    // Value descending, ties by key ascending (BTreeMap order is key ascending; sort is stable).
    v.sort_by(|a, b| cmp(b.1, a.1));
    v.into_iter().take(n).map(|(k, _)| k.clone()).collect()
}

fn keep_keys<V>(entries: &mut BTreeMap<String, V>, keys: &[String]) {
    let keep: std::collections::HashSet<&String> = keys.iter().collect();
    entries.retain(|k, _| keep.contains(k));
}

fn merge_maps<V>(a: &mut BTreeMap<String, V>, b: BTreeMap<String, V>, add: impl Fn(&mut V, V)) {
    for (k, v) in b {
        match a.get_mut(&k) {
            Some(x) => add(x, v),
            None => {
                a.insert(k, v);
            }
        }
    }
}

impl PartialAggValue {
    pub fn len(&self) -> usize {
        match self {
            PartialAggValue::Count { .. } => 1,
            PartialAggValue::Counts { entries, .. } => entries.len(),
            PartialAggValue::Sums { entries, .. } => entries.len(),
            PartialAggValue::Means { entries, .. } => entries.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn is_approximate(&self) -> bool {
        match self {
            PartialAggValue::Count { .. } => false,
            PartialAggValue::Counts { approximate, .. }
            | PartialAggValue::Sums { approximate, .. }
            | PartialAggValue::Means { approximate, .. } => *approximate,
        }
    }

    /// Keys of the `n` largest entries (value descending, key ascending).
    fn top(&self, n: usize) -> Vec<String> {
        match self {
            PartialAggValue::Count { .. } => vec![],
            PartialAggValue::Counts { entries, .. } => top_keys(entries, n, |a, b| a.cmp(b)),
            PartialAggValue::Sums { entries, .. } => top_keys(entries, n, Num::cmp_value),
            PartialAggValue::Means { entries, .. } => top_keys(entries, n, |a, b| a.mean().total_cmp(&b.mean())),
        }
    }

    fn retain(&mut self, keys: &[String]) {
        match self {
            PartialAggValue::Count { .. } => {}
            PartialAggValue::Counts { entries, .. } => keep_keys(entries, keys),
            PartialAggValue::Sums { entries, .. } => keep_keys(entries, keys),
            PartialAggValue::Means { entries, .. } => keep_keys(entries, keys),
        }
    }

    fn set_approximate(&mut self) {
        match self {
            PartialAggValue::Count { .. } => {}
            PartialAggValue::Counts { approximate, .. }
            | PartialAggValue::Sums { approximate, .. }
            | PartialAggValue::Means { approximate, .. } => *approximate = true,
        }
    }

    /// Applied by a part before sending: beyond `exact_limit` keys keep the top with grace.
    pub fn limit_for_part(&mut self, top: u32, opts: &AggOptions) {
        if self.len() > opts.exact_limit {
            let keep = ((f64::from(top) * opts.grace_factor).ceil() as usize).max(top as usize);
            let keys = self.top(keep);
            self.retain(&keys);
            self.set_approximate();
        }
    }

    fn merge(&mut self, other: PartialAggValue, path: &str) -> Result<(), MergeError> {
        use PartialAggValue::*;
        match (self, other) {
            (Count { count: a }, Count { count: b }) => *a += b,
            (Counts { approximate: ax, entries: a }, Counts { approximate: bx, entries: b }) => {
                *ax |= bx;
                merge_maps(a, b, |x, y| *x += y);
            }
            (Sums { approximate: ax, entries: a }, Sums { approximate: bx, entries: b }) => {
                *ax |= bx;
                merge_maps(a, b, |x, y| x.add(&y));
            }
            (Means { approximate: ax, entries: a }, Means { approximate: bx, entries: b }) => {
                *ax |= bx;
                merge_maps(a, b, |x, y| {
                    x.sum.add(&y.sum);
                    x.count += y.count;
                });
            }
            (a, b) => {
                return Err(MergeError::ShapeMismatch {
                    path: path.to_string(),
                    detail: format!("value kinds differ ({} vs {})", kind_name(a), kind_name(&b)),
                });
            }
        }
        Ok(())
    }

    /// Final JSON value: a number, or a map of the `top` largest entries in order.
    fn final_value(&self, top: Option<u32>) -> Value {
        let n = top.unwrap_or(u32::MAX) as usize;
        let keys = self.top(n);
        let mut m = Map::new();
        match self {
            PartialAggValue::Count { count } => return Value::from(*count),
            PartialAggValue::Counts { entries, .. } => {
                for k in keys {
                    m.insert(k.clone(), Value::from(entries[&k]));
                }
            }
            PartialAggValue::Sums { entries, .. } => {
                for k in keys {
                    m.insert(k.clone(), entries[&k].to_json());
                }
            }
            PartialAggValue::Means { entries, .. } => {
                for k in keys {
                    m.insert(k.clone(), f64_json(entries[&k].mean()));
                }
            }
        }
        Value::Object(m)
    }
}

fn kind_name(v: &PartialAggValue) -> &'static str {
    match v {
        PartialAggValue::Count { .. } => "count",
        PartialAggValue::Counts { .. } => "counts",
        PartialAggValue::Sums { .. } => "sums",
        PartialAggValue::Means { .. } => "means",
    }
}

/// One aggregation of a partial result: what was asked, and its partial value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartialAgg {
    pub spec: Aggregation,
    pub value: PartialAggValue,
}

impl PartialAgg {
    fn finalize(&self) -> Value {
        let mut m = Map::new();
        m.insert("column".into(), self.spec.column.clone().into());
        m.insert("type".into(), self.spec.agg_type.as_str().into());
        m.insert("value".into(), self.value.final_value(self.spec.top));
        m.insert("top".into(), self.spec.top.map(Value::from).unwrap_or(Value::Null));
        m.insert("name".into(), self.spec.name.clone().map(Value::from).unwrap_or(Value::Null));
        if let Some(o) = &self.spec.other_column {
            m.insert("otherColumn".into(), o.clone().into());
        }
        if self.value.is_approximate() {
            m.insert("approximate".into(), true.into());
        }
        Value::Object(m)
    }
}

/// Per-step numbers of a funnel in a partial result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartialStep {
    pub matching_groups: u64,
    pub matching_group_rows: u64,
    pub aggregations: Option<Vec<PartialAgg>>,
    /// Time to convert (`stepTimings`), for positive steps after the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timings: Option<PartialTimings>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartialFunnel {
    pub sequence: Vec<PartialStep>,
    pub end_aggregations: Option<Vec<PartialAgg>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakdown: Option<PartialBreakdown>,
}

/// The result of a query on one part (or a merge of several).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartialResult {
    pub matching_groups: u64,
    pub matching_group_rows: u64,
    pub aggregations: Option<Vec<PartialAgg>>,
    pub funnel: Option<PartialFunnel>,
    /// Rows loaded for the query (after the timeframe).
    pub scanned_rows: u64,
    /// Distinct groups among them.
    pub scanned_groups: u64,
}

fn merge_aggs(a: &mut Option<Vec<PartialAgg>>, b: Option<Vec<PartialAgg>>, path: &str) -> Result<(), MergeError> {
    match (a.as_mut(), b) {
        (None, None) => Ok(()),
        (Some(xs), Some(ys)) => {
            if xs.len() != ys.len() {
                return Err(MergeError::ShapeMismatch {
                    path: path.to_string(),
                    detail: format!("{} vs {} aggregations", xs.len(), ys.len()),
                });
            }
            for (i, (x, y)) in xs.iter_mut().zip(ys).enumerate() {
                let p = format!("{path}[{i}]");
                if x.spec != y.spec {
                    return Err(MergeError::ShapeMismatch { path: p, detail: "different aggregation".into() });
                }
                x.value.merge(y.value, &p)?;
            }
            Ok(())
        }
        _ => Err(MergeError::ShapeMismatch { path: path.to_string(), detail: "present in one result only".into() }),
    }
}

impl PartialResult {
    /// Merges `other` into `self` (parts hold disjoint groups, so counts add up).
    pub fn merge(&mut self, other: PartialResult) -> Result<(), MergeError> {
        self.matching_groups += other.matching_groups;
        self.matching_group_rows += other.matching_group_rows;
        self.scanned_rows += other.scanned_rows;
        self.scanned_groups += other.scanned_groups;
        merge_aggs(&mut self.aggregations, other.aggregations, "query.aggregations")?;
        match (self.funnel.as_mut(), other.funnel) {
            (None, None) => {}
            (Some(a), Some(b)) => {
                if a.sequence.len() != b.sequence.len() {
                    return Err(MergeError::ShapeMismatch {
                        path: "funnel.sequence".into(),
                        detail: format!("{} vs {} steps", a.sequence.len(), b.sequence.len()),
                    });
                }
                for (i, (x, y)) in a.sequence.iter_mut().zip(b.sequence).enumerate() {
                    x.matching_groups += y.matching_groups;
                    x.matching_group_rows += y.matching_group_rows;
                    merge_aggs(&mut x.aggregations, y.aggregations, &format!("funnel.sequence[{i}].aggregations"))?;
                    let path = format!("funnel.sequence[{i}].timings");
                    match (x.timings.as_mut(), y.timings) {
                        (None, None) => {}
                        (Some(t), Some(u)) => t.merge(u, &path)?,
                        _ => {
                            return Err(MergeError::ShapeMismatch {
                                path,
                                detail: "present in one result only".into(),
                            });
                        }
                    }
                }
                merge_aggs(&mut a.end_aggregations, b.end_aggregations, "funnel.endAggregations")?;
                match (a.breakdown.as_mut(), b.breakdown) {
                    (None, None) => {}
                    (Some(x), Some(y)) => x.merge(y, "funnel.breakdown")?,
                    _ => {
                        return Err(MergeError::ShapeMismatch {
                            path: "funnel.breakdown".into(),
                            detail: "present in one result only".into(),
                        });
                    }
                }
            }
            _ => {
                return Err(MergeError::ShapeMismatch {
                    path: "funnel".into(),
                    detail: "present in one result only".into(),
                });
            }
        }
        Ok(())
    }

    /// Merges any number of partial results (`None` for none).
    pub fn merge_all(parts: impl IntoIterator<Item = PartialResult>) -> Result<Option<PartialResult>, MergeError> {
        let mut acc: Option<PartialResult> = None;
        for p in parts {
            match acc.as_mut() {
                None => acc = Some(p),
                Some(a) => a.merge(p)?,
            }
        }
        Ok(acc)
    }

    /// The user-facing result (docs/results.md "Query result"; top-N applied; seed counters if legacy).
    pub fn finalize(&self, legacy: bool) -> QueryResult {
        let aggs = |a: &Option<Vec<PartialAgg>>| a.as_ref().map(|v| v.iter().map(PartialAgg::finalize).collect());
        let funnel = self.funnel.as_ref().map(|f| FunnelResult {
            sequence: f
                .sequence
                .iter()
                .map(|s| StepResult {
                    matching_groups: s.matching_groups,
                    matching_group_rows: s.matching_group_rows,
                    aggregations: aggs(&s.aggregations),
                    timings: s.timings.as_ref().map(PartialTimings::finalize),
                })
                .collect(),
            end_aggregations: aggs(&f.end_aggregations),
            breakdown: f.breakdown.as_ref().map(PartialBreakdown::finalize),
        });
        let counters = legacy.then(|| {
            let mut c = BTreeMap::new();
            c.insert("query:users".to_string(), self.matching_groups);
            c.insert("query:rows".to_string(), self.matching_group_rows);
            if let Some(f) = &self.funnel {
                for (i, s) in f.sequence.iter().enumerate() {
                    c.insert(format!("query-breakdown:step-{i}:users"), s.matching_groups);
                }
            }
            c
        });
        QueryResult {
            query: QueryPart {
                matching_groups: self.matching_groups,
                matching_group_rows: self.matching_group_rows,
                aggregations: aggs(&self.aggregations),
            },
            funnel,
            counters,
        }
    }
}

/// `query` of a final result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryPart {
    pub matching_groups: u64,
    pub matching_group_rows: u64,
    pub aggregations: Option<Vec<Value>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepResult {
    pub matching_groups: u64,
    pub matching_group_rows: u64,
    pub aggregations: Option<Vec<Value>>,
    /// `{fromFirst, fromPrevious}`, each `{count, min, max, mean, p50, p90, p99, exact}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timings: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunnelResult {
    pub sequence: Vec<StepResult>,
    pub end_aggregations: Option<Vec<Value>>,
    /// `{column, approximate, values: [{value, users, conversion[, other]}]}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakdown: Option<Value>,
}

/// The merged, user-facing result of a query (without job status and stats).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryResult {
    pub query: QueryPart,
    pub funnel: Option<FunnelResult>,
    /// Seed-format counters (`query:users`, ...), for queries given in the legacy format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counters: Option<BTreeMap<String, u64>>,
}

/// Helper for callers building per-value keys: the aggregation type's accumulator shape.
pub fn empty_value_for(agg: AggType) -> PartialAggValue {
    match agg {
        AggType::Count => PartialAggValue::Count { count: 0 },
        AggType::CountPerValue | AggType::GroupsPerValue => {
            PartialAggValue::Counts { approximate: false, entries: BTreeMap::new() }
        }
        AggType::SumPerValue => PartialAggValue::Sums { approximate: false, entries: BTreeMap::new() },
        AggType::MeanPerValue => PartialAggValue::Means { approximate: false, entries: BTreeMap::new() },
    }
}

/// Map key of a float value (docs/query-language.md "Aggregations"): shortest round-trip form with a decimal point
/// (`"2.5"`, `"2.0"`, `"1.0e21"`); `-0.0` is the same key as `0.0`.
pub fn float_key(x: f64) -> String {
    let x = if x == 0.0 { 0.0 } else { x };
    let s = format!("{x:?}");
    if s.contains('e') && !s.contains('.') { s.replacen('e', ".0e", 1) } else { s }
}
