//! What the benchmark runners share: a runner's timing and answer, medians, and frocket's
//! result in the peers' answer shape (used by the suite and by the 0.5.3 runner alike).

use anyhow::{Result, bail};
use serde_json::{Value, json};

pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Cold and warm seconds of one engine on one query, with its answer.
#[derive(Debug, Clone)]
pub struct Timing {
    pub cold: f64,
    pub warm: f64,
    pub peak_bytes: Option<u64>,
    pub answer: Value,
}

impl Timing {
    /// From a runner's JSON output: `seconds` per run (the first is cold) and `peakMemoryBytes`.
    pub fn from_output(v: &Value, answer: Value) -> Result<Timing> {
        let seconds: Vec<f64> = v["seconds"].as_array().into_iter().flatten().filter_map(Value::as_f64).collect();
        let peak_bytes = v["peakMemoryBytes"].as_u64();
        let Some((cold, warm)) = seconds.split_first() else { bail!("no runs") };
        Ok(Timing { cold: *cold, warm: median(warm), peak_bytes, answer })
    }
}

/// frocket's result JSON in the peers' result shape (see peers.py).
pub fn normalize_frocket(query: &str, v: &Value) -> Value {
    if query == "q5i" {
        return normalize_insights(v);
    }
    let q = &v["query"];
    let mut out = json!({"groups": q["matchingGroups"], "rows": q["matchingGroupRows"]});
    if let Some(steps) = v["funnel"]["sequence"].as_array() {
        out["funnel"] = steps.iter().map(|s| json!([s["matchingGroups"], s["matchingGroupRows"]])).collect();
    }
    if query == "q7" {
        for a in q["aggregations"].as_array().into_iter().flatten() {
            let value = &a["value"];
            match a["type"].as_str() {
                Some("countPerValue") => out["countPerValue"] = value.clone(),
                Some("sumPerValue") => {
                    let m: serde_json::Map<String, Value> = value
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, x)| (k.clone(), json!(x.as_f64().unwrap_or(f64::NAN))))
                        .collect();
                    out["sumPerValue"] = Value::Object(m);
                }
                Some("groupsPerValue") => {
                    let mut pairs: Vec<(String, i64)> = value
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, x)| (k.clone(), x.as_i64().unwrap_or(-1)))
                        .collect();
                    pairs.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                    pairs.truncate(10);
                    out["groupsPerValue"] = pairs.into_iter().map(|(k, x)| json!([k, x])).collect();
                }
                _ => {}
            }
        }
    }
    out
}

/// q5 with insights (peers.py `insights_shape`): per step after the first, the count, the
/// means, p50/p90/p99 from the first and from the previous step, min and max from the first;
/// the breakdown as `[[value, users per step], ...]`.
fn normalize_insights(v: &Value) -> Value {
    let steps = v["funnel"]["sequence"].as_array().cloned().unwrap_or_default();
    let timings: Vec<Value> = steps
        .iter()
        .filter_map(|s| s.get("timings"))
        .map(|t| {
            let (f, p) = (&t["fromFirst"], &t["fromPrevious"]);
            json!({
                "count": f["count"], "meanFromFirst": f["mean"], "meanFromPrevious": p["mean"],
                "fromFirst": [f["p50"], f["p90"], f["p99"]], "fromPrevious": [p["p50"], p["p90"], p["p99"]],
                "minFromFirst": f["min"], "maxFromFirst": f["max"],
            })
        })
        .collect();
    let breakdown: Vec<Value> = v["funnel"]["breakdown"]["values"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| json!([x["value"], x["users"]]))
        .collect();
    json!({"timings": timings, "breakdown": breakdown})
}
