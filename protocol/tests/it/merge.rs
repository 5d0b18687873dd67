//! Merging partial results: exact, associative, commutative; top-N only at the end.

use proptest::prelude::*;
use protocol::exact_sum::ExactSum;
use protocol::result::{MeanAcc, Num, PartialStep};
use protocol::{AggOptions, AggType, Aggregation, PartialAgg, PartialAggValue, PartialFunnel, PartialResult};
use std::collections::BTreeMap;

fn spec(t: AggType, top: Option<u32>) -> Aggregation {
    Aggregation { column: "c".into(), agg_type: t, name: None, other_column: None, top }
}

fn counts(entries: &[(&str, u64)]) -> PartialAggValue {
    PartialAggValue::Counts { approximate: false, entries: entries.iter().map(|(k, v)| (k.to_string(), *v)).collect() }
}

fn part(groups: u64, rows: u64, aggs: Vec<PartialAgg>) -> PartialResult {
    PartialResult {
        matching_groups: groups,
        matching_group_rows: rows,
        aggregations: Some(aggs),
        funnel: None,
        scanned_rows: rows,
        scanned_groups: groups,
    }
}

#[test]
fn counts_and_maps_add_up_and_top_applies_at_the_end() {
    let a = part(
        3,
        10,
        vec![
            PartialAgg { spec: spec(AggType::Count, None), value: PartialAggValue::Count { count: 7 } },
            PartialAgg { spec: spec(AggType::CountPerValue, Some(2)), value: counts(&[("x", 5), ("y", 1), ("z", 1)]) },
        ],
    );
    let b = part(
        2,
        4,
        vec![
            PartialAgg { spec: spec(AggType::Count, None), value: PartialAggValue::Count { count: 4 } },
            PartialAgg { spec: spec(AggType::CountPerValue, Some(2)), value: counts(&[("y", 4), ("w", 5)]) },
        ],
    );
    let merged = PartialResult::merge_all([a, b]).unwrap().unwrap();
    assert_eq!((merged.matching_groups, merged.matching_group_rows), (5, 14));
    let r = serde_json::to_value(merged.finalize(false)).unwrap();
    assert_eq!(r["query"]["aggregations"][0]["value"], serde_json::json!(11));
    // x=5, y=5, w=5, z=1: top 2 by value, ties by key ascending -> w, x.
    let m = r["query"]["aggregations"][1]["value"].as_object().unwrap();
    assert_eq!(m.iter().map(|(k, v)| (k.as_str(), v.as_u64().unwrap())).collect::<Vec<_>>(), [("w", 5), ("x", 5)]);
}

#[test]
fn means_merge_exactly_not_as_sum_of_means() {
    let mk = |sum: i128, count: u64| PartialAgg {
        spec: spec(AggType::MeanPerValue, Some(10)),
        value: PartialAggValue::Means {
            approximate: false,
            entries: [("k".to_string(), MeanAcc { sum: Num::Int(sum), count })].into_iter().collect(),
        },
    };
    let merged = PartialResult::merge_all([part(1, 2, vec![mk(10, 2)]), part(1, 2, vec![mk(2, 2)])]).unwrap().unwrap();
    let r = serde_json::to_value(merged.finalize(false)).unwrap();
    assert_eq!(r["query"]["aggregations"][0]["value"]["k"], serde_json::json!(3.0));
}

#[test]
fn shape_mismatches_are_errors() {
    let a =
        part(1, 1, vec![PartialAgg { spec: spec(AggType::Count, None), value: PartialAggValue::Count { count: 1 } }]);
    let mut b = a.clone();
    b.aggregations.as_mut().unwrap()[0].spec.column = "other".into();
    assert!(a.clone().merge(b).is_err());
    let mut c = a.clone();
    c.aggregations = None;
    assert!(a.clone().merge(c).is_err());
    let mut d = a.clone();
    d.funnel = Some(PartialFunnel { sequence: vec![], end_aggregations: None, breakdown: None });
    assert!(a.clone().merge(d).is_err());
    let mut e = a.clone();
    e.aggregations.as_mut().unwrap()[0].value = counts(&[]);
    assert!(a.clone().merge(e).is_err());
}

#[test]
fn parts_beyond_the_exact_limit_send_top_with_grace_and_flag_approximate() {
    let entries: Vec<(String, u64)> = (0..15).map(|i| (format!("k{i:02}"), i)).collect();
    let mut v = PartialAggValue::Counts { approximate: false, entries: entries.into_iter().collect() };
    v.limit_for_part(3, &AggOptions { exact_limit: 10, grace_factor: 2.0 });
    match &v {
        PartialAggValue::Counts { approximate, entries } => {
            assert!(approximate);
            assert_eq!(entries.keys().cloned().collect::<Vec<_>>(), ["k09", "k10", "k11", "k12", "k13", "k14"]);
        }
        other => panic!("{other:?}"),
    }
    let mut small = counts(&[("a", 1)]);
    small.limit_for_part(3, &AggOptions { exact_limit: 10, grace_factor: 2.0 });
    assert!(!small.is_approximate());
}

#[test]
fn partial_results_round_trip_through_json_exactly() {
    let mut fs = ExactSum::new();
    for x in [1e100, 1.0, -1e100, 0.1] {
        fs.add(x);
    }
    let p = PartialResult {
        matching_groups: 1,
        matching_group_rows: 2,
        aggregations: Some(vec![PartialAgg {
            spec: spec(AggType::SumPerValue, Some(10)),
            value: PartialAggValue::Sums {
                approximate: false,
                entries: BTreeMap::from([
                    ("a".to_string(), Num::Int(i128::from(i64::MAX) * 4)),
                    ("b".to_string(), Num::Float(fs)),
                ]),
            },
        }]),
        funnel: Some(PartialFunnel {
            sequence: vec![PartialStep {
                matching_groups: 1,
                matching_group_rows: 2,
                aggregations: None,
                timings: None,
            }],
            end_aggregations: None,
            breakdown: None,
        }),
        scanned_rows: 3,
        scanned_groups: 1,
    };
    let text = serde_json::to_string(&p).unwrap();
    let back: PartialResult = serde_json::from_str(&text).unwrap();
    assert_eq!(back, p);
}

fn arb_part() -> impl Strategy<Value = PartialResult> {
    (
        0u64..100,
        prop::collection::btree_map("[a-e]", 0u64..50, 0..5),
        prop::collection::btree_map("[a-e]", (-40i64..40, 1u64..4), 0..5),
    )
        .prop_map(|(g, cm, mm)| PartialResult {
            matching_groups: g,
            matching_group_rows: g * 2,
            aggregations: Some(vec![
                PartialAgg {
                    spec: spec(AggType::CountPerValue, Some(3)),
                    value: PartialAggValue::Counts { approximate: false, entries: cm.into_iter().collect() },
                },
                PartialAgg {
                    spec: spec(AggType::MeanPerValue, Some(3)),
                    value: PartialAggValue::Means {
                        approximate: false,
                        entries: mm
                            .into_iter()
                            .map(|(k, (s, n))| {
                                (k, MeanAcc { sum: Num::Float([s as f64 / 3.0].into_iter().collect()), count: n })
                            })
                            .collect(),
                    },
                },
            ]),
            funnel: None,
            scanned_rows: g * 3,
            scanned_groups: g,
        })
}

proptest! {
    #[test]
    fn merge_is_associative_and_commutative(a in arb_part(), b in arb_part(), c in arb_part()) {
        let left = { let mut x = a.clone(); x.merge(b.clone()).unwrap(); x.merge(c.clone()).unwrap(); x };
        let right = { let mut y = b.clone(); y.merge(c.clone()).unwrap(); let mut x = a.clone(); x.merge(y).unwrap(); x };
        let swapped = { let mut x = c.clone(); x.merge(a.clone()).unwrap(); x.merge(b.clone()).unwrap(); x };
        let f = |p: &PartialResult| serde_json::to_string(&p.finalize(false)).unwrap();
        prop_assert_eq!(f(&left), f(&right));
        prop_assert_eq!(f(&left), f(&swapped));
    }
}

fn durations(xs: &[u32], limit: usize) -> protocol::insights::Durations {
    let mut d = protocol::insights::Durations::new(limit, true);
    for &x in xs {
        d.add(&Num::Int(i128::from(x)), f64::from(x));
    }
    d.seal();
    d
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// Time-to-convert durations split over parts and merged in any order: counts, min, max and
    /// the sum are exact; quantiles are the exact nearest-rank ones while the total is within
    /// the limit, else within the stated relative error — and the same whatever the split.
    #[test]
    fn step_timings_merge_within_the_stated_bound(
        xs in prop::collection::vec(1u32..5_000_000, 1..400),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..5),
        limit in 1usize..300,
    ) {
        let mut bounds: Vec<usize> = cuts.iter().map(|i| i.index(xs.len())).collect();
        bounds.extend([0, xs.len()]);
        bounds.sort();
        let parts: Vec<_> = bounds.windows(2).map(|w| durations(&xs[w[0]..w[1]], limit)).collect();
        let mut forward = parts[0].clone();
        for p in &parts[1..] {
            forward.merge(p.clone(), "t").unwrap();
        }
        let mut backward = parts[parts.len() - 1].clone();
        for p in parts[..parts.len() - 1].iter().rev() {
            backward.merge(p.clone(), "t").unwrap();
        }
        prop_assert_eq!(&forward, &backward);
        let whole = durations(&xs, limit);
        prop_assert_eq!(forward.is_exact(), xs.len() <= limit);
        prop_assert_eq!((forward.count, forward.min, forward.max), (whole.count, whole.min, whole.max));
        prop_assert_eq!(&forward.sum, &Num::Int(xs.iter().map(|&x| i128::from(x)).sum()));
        let mut sorted = xs.clone();
        sorted.sort();
        for p in [0.01, 0.25, 0.5, 0.9, 0.99, 1.0] {
            let exact = f64::from(sorted[((p * xs.len() as f64).ceil() as usize).clamp(1, xs.len()) - 1]);
            let got = forward.quantile(p).unwrap();
            if forward.is_exact() {
                prop_assert_eq!(got, exact);
            } else {
                prop_assert!((got - exact).abs() <= protocol::insights::SKETCH_RELATIVE_ERROR * exact * (1.0 + 1e-12),
                    "p{}: {} vs exact {}", p, got, exact);
            }
        }
    }
}
