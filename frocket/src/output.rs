//! What the CLI prints: the one JSON printer (`--json`: exactly the JSON on stdout), and human
//! output — tables, query summaries (funnel steps with conversion percentages), progress bars.

use crate::units::mib;
use comfy_table::{ContentArrangement, Table, presets::UTF8_FULL_CONDENSED};
use protocol::dataset::{DatasetInfo, DatasetRecord};
use protocol::job::QueryJobResult;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Prints `v` as pretty JSON on stdout (`--json`).
pub fn print_json(v: &impl Serialize) {
    match serde_json::to_string_pretty(v) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("error: encode the output as JSON: {e}"),
    }
}

/// Prints `v` as one line of JSON on stdout (a stream of documents, e.g. `frocket demo --json`).
pub fn print_json_line(v: &impl Serialize) {
    match serde_json::to_string(v) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("error: encode the output as JSON: {e}"),
    }
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Dynamic).set_header(header.to_vec());
    t
}

/// A progress bar on stderr, hidden when stderr is not a terminal.
pub fn progress_bar(what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(Some(0), indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {msg} ({elapsed})") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(what.to_string());
    bar
}

pub fn dataset_table(list: &[DatasetInfo]) -> String {
    if list.is_empty() {
        return "No datasets registered yet\n".to_string();
    }
    let mut t = table(&["name", "registered at", "parts", "group id", "timestamp", "path"]);
    for d in list {
        t.add_row(vec![
            d.id.name.clone(),
            d.id.registered_at.clone(),
            d.total_parts.to_string(),
            d.group_id_column.clone(),
            d.timestamp_column.clone(),
            d.basepath.clone(),
        ]);
    }
    format!("{t}\n")
}

fn num(x: Option<f64>) -> String {
    x.map(|v| if v.fract() == 0.0 && v.abs() < 1e15 { format!("{v:.0}") } else { format!("{v}") }).unwrap_or_default()
}

pub fn dataset_info(r: &DatasetRecord, full: bool) -> String {
    let mut s = String::new();
    let i = &r.info;
    let _ = writeln!(
        s,
        "Dataset '{}' registered at {}{}",
        i.id.name,
        i.id.registered_at,
        i.revision.as_ref().map(|r| format!(" (revision {r})")).unwrap_or_default()
    );
    let _ = writeln!(s, "  path:      {}", i.basepath);
    let _ = writeln!(
        s,
        "  parts:     {} ({:.1} MiB), {}",
        r.parts.total_parts,
        mib(r.parts.total_size),
        r.parts.running_number_pattern.clone().unwrap_or_else(|| "listed".into())
    );
    let _ = writeln!(s, "  group id:  {}    timestamp: {}", i.group_id_column, i.timestamp_column);
    let mut t = if full {
        table(&["column", "type", "stored as", "min", "max", "categorical", "unique ratio", "top values"])
    } else {
        table(&["column", "type", "min", "max", "categorical"])
    };
    for c in r.schema.columns.values() {
        let a = &c.colattrs;
        let cat = if a.categorical { "yes" } else { "" }.to_string();
        if full {
            let top = a
                .cat_top_values
                .as_ref()
                .map(|m| {
                    let mut v: Vec<_> = m.iter().collect();
                    v.sort_by(|x, y| y.1.total_cmp(x.1));
                    v.iter().take(5).map(|(k, f)| format!("{k} {:.0}%", *f * 100.0)).collect::<Vec<_>>().join(", ")
                })
                .unwrap_or_default();
            t.add_row(vec![
                c.name.clone(),
                c.coltype.as_str().into(),
                c.dtype_name.clone(),
                num(a.numeric_min),
                num(a.numeric_max),
                cat,
                a.cat_unique_ratio.map(|r| format!("{r:.4}")).unwrap_or_default(),
                top,
            ]);
        } else {
            t.add_row(vec![c.name.clone(), c.coltype.as_str().into(), num(a.numeric_min), num(a.numeric_max), cat]);
        }
    }
    let _ = writeln!(s, "{t}");
    if !r.schema.unsupported_columns.is_empty() {
        let list: Vec<String> = r.schema.unsupported_columns.iter().map(|(k, v)| format!("{k} ({v})")).collect();
        let _ = writeln!(s, "  unsupported columns (not queryable): {}", list.join(", "));
    }
    s
}

fn aggregations(s: &mut String, aggs: Option<&Vec<Value>>, indent: &str) {
    for a in aggs.into_iter().flatten() {
        let label = match (a["name"].as_str(), a["otherColumn"].as_str()) {
            (Some(n), _) => n.to_string(),
            (None, Some(o)) => {
                format!("{}({}, {})", a["type"].as_str().unwrap_or("?"), a["column"].as_str().unwrap_or("?"), o)
            }
            (None, None) => format!("{}({})", a["type"].as_str().unwrap_or("?"), a["column"].as_str().unwrap_or("?")),
        };
        let approx = if a["approximate"] == Value::Bool(true) { " (approximate)" } else { "" };
        match &a["value"] {
            Value::Object(m) => {
                let items: Vec<String> = m.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                let _ = writeln!(s, "{indent}{label}{approx}: {}", items.join(", "));
            }
            v => {
                let _ = writeln!(s, "{indent}{label}: {v}");
            }
        }
    }
}

/// Tasks, time and (Lambda) estimated cost of a job: `8 tasks, 0.41 s, ≈ $0.000021`.
pub fn job_line(r: &QueryJobResult) -> String {
    let st = &r.stats;
    let time =
        if st.total_time < 1.0 { format!("{:.0} ms", st.total_time * 1e3) } else { format!("{:.2} s", st.total_time) };
    let retries = if st.retries > 0 { format!(" ({} retried)", st.retries) } else { String::new() };
    let cost = st.cost.map(|c| format!(", ≈ ${}", dollars(c))).unwrap_or_default();
    format!("{} tasks{retries}, {time}{cost}", st.dataset.parts)
}

/// Dollars with two significant digits (`0.000021`, `0.0000018`, `0.50`).
/// One line about a registration.
pub fn registration_line(r: &protocol::job::RegistrationJobResult) -> String {
    format!(
        "Registered dataset '{}': {} parts at {} (group id '{}', timestamp '{}'); validated parts {:?}",
        r.dataset.id.name,
        r.dataset.total_parts,
        r.dataset.basepath,
        r.dataset.group_id_column,
        r.dataset.timestamp_column,
        r.validated_parts
    )
}

pub fn dollars(c: f64) -> String {
    let decimals = if c > 0.0 { ((1.0 - c.log10().floor()) as i64).clamp(2, 12) as usize } else { 2 };
    format!("{c:.decimals$}")
}

/// The human summary of a query result.
pub fn query_summary(dataset: &str, r: &QueryJobResult) -> String {
    let mut s = String::new();
    let q = &r.result.query;
    let _ = writeln!(
        s,
        "{dataset}: {} matching groups, {} rows  ({})",
        q.matching_groups,
        q.matching_group_rows,
        job_line(r)
    );
    aggregations(&mut s, q.aggregations.as_ref(), "  ");
    if let Some(funnel) = &r.result.funnel {
        let timed = funnel.sequence.iter().any(|st| st.timings.is_some());
        let mut header = vec!["step", "groups", "rows", "% of previous", "% of first"];
        if timed {
            header.extend(["p50 from previous", "p90 from previous", "p50 from first", "mean from first"]);
        }
        let mut t = table(&header);
        let first = funnel.sequence.first().map_or(0, |x| x.matching_groups);
        let mut prev = None::<u64>;
        for (i, st) in funnel.sequence.iter().enumerate() {
            let pct = |base: Option<u64>| {
                base.filter(|b| *b > 0)
                    .map(|b| format!("{:.1}%", 100.0 * st.matching_groups as f64 / b as f64))
                    .unwrap_or_else(|| "-".into())
            };
            let mut row = vec![
                i.to_string(),
                st.matching_groups.to_string(),
                st.matching_group_rows.to_string(),
                pct(prev),
                pct(Some(first)),
            ];
            if timed {
                let tm = |kind: &str, stat: &str| {
                    st.timings.as_ref().map_or_else(|| "-".into(), |t| duration(&t[kind], stat))
                };
                row.extend([
                    tm("fromPrevious", "p50"),
                    tm("fromPrevious", "p90"),
                    tm("fromFirst", "p50"),
                    tm("fromFirst", "mean"),
                ]);
            }
            t.add_row(row);
            prev = Some(st.matching_groups);
        }
        let _ = writeln!(s, "funnel:\n{t}");
        for (i, st) in funnel.sequence.iter().enumerate() {
            if st.aggregations.is_some() {
                let _ = writeln!(s, "  step {i}:");
                aggregations(&mut s, st.aggregations.as_ref(), "    ");
            }
        }
        if funnel.end_aggregations.is_some() {
            let _ = writeln!(s, "  end:");
            aggregations(&mut s, funnel.end_aggregations.as_ref(), "    ");
        }
        if let Some(b) = &funnel.breakdown {
            let _ = write!(s, "{}", breakdown_table(b, funnel.sequence.len()));
        }
        if timed {
            let _ = writeln!(s, "(durations in timestamp units; ~ marks a quantile from the 1% sketch)");
        }
    }
    for (k, x) in r.result.counters.iter().flatten() {
        let _ = writeln!(s, "  {k:<32} {x}");
    }
    s
}

/// One statistic of a duration summary (`{count, min, ..., exact}`): integers as they are,
/// fractions to 3 decimals, `~` before sketched quantiles, `-` without users.
fn duration(summary: &serde_json::Value, stat: &str) -> String {
    let Some(x) = summary[stat].as_f64() else { return "-".into() };
    let approx = stat.starts_with('p') && summary["exact"] == serde_json::Value::Bool(false);
    let text = if x.fract() == 0.0 && x.abs() < 1e15 { format!("{x:.0}") } else { format!("{x:.3}") };
    if approx { format!("~{text}") } else { text }
}

/// The breakdown under the funnel table: users per value per step, with the conversion from
/// the first step.
fn breakdown_table(b: &serde_json::Value, steps: usize) -> String {
    let column = b["column"].as_str().unwrap_or("?");
    let mut header = vec![column.to_string()];
    header.extend((0..steps).map(|k| format!("step {k}")));
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let mut t = table(&header);
    for v in b["values"].as_array().into_iter().flatten() {
        let value = match &v["value"] {
            serde_json::Value::Null => "(null)".to_string(),
            serde_json::Value::String(x) => x.clone(),
            other => other.to_string(),
        };
        let mut row = vec![value];
        for k in 0..steps {
            let users = v["users"][k].as_u64().unwrap_or(0);
            row.push(match v["conversion"][k].as_f64() {
                Some(c) if k > 0 => format!("{users} ({:.1}%)", 100.0 * c),
                _ => users.to_string(),
            });
        }
        t.add_row(row);
    }
    let approx = if b["approximate"] == serde_json::Value::Bool(true) {
        " (approximate: a part had too many values)"
    } else {
        ""
    };
    format!("breakdown by {column}{approx}:\n{t}\n")
}

pub fn config_table(settings: &BTreeMap<String, settings::Setting>) -> String {
    let mut t = table(&["setting", "value", "source"]);
    for (k, v) in settings {
        t.add_row(vec![k.clone(), v.value.clone(), v.source.clone()]);
    }
    format!("{t}\n")
}

/// Median of `xs` (mean of the middle two for an even count); 0 when empty.
pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The timing line of `frocket run --repeat N`: the cold first run and the warm median.
pub fn run_times(seconds: &[f64]) -> String {
    let ms = |x: f64| format!("{:.1} ms", x * 1e3);
    match seconds {
        [] => String::new(),
        [cold] => format!("runs: 1, {}\n", ms(*cold)),
        [cold, warm @ ..] => {
            let (lo, hi) = warm.iter().fold((f64::MAX, 0.0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
            format!(
                "runs: {}; first (cold) {}; later runs (warm) median {} (min {}, max {})\n",
                seconds.len(),
                ms(*cold),
                ms(median(warm)),
                ms(lo),
                ms(hi)
            )
        }
    }
}

#[cfg(test)]
mod timing_tests {
    use super::*;

    #[test]
    fn dollars_keep_two_significant_digits() {
        assert_eq!(dollars(0.0000213), "0.000021");
        assert_eq!(dollars(0.0000018), "0.0000018");
        assert_eq!(dollars(0.5), "0.50");
        assert_eq!(dollars(12.345), "12.35");
        assert_eq!(dollars(0.0), "0.00");
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }

    #[test]
    fn run_times_separates_the_cold_run() {
        let s = run_times(&[0.5, 0.03, 0.01, 0.02]);
        assert!(s.contains("first (cold) 500.0 ms"), "{s}");
        assert!(s.contains("median 20.0 ms (min 10.0 ms, max 30.0 ms)"), "{s}");
    }
}
