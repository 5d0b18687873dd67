//! Property tests: on random small parts and random queries (every construct reachable),
//! (1) the engine equals the brute-force reference, and (2) running on any partition of the
//! groups and merging the partial results (in any order) equals running on the whole part.

use crate::data::{TestData, Ty, V};
use crate::{exact_opts, reference, run_part};
use engine::{EngineOptions, SelectPlan};
use proptest::prelude::*;
use protocol::{PartialResult, ValidQuery, validate_query_value};
use serde_json::{Value, json};

const EVENTS: [&str; 3] = ["a", "b", "c"];

fn arb_row() -> impl Strategy<Value = (i64, V, V, V, V)> {
    (
        0i64..8,
        prop_oneof![4 => prop::sample::select(EVENTS.to_vec()).prop_map(|s| V::Str(s.into())), 1 => Just(V::Null)],
        prop_oneof![4 => (0i64..4).prop_map(V::Int), 1 => Just(V::Null)],
        prop_oneof![4 => (-8i64..8).prop_map(|k| V::Float(k as f64 / 4.0)), 1 => Just(V::Float(f64::NAN)), 1 => Just(V::Null)],
        prop_oneof![2 => any::<bool>().prop_map(V::Bool), 1 => Just(V::Null)],
    )
}

/// A part of 1..6 groups with 1..7 rows each, rows in random order.
fn arb_data() -> impl Strategy<Value = TestData> {
    (prop::collection::vec(prop::collection::vec(arb_row(), 1..7), 1..6), any::<bool>(), any::<u64>(), any::<bool>())
        .prop_map(|(groups, string_ids, seed, categorical)| {
            let mut rows = Vec::new();
            for (g, rs) in groups.into_iter().enumerate() {
                for r in rs {
                    rows.push((g as i64 * 7 + 3, r));
                }
            }
            // Deterministic shuffle so unsorted input is exercised.
            let mut s = seed | 1;
            for i in (1..rows.len()).rev() {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                rows.swap(i, (s % (i as u64 + 1)) as usize);
            }
            let id: Vec<V> =
                rows.iter().map(|(g, _)| if string_ids { V::Str(format!("u{g}")) } else { V::Int(*g) }).collect();
            TestData {
                group: "id".into(),
                ts: "ts".into(),
                columns: vec![
                    ("id".into(), if string_ids { Ty::Str } else { Ty::Int }, id),
                    ("ts".into(), Ty::Int, rows.iter().map(|(_, r)| V::Int(r.0)).collect()),
                    (
                        "ev".into(),
                        if categorical { Ty::Cat } else { Ty::Str },
                        rows.iter().map(|(_, r)| r.1.clone()).collect(),
                    ),
                    ("n".into(), Ty::Int, rows.iter().map(|(_, r)| r.2.clone()).collect()),
                    ("x".into(), Ty::Float, rows.iter().map(|(_, r)| r.3.clone()).collect()),
                    ("flag".into(), Ty::Bool, rows.iter().map(|(_, r)| r.4.clone()).collect()),
                ],
            }
        })
}

fn arb_filter() -> impl Strategy<Value = Value> {
    let num_ops = prop::sample::select(vec!["==", "!=", ">", ">=", "<", "<="]);
    prop_oneof![
        (prop::sample::select(vec!["==", "!=", "contains", "not contains"]), prop::sample::select(EVENTS.to_vec()))
            .prop_map(|(op, v)| json!(["ev", op, v])),
        prop::sample::select(vec!["^[ab]", "c$", "b|c"]).prop_map(|re| json!(["ev", "regex", re])),
        (num_ops.clone(), 0i64..4).prop_map(|(op, v)| json!(["n", op, v])),
        (num_ops, -8i64..8).prop_map(|(op, k)| json!(["x", op, k as f64 / 4.0])),
        (prop::sample::select(vec!["==", "!="]), any::<bool>()).prop_map(|(op, b)| json!(["flag", op, b])),
    ]
}

fn verbose(f: &Value) -> Value {
    json!({"column": f[0], "op": f[1], "value": f[2]})
}

/// `filter` or `filters` (AND or OR) as object entries.
fn arb_filter_set() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => arb_filter().prop_map(|f| json!({"filter": f})),
        1 => (prop::collection::vec(arb_filter(), 1..3), any::<bool>()).prop_map(|(fs, or)| {
            let mut m = json!({"filters": fs.iter().map(verbose).collect::<Vec<_>>()});
            if or {
                m["filtersRelation"] = json!("or");
            }
            m
        }),
    ]
}

fn arb_target() -> impl Strategy<Value = (Value, Option<bool>)> {
    let ops = prop::sample::select(vec!["==", "!=", ">", ">=", "<", "<="]);
    prop_oneof![
        (ops.clone(), 0u64..4, any::<bool>()).prop_map(|(op, v, iz)| {
            // Only valid includeZero combinations (docs/query-language.md "Shape of a query").
            let iz_ok = match op {
                "==" => v == 0,
                "!=" => v != 0,
                "<=" => true,
                "<" => v >= 1,
                ">=" => v == 0,
                _ => false,
            };
            (json!(["count", op, v]), (iz && iz_ok).then_some(true))
        }),
        (prop::sample::select(vec!["n", "x"]), ops, -8i64..12)
            .prop_map(|(c, op, k)| (json!(["sum", c, op, k as f64 / 2.0]), None)),
    ]
}

fn arb_steps() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec((arb_filter_set(), prop::bool::weighted(0.25)), 1..5).prop_map(|steps| {
        steps
            .into_iter()
            .map(|(mut s, neg)| {
                if neg {
                    s["rowFound"] = json!(false);
                }
                s
            })
            .collect()
    })
}

fn arb_window() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![2 => Just(None), 1 => (0i64..6).prop_map(|w| Some(json!(w))), 1 => (0i64..12).prop_map(|w| Some(json!(w as f64 / 2.0)))]
}

fn arb_condition() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => (arb_filter_set(), prop::option::of(arb_target())).prop_map(|(mut c, t)| {
            if let Some((t, iz)) = t {
                c["target"] = t;
                if let Some(iz) = iz {
                    c["includeZero"] = json!(iz);
                }
            }
            c
        }),
        1 => (arb_steps(), arb_window()).prop_map(|(steps, w)| {
            let mut c = json!({"sequence": steps});
            if let Some(w) = w {
                c["maxDuration"] = w;
            }
            c
        }),
    ]
}

fn arb_relation(n: usize) -> BoxedStrategy<String> {
    let leaf = (0..n).prop_map(|i| format!("${i}"));
    leaf.prop_recursive(3, 8, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} and {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} or {b}")),
            inner.prop_map(|a| format!("not {a}")),
        ]
    })
    .boxed()
}

fn arb_aggregation() -> impl Strategy<Value = Value> {
    let col = prop::sample::select(vec!["ev", "n", "x", "flag", "id"]);
    prop_oneof![
        (col.clone(), prop::option::of(1u32..4)).prop_map(|(c, top)| match top {
            Some(t) => json!({"column": c, "top": t}),
            None => json!({"column": c}),
        }),
        (col.clone(), prop::sample::select(vec!["count", "countPerValue", "groupsPerValue"]))
            .prop_map(|(c, t)| json!({"column": c, "type": t})),
        (col, prop::sample::select(vec!["sumPerValue", "meanPerValue"]), prop::sample::select(vec!["n", "x"]), 1u32..5)
            .prop_map(|(c, t, o, top)| json!({"column": c, "type": t, "otherColumn": o, "top": top})),
    ]
}

fn arb_query() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(arb_condition(), 0..4),
        prop::option::of(prop::collection::vec(arb_aggregation(), 0..3)),
        prop::option::of((
            arb_steps(),
            arb_window(),
            prop::option::of(prop::collection::vec(arb_aggregation(), 1..2)),
            any::<bool>(),
            // Insights: step timings, and a breakdown by a STRING, INT or BOOL column.
            (any::<bool>(), prop::option::of((prop::sample::select(vec!["ev", "n", "flag"]), 1usize..4))),
        )),
        // Integer bounds (compared as typed timestamps) and half-integer ones (compared exactly
        // with the literal).
        prop::option::of((
            prop::option::of(
                prop_oneof![3 => (0i64..5).prop_map(|v| json!(v)), 1 => (0i64..10).prop_map(|v| json!(v as f64 / 2.0))],
            ),
            prop::option::of(
                prop_oneof![3 => (5i64..9).prop_map(|v| json!(v)), 1 => (10i64..18).prop_map(|v| json!(v as f64 / 2.0))],
            ),
        )),
        any::<u64>(),
    )
        .prop_flat_map(|(conds, aggs, funnel, tf, _)| {
            let n = conds.len();
            let rel = if n == 0 { Just(None).boxed() } else { prop::option::of(arb_relation(n)).boxed() };
            (Just(conds), Just(aggs), Just(funnel), Just(tf), rel)
        })
        .prop_map(|(conds, aggs, funnel, tf, rel)| {
            let mut q = json!({});
            if !conds.is_empty() || aggs.is_some() {
                let mut section = json!({"conditions": conds});
                if let Some(r) = rel {
                    section["relation"] = json!(r);
                }
                if let Some(a) = aggs {
                    section["aggregations"] = json!(a);
                }
                q["query"] = section;
            }
            if let Some((steps, w, step_aggs, end, (timings, breakdown))) = funnel {
                let mut f = json!({"sequence": steps});
                if timings {
                    f["stepTimings"] = json!(true);
                }
                if let Some((column, top)) = breakdown {
                    f["breakdown"] = json!({"column": column, "top": top});
                }
                if let Some(w) = w {
                    f["maxDuration"] = w;
                }
                if let Some(a) = step_aggs {
                    f[if end { "endAggregations" } else { "stepAggregations" }] = json!(a);
                }
                q["funnel"] = f;
            }
            if let Some((from, to)) = tf {
                let mut t = json!({});
                if let Some(f) = from {
                    t["from"] = json!(f);
                }
                if let Some(x) = to {
                    t["to"] = json!(x);
                }
                q["timeframe"] = t;
            }
            q
        })
}

fn valid(q: &Value) -> ValidQuery {
    validate_query_value(q, None).unwrap_or_else(|e| panic!("generated query must be valid: {e}\n{q}"))
}

fn final_json(p: &PartialResult) -> String {
    serde_json::to_string(&p.finalize(false)).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, max_shrink_iters: 2000, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_brute_force_reference(d in arb_data(), q in arb_query()) {
        let vq = valid(&q);
        let want = serde_json::to_string(&reference::run(&d, &vq.query)).unwrap();
        // Every way of selecting groups gives the reference's answer (Auto rarely takes the
        // candidate-first plan on parts this small: it is forced here).
        for plan in [SelectPlan::Auto, SelectPlan::EveryGroup, SelectPlan::CandidateFirst] {
            let part = run_part(&d, &vq, &EngineOptions { plan, ..exact_opts() }).unwrap();
            let got = final_json(&part);
            prop_assert_eq!(&got, &want, "plan {:?}, query: {}", plan, q);
        }
    }

    #[test]
    fn merge_of_partitions_equals_whole(
        d in arb_data(),
        q in arb_query(),
        k in 1usize..4,
        salt in any::<u8>(),
        limit in 1usize..6,
    ) {
        let mut q = q;
        // Small exact limits: parts and merges cross into the sketch, which must not depend on
        // how the groups were split or the order of merging.
        if q["funnel"].get("stepTimings").is_some() {
            q["funnel"]["stepTimings"] = json!({"exactLimit": limit});
        }
        let vq = valid(&q);
        let whole = run_part(&d, &vq, &exact_opts()).unwrap();
        // Partition by group (parts hold disjoint groups), then merge in both orders.
        let mut parts: Vec<Vec<usize>> = vec![Vec::new(); k];
        for r in 0..d.n_rows() {
            let key = d.group_key(r);
            let h = key.bytes().fold(u64::from(salt), |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
            parts[(h % k as u64) as usize].push(r);
        }
        let results: Vec<PartialResult> = parts
            .iter()
            .filter(|rows| !rows.is_empty())
            .map(|rows| run_part(&d.select_rows(rows), &vq, &exact_opts()).unwrap())
            .collect();
        let forward = PartialResult::merge_all(results.clone()).unwrap().unwrap();
        let backward = PartialResult::merge_all(results.into_iter().rev()).unwrap().unwrap();
        prop_assert_eq!(final_json(&forward), final_json(&whole), "query: {}", q);
        prop_assert_eq!(final_json(&backward), final_json(&whole));
        prop_assert_eq!(forward.scanned_rows, whole.scanned_rows);
    }
}
