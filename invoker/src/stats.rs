//! Job statistics (SPEC §6, reference §3.8): timings, task counts, cache use, scanned data.

use protocol::task::{LoadSource, TaskMetrics};
use serde_json::{Value, json};

/// `{min, mean, max, 50%}` of a series of seconds (`null` when empty).
pub fn timing(xs: &[f64]) -> Value {
    if xs.is_empty() {
        return Value::Null;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let pct = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    let mut out =
        json!({"min": v[0], "mean": v.iter().sum::<f64>() / v.len() as f64, "max": v[v.len() - 1], "50%": pct(0.5)});
    if v.len() >= 20 {
        out["25%"] = json!(pct(0.25));
        out["75%"] = json!(pct(0.75));
        out["95%"] = json!(pct(0.95));
    }
    if v.len() >= 100 {
        out["99%"] = json!(pct(0.99));
    }
    out
}

/// Stats of a job from its successful attempts' metrics.
pub fn job_stats(
    total_seconds: f64,
    dataset_size: u64,
    parts: usize,
    attempts: u32,
    failed_attempts: usize,
    ok: &[&TaskMetrics],
) -> Value {
    let count = |s: LoadSource| ok.iter().filter(|m| m.load_from == Some(s)).count();
    let mut selection = serde_json::Map::new();
    for t in ok {
        if let Some(how) = &t.part_select_method {
            let n = selection.get(how).and_then(Value::as_u64).unwrap_or(0);
            selection.insert(how.clone(), json!(n + 1));
        }
    }
    json!({
        "totalTime": total_seconds,
        "cost": null,
        "dataset": {"totalSize": dataset_size, "parts": parts},
        "invoker": {"totalTasks": attempts, "failedTasks": failed_attempts},
        "worker": {
            "loadTime": timing(&ok.iter().map(|m| m.task_total_load_seconds).collect::<Vec<_>>()),
            "totalTime": timing(&ok.iter().map(|m| m.task_total_run_seconds).collect::<Vec<_>>()),
            "scannedRows": ok.iter().map(|m| m.scanned_rows).sum::<u64>(),
            "scannedGroups": ok.iter().map(|m| m.scanned_groups).sum::<u64>(),
            "partSelection": selection,
            "preflightSleep": ok.iter().map(|m| m.task_preflight_sleep_seconds).sum::<f64>(),
            "cache": {
                "source": count(LoadSource::Source),
                "diskCache": count(LoadSource::DiskCache),
                "memoryCache": count(LoadSource::MemoryCache),
            },
        },
        "attempts": attempts,
        // Every task has at least one attempt; the rest are retries.
        "retries": (attempts as usize).saturating_sub(parts),
    })
}
