//! Aggregations over the rows of a set of groups (docs/query-language.md "Shape of a query" and "Aggregations").

use crate::EngineError;
use crate::codes::{Code, Codes, with_codes};
use crate::frame::{BOOL_NULL, Col, Frame};
use hashbrown::HashMap;
use protocol::exact_sum::FastExactSum;
use protocol::result::{MeanAcc, Num, float_key};
use protocol::{AggOptions, AggType, Aggregation, PartialAgg, PartialAggValue};
use std::collections::BTreeMap;

/// Maps the values of a key column to dense ids, row by row.
pub(crate) enum KeyCoder<'a> {
    Str { codes: &'a Codes, dict: &'a [String] },
    Bool { values: &'a [u8] },
    Int { values: &'a [i64], valid: Option<&'a [bool]>, ids: HashMap<i64, u32>, keys: Vec<i64> },
    Float { values: &'a [f64], ids: HashMap<u64, u32>, keys: Vec<f64> },
}

impl<'a> KeyCoder<'a> {
    pub(crate) fn new(col: &'a Col) -> Self {
        match col {
            Col::Str { codes, dict } => KeyCoder::Str { codes, dict },
            Col::Bool { values } => KeyCoder::Bool { values },
            Col::Int { values, valid } => {
                KeyCoder::Int { values, valid: valid.as_deref(), ids: HashMap::new(), keys: Vec::new() }
            }
            Col::Float { values } => KeyCoder::Float { values, ids: HashMap::new(), keys: Vec::new() },
        }
    }

    #[inline]
    pub(crate) fn id(&mut self, r: usize) -> Option<u32> {
        match self {
            KeyCoder::Str { codes, .. } => codes.get(r),
            KeyCoder::Bool { values } => {
                let v = values[r];
                (v != BOOL_NULL).then_some(u32::from(v))
            }
            KeyCoder::Int { values, valid, ids, keys } => {
                if valid.is_some_and(|v| !v[r]) {
                    return None;
                }
                let v = values[r];
                Some(*ids.entry(v).or_insert_with(|| {
                    keys.push(v);
                    (keys.len() - 1) as u32
                }))
            }
            KeyCoder::Float { values, ids, keys } => {
                let v = values[r];
                if v.is_nan() {
                    return None;
                }
                let v = if v == 0.0 { 0.0 } else { v };
                Some(*ids.entry(v.to_bits()).or_insert_with(|| {
                    keys.push(v);
                    (keys.len() - 1) as u32
                }))
            }
        }
    }

    /// The number of distinct ids when they are known up front (dictionary codes, bools): a
    /// caller can count in a dense array instead of a map.
    pub(crate) fn dense_ids(&self) -> Option<usize> {
        match self {
            KeyCoder::Str { dict, .. } => Some(dict.len()),
            KeyCoder::Bool { .. } => Some(2),
            KeyCoder::Int { .. } | KeyCoder::Float { .. } => None,
        }
    }

    pub(crate) fn key(&self, id: u32) -> String {
        match self {
            KeyCoder::Str { dict, .. } => dict[id as usize].clone(),
            KeyCoder::Bool { .. } => if id == 1 { "true" } else { "false" }.to_string(),
            KeyCoder::Int { keys, .. } => keys[id as usize].to_string(),
            KeyCoder::Float { keys, .. } => float_key(keys[id as usize]),
        }
    }
}

/// The numeric column summed by sumPerValue / meanPerValue.
enum OtherCol<'a> {
    Int { values: &'a [i64], valid: Option<&'a [bool]> },
    Float { values: &'a [f64] },
}

fn other_column<'a>(frame: &'a Frame, spec: &Aggregation) -> Result<OtherCol<'a>, EngineError> {
    let name = spec.other_column.as_deref().unwrap_or_default();
    match frame.column(name)? {
        Col::Int { values, valid } => Ok(OtherCol::Int { values, valid: valid.as_deref() }),
        Col::Float { values } => Ok(OtherCol::Float { values }),
        other => Err(EngineError::TypeMismatch {
            column: name.to_string(),
            found: other.type_name().to_string(),
            usage: format!("as the summed column of '{}'", spec.agg_type.as_str()),
        }),
    }
}

fn count_non_null(col: &Col, ranges: &[(u32, u32)]) -> u64 {
    let mut n = 0u64;
    for &(lo, hi) in ranges {
        let (lo, hi) = (lo as usize, hi as usize);
        n += match col {
            Col::Int { valid: None, .. } => (hi - lo) as u64,
            Col::Int { valid: Some(v), .. } => v[lo..hi].iter().filter(|&&b| b).count() as u64,
            Col::Float { values } => values[lo..hi].iter().filter(|x| !x.is_nan()).count() as u64,
            Col::Bool { values } => values[lo..hi].iter().filter(|&&b| b != BOOL_NULL).count() as u64,
            Col::Str { codes, .. } => with_codes!(codes, c => c[lo..hi].iter().filter(|k| !k.is_null()).count()) as u64,
        };
    }
    n
}

/// Per-value tallies of one aggregation, indexed by key id.
#[derive(Default)]
struct Tallies {
    rows: Vec<u64>,
    groups: Vec<u64>,
    isum: Vec<i128>,
    fsum: Vec<FastExactSum>,
    ocount: Vec<u64>,
}

/// Tallies the rows of `ranges` with `id_of(row)` giving a row's key id (None: null key).
/// Generic over `id_of` so that dictionary codes are read directly in a loop specialised per
/// aggregation type (no dispatch per row); `dense` is the number of ids when known up front.
fn tally(
    mut id_of: impl FnMut(usize) -> Option<u32>,
    dense: Option<usize>,
    agg: AggType,
    other: Option<&OtherCol<'_>>,
    ranges: &[(u32, u32)],
) -> Tallies {
    let n = dense.unwrap_or(0);
    let mut t = Tallies { rows: vec![0; n], ..Tallies::default() };
    let rows_of = ranges.iter().flat_map(|&(lo, hi)| lo as usize..hi as usize);
    match (agg, other) {
        (AggType::GroupsPerValue, _) => {
            let mut last_group: Vec<u32> = vec![0; n];
            t.groups = vec![0; n];
            for (g, &(lo, hi)) in ranges.iter().enumerate() {
                let stamp = g as u32 + 1;
                for r in lo as usize..hi as usize {
                    let Some(id) = id_of(r) else { continue };
                    let id = id as usize;
                    if id >= t.rows.len() {
                        t.rows.resize(id + 1, 0);
                        t.groups.resize(id + 1, 0);
                        last_group.resize(id + 1, 0);
                    }
                    t.rows[id] += 1;
                    if last_group[id] != stamp {
                        last_group[id] = stamp;
                        t.groups[id] += 1;
                    }
                }
            }
        }
        (AggType::SumPerValue | AggType::MeanPerValue, Some(OtherCol::Float { values })) => {
            let mut fsum = Vec::new();
            tally_sums(&mut id_of, rows_of, &mut t, &mut fsum, FastExactSum::new(), |s, r| {
                let x = values[r];
                !x.is_nan() && {
                    s.add(x);
                    true
                }
            });
            t.fsum = fsum;
        }
        (AggType::SumPerValue | AggType::MeanPerValue, Some(OtherCol::Int { values, valid })) => {
            let mut isum = Vec::new();
            tally_sums(&mut id_of, rows_of, &mut t, &mut isum, 0i128, |s, r| {
                valid.is_none_or(|v| v[r]) && {
                    *s += i128::from(values[r]);
                    true
                }
            });
            t.isum = isum;
        }
        _ => {
            for r in rows_of {
                let Some(id) = id_of(r) else { continue };
                let id = id as usize;
                if id >= t.rows.len() {
                    t.rows.resize(id + 1, 0);
                }
                t.rows[id] += 1;
            }
        }
    }
    t
}

/// Rows per id, and per id the sum of the other column and its non-null count: `add(sum, row)`
/// adds the row's value and says whether it was not null. `t.rows` is pre-sized (dense ids).
fn tally_sums<S: Clone>(
    id_of: &mut impl FnMut(usize) -> Option<u32>,
    rows_of: impl Iterator<Item = usize>,
    t: &mut Tallies,
    sums: &mut Vec<S>,
    zero: S,
    add: impl Fn(&mut S, usize) -> bool,
) {
    *sums = vec![zero.clone(); t.rows.len()];
    t.ocount = vec![0; t.rows.len()];
    for r in rows_of {
        let Some(id) = id_of(r) else { continue };
        let id = id as usize;
        if id >= t.rows.len() {
            t.rows.resize(id + 1, 0);
            sums.resize(id + 1, zero.clone());
            t.ocount.resize(id + 1, 0);
        }
        t.rows[id] += 1;
        if add(&mut sums[id], r) {
            t.ocount[id] += 1;
        }
    }
}

fn per_value(frame: &Frame, spec: &Aggregation, ranges: &[(u32, u32)]) -> Result<PartialAggValue, EngineError> {
    let col = frame.column(&spec.column)?;
    let mut coder = KeyCoder::new(col);
    let other = if spec.agg_type.needs_other_column() { Some(other_column(frame, spec)?) } else { None };
    let (agg, dense) = (spec.agg_type, coder.dense_ids());
    let Tallies { rows, groups, isum, fsum, ocount } = match &coder {
        KeyCoder::Str { codes, .. } => with_codes!(codes, c => tally(
            |r| {
                let k = c[r];
                (!k.is_null()).then(|| k.index() as u32)
            },
            dense,
            agg,
            other.as_ref(),
            ranges,
        )),
        _ => tally(|r| coder.id(r), dense, agg, other.as_ref(), ranges),
    };
    let observed = (0..rows.len()).filter(|&id| rows[id] > 0);
    let is_int = matches!(other, Some(OtherCol::Int { .. }));
    let sum_of = |id: usize| -> Num {
        if is_int {
            Num::Int(isum.get(id).copied().unwrap_or(0))
        } else {
            Num::Float(fsum.get(id).cloned().map(FastExactSum::finish).unwrap_or_default())
        }
    };
    Ok(match spec.agg_type {
        AggType::Count => unreachable_count(),
        AggType::CountPerValue => PartialAggValue::Counts {
            approximate: false,
            entries: observed.map(|id| (coder.key(id as u32), rows[id])).collect(),
        },
        AggType::GroupsPerValue => PartialAggValue::Counts {
            approximate: false,
            entries: observed.map(|id| (coder.key(id as u32), groups[id])).collect(),
        },
        AggType::SumPerValue => PartialAggValue::Sums {
            approximate: false,
            entries: observed.map(|id| (coder.key(id as u32), sum_of(id))).collect(),
        },
        AggType::MeanPerValue => PartialAggValue::Means {
            approximate: false,
            entries: observed
                .filter(|&id| ocount.get(id).copied().unwrap_or(0) > 0)
                .map(|id| (coder.key(id as u32), MeanAcc { sum: sum_of(id), count: ocount[id] }))
                .collect::<BTreeMap<_, _>>(),
        },
    })
}

fn unreachable_count() -> PartialAggValue {
    // `count` is handled by `aggregate` before calling `per_value`.
    PartialAggValue::Count { count: 0 }
}

/// Computes each aggregation over all rows of the groups in `ranges`.
pub(crate) fn aggregate(
    frame: &Frame,
    specs: &[Aggregation],
    ranges: &[(u32, u32)],
    opts: &AggOptions,
) -> Result<Vec<PartialAgg>, EngineError> {
    specs
        .iter()
        .map(|spec| {
            let mut value = if spec.agg_type == AggType::Count {
                PartialAggValue::Count { count: count_non_null(frame.column(&spec.column)?, ranges) }
            } else {
                per_value(frame, spec, ranges)?
            };
            if let Some(top) = spec.top {
                value.limit_for_part(top, opts);
            }
            Ok(PartialAgg { spec: spec.clone(), value })
        })
        .collect()
}
