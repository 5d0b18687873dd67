//! The engine's columnar form of a part: rows ordered by (group, timestamp), group runs as
//! offsets, and typed column buffers that kernels can scan without per-row dispatch.

use crate::EngineError;
use crate::codes::{Code, Codes, with_codes};
use hashbrown::HashMap;
use polars::prelude::*;
use polars_arrow::array::Array as _;

/// A column of the frame, in row order of the frame.
#[derive(Debug, Clone)]
pub enum Col {
    /// Integers (all widths) as i64; `valid[i] == false` marks a null (None when no nulls).
    Int { values: Vec<i64>, valid: Option<Vec<bool>> },
    /// Floats as f64; nulls are NaN (docs/query-language.md "Operators and nulls": NaN is null).
    Float { values: Vec<f64> },
    /// 0 = false, 1 = true, 2 = null.
    Bool { values: Vec<u8> },
    /// Dictionary-encoded strings: codes as narrow as the dictionary allows (`codes.rs`), the
    /// width's maximum marking a null.
    Str { codes: Codes, dict: Vec<String> },
}

pub const NULL_CODE: u32 = u32::MAX;
pub const BOOL_NULL: u8 = 2;

impl Col {
    pub fn type_name(&self) -> &'static str {
        match self {
            Col::Int { .. } => "INT",
            Col::Float { .. } => "FLOAT",
            Col::Bool { .. } => "BOOL",
            Col::Str { .. } => "STRING",
        }
    }

    /// Appends the rows of `other` (the same column's next chunk): values are copied, string
    /// codes re-mapped into this column's dictionary.
    pub(crate) fn append(&mut self, other: Col, name: &str) -> Result<(), EngineError> {
        let n = self.len();
        match (self, other) {
            (Col::Int { values, valid }, Col::Int { values: v2, valid: m2 }) => {
                match (valid.as_mut(), m2) {
                    (Some(m), Some(m2)) => m.extend_from_slice(&m2),
                    (Some(m), None) => m.resize(n + v2.len(), true),
                    (None, Some(m2)) => {
                        let mut m = vec![true; n];
                        m.extend_from_slice(&m2);
                        *valid = Some(m);
                    }
                    (None, None) => {}
                }
                values.extend_from_slice(&v2);
            }
            (Col::Float { values }, Col::Float { values: v2 }) => values.extend_from_slice(&v2),
            (Col::Bool { values }, Col::Bool { values: v2 }) => values.extend_from_slice(&v2),
            (Col::Str { codes, dict }, Col::Str { codes: c2, dict: d2 }) => {
                let remap = merge_dictionary(dict, d2.iter().map(|s| Some(s.as_str())));
                codes.fit(dict.len(), codes.len() + c2.len());
                with_codes!(&c2, c2 => codes.extend(c2.iter().map(|&c| if c.is_null() { NULL_CODE } else { remap[c.index()] })));
            }
            (me, other) => return Err(type_change(name, me.type_name(), other.type_name())),
        }
        Ok(())
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            Col::Int { values, .. } => values.len(),
            Col::Float { values } => values.len(),
            Col::Bool { values } => values.len(),
            Col::Str { codes, .. } => codes.len(),
        }
    }

    /// Reserves room for `total` rows (a part read in chunks knows its size up front).
    pub(crate) fn reserve_total(&mut self, total: usize) {
        let more = total.saturating_sub(self.len());
        match self {
            Col::Int { values, valid } => {
                values.reserve_exact(more);
                if let Some(v) = valid {
                    v.reserve_exact(more);
                }
            }
            Col::Float { values } => values.reserve_exact(more),
            Col::Bool { values } => values.reserve_exact(more),
            Col::Str { codes, .. } => codes.reserve_exact(more),
        }
    }

    fn gather(&self, perm: &[u32]) -> Col {
        fn take<T: Copy>(v: &[T], perm: &[u32]) -> Vec<T> {
            perm.iter().map(|&i| v[i as usize]).collect()
        }
        match self {
            Col::Int { values, valid } => {
                Col::Int { values: take(values, perm), valid: valid.as_ref().map(|v| take(v, perm)) }
            }
            Col::Float { values } => Col::Float { values: take(values, perm) },
            Col::Bool { values } => Col::Bool { values: take(values, perm) },
            Col::Str { codes, dict } => Col::Str { codes: codes.gather(perm), dict: dict.clone() },
        }
    }
}

/// Timestamps in frame row order: integers stay exact; floats are f64. `Absent` when the frame
/// was prepared for queries that do not need them ([`Frame::prepare_without_timestamps`]).
///
/// Integer timestamps whose part spans less than 2^32 - 1 units (136 years of seconds, 49
/// days of milliseconds) are kept as 32-bit offsets from the part's minimum (`Offsets`): half
/// the memory and half the bytes a timeframe's scan over every row reads, which is what that
/// scan costs (docs/benchmarks.md). Exact: an offset is `t - base`, and the engine compares
/// offsets with the query's bounds shifted by the same base (`execute.rs`); durations and
/// windows are differences, which the base cancels out of.
#[derive(Debug, Clone)]
pub enum Timestamps {
    Int(Vec<i64>),
    Offsets { base: i64, offsets: Vec<u32> },
    Float(Vec<f64>),
    Absent,
}

impl Timestamps {
    /// Integer timestamps as 32-bit offsets from their minimum when their span allows it
    /// (below `u32::MAX`, so that one past the largest offset is still a `u32`), with their
    /// least and greatest value ([`Frame::ts_span`]; `None` for no rows or other kinds).
    pub(crate) fn narrowed(self) -> (Timestamps, Option<(i64, i64)>) {
        let Timestamps::Int(t) = self else { return (self, None) };
        if t.is_empty() {
            return (Timestamps::Int(t), None);
        }
        // Minimum and maximum in one pass (a pass over the part's 8-byte timestamps is what
        // this costs: docs/benchmarks.md).
        let (min, max) = t.iter().fold((i64::MAX, i64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        if i128::from(max) - i128::from(min) >= i128::from(u32::MAX) {
            return (Timestamps::Int(t), Some((min, max)));
        }
        let offsets = t.iter().map(|&v| v.wrapping_sub(min) as u32).collect();
        (Timestamps::Offsets { base: min, offsets }, Some((min, max)))
    }

    /// Integer timestamps as they are in the part, whatever their representation.
    #[cfg(test)]
    pub(crate) fn as_i64(&self) -> Option<Vec<i64>> {
        match self {
            Timestamps::Int(t) => Some(t.clone()),
            Timestamps::Offsets { base, offsets } => Some(offsets.iter().map(|&o| base + i64::from(o)).collect()),
            Timestamps::Float(_) | Timestamps::Absent => None,
        }
    }
}

/// Whether a frame's timestamps are integers or floats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampKind {
    Int,
    Float,
}

/// A part prepared for query execution (independent of any query's timeframe).
#[derive(Debug, Clone)]
pub struct Frame {
    pub(crate) n_rows: usize,
    /// `groups[g] = (start, end)`: the rows of group `g`, non-empty, contiguous and in order.
    /// Kept as ranges (not only starts) because a query without a timeframe uses them as its
    /// universe as they are: no per-query allocation or pass over every group.
    pub(crate) groups: Vec<(u32, u32)>,
    /// Row → group in O(1), built on first use ([`Frame::group_index`]).
    pub(crate) group_index: std::sync::OnceLock<GroupIndex>,
    pub(crate) ts: Timestamps,
    /// The least and greatest integer timestamp (`None`: no rows, or timestamps absent or
    /// floats). A timeframe admitting both admits every row, and the engine skips it
    /// ([`Frame::within`]): a frame the reader built with only a query's timeframe's rows
    /// (worker/src/parquet.rs, timeframe pushdown) is not filtered by it a second time.
    pub(crate) ts_span: Option<(i64, i64)>,
    pub(crate) columns: HashMap<String, Col>,
    /// Whether the input was already ordered by (group, timestamp).
    pub(crate) was_sorted: bool,
}

fn dtype_err(column: &str, dtype: &DataType) -> EngineError {
    EngineError::UnsupportedType { column: column.to_string(), dtype: dtype.to_string() }
}

pub(crate) fn polars_err(column: &str, e: PolarsError) -> EngineError {
    EngineError::InvalidData { column: column.to_string(), problem: e.to_string() }
}

pub(crate) fn series<'a>(df: &'a DataFrame, name: &str) -> Result<&'a Series, EngineError> {
    df.column(name).map(Column::as_materialized_series).map_err(|_| EngineError::MissingColumn(name.to_string()))
}

fn extract_int(name: &str, s: &Series) -> Result<Col, EngineError> {
    let cast = s.strict_cast(&DataType::Int64).map_err(|_| EngineError::InvalidData {
        column: name.to_string(),
        problem: format!("{} values do not fit in a 64-bit signed integer", s.dtype()),
    })?;
    let ca = cast.i64().map_err(|e| polars_err(name, e))?;
    let mut values = Vec::with_capacity(ca.len());
    for arr in ca.downcast_iter() {
        values.extend_from_slice(arr.values());
    }
    let valid = (ca.null_count() > 0).then(|| ca.iter().map(|v| v.is_some()).collect());
    Ok(Col::Int { values, valid })
}

fn extract_float(name: &str, s: &Series) -> Result<Col, EngineError> {
    let cast = s.cast(&DataType::Float64).map_err(|e| polars_err(name, e))?;
    let ca = cast.f64().map_err(|e| polars_err(name, e))?;
    let values = if ca.null_count() > 0 {
        ca.iter().map(|v| v.unwrap_or(f64::NAN)).collect()
    } else {
        let mut v = Vec::with_capacity(ca.len());
        for arr in ca.downcast_iter() {
            v.extend_from_slice(arr.values());
        }
        v
    };
    Ok(Col::Float { values })
}

/// Dictionary codes of a string column, reading Arrow string views directly: a string of at
/// most 12 bytes lives inside its 16-byte view, so the view itself is the hash key (no string
/// is touched per row); longer strings are hashed as strings. A new view is checked against
/// the strings already seen, so equal strings always get one code whatever the view padding.
fn encode_string_views(ca: &StringChunked) -> (Vec<u32>, Vec<String>) {
    let mut by_view: HashMap<u128, u32> = HashMap::new();
    let mut by_str: HashMap<&str, u32> = HashMap::new();
    let mut dict: Vec<String> = Vec::new();
    let mut codes = Vec::with_capacity(ca.len());
    for arr in ca.downcast_iter() {
        let validity = arr.validity();
        for (i, view) in arr.views().iter().enumerate() {
            if validity.is_some_and(|b| !b.get_bit(i)) {
                codes.push(NULL_CODE);
                continue;
            }
            let code = if view.length <= 12 {
                match by_view.get(&view.as_u128()) {
                    Some(&c) => c,
                    None => {
                        let c = intern(arr.value(i), &mut by_str, &mut dict);
                        by_view.insert(view.as_u128(), c);
                        c
                    }
                }
            } else {
                intern(arr.value(i), &mut by_str, &mut dict)
            };
            codes.push(code);
        }
    }
    (codes, dict)
}

/// The code in `dict` of each of a chunk's dictionary values (`None`, a null value: `NULL_CODE`),
/// adding the values `dict` lacks; a value repeated in the chunk gets one code.
pub(crate) fn merge_dictionary<'a>(dict: &mut Vec<String>, values: impl Iterator<Item = Option<&'a str>>) -> Vec<u32> {
    let mut index: HashMap<&str, u32> = dict.iter().enumerate().map(|(i, s)| (s.as_str(), i as u32)).collect();
    let mut added: Vec<&str> = Vec::new();
    let table = values
        .map(|v| match v {
            None => NULL_CODE,
            Some(v) => *index.entry(v).or_insert_with(|| {
                added.push(v);
                (dict.len() + added.len() - 1) as u32
            }),
        })
        .collect();
    drop(index);
    dict.extend(added.into_iter().map(str::to_string));
    table
}

/// The code of `s`, adding it to the dictionary when new.
fn intern<'a>(s: &'a str, by_str: &mut HashMap<&'a str, u32>, dict: &mut Vec<String>) -> u32 {
    *by_str.entry(s).or_insert_with(|| {
        dict.push(s.to_string());
        (dict.len() - 1) as u32
    })
}

/// Dense codes for a categorical column from its category ids: a table lookup per row (ids
/// index a per-column table; very sparse ids fall back to a hash map).
fn encode_category_ids<'a>(
    ids: impl Iterator<Item = Option<u32>>,
    len: usize,
    max_id: Option<u32>,
    lookup: impl Fn(u32) -> Option<&'a str>,
) -> (Vec<u32>, Vec<String>) {
    let mut dict: Vec<String> = Vec::new();
    let mut codes = Vec::with_capacity(len);
    let new_code = |id: u32, dict: &mut Vec<String>| {
        dict.push(lookup(id).unwrap_or_default().to_string());
        (dict.len() - 1) as u32
    };
    match max_id {
        Some(m) if (m as usize) <= len.max(1 << 16) => {
            let mut table = vec![NULL_CODE; m as usize + 1];
            for id in ids {
                codes.push(match id {
                    None => NULL_CODE,
                    Some(id) => {
                        let slot = &mut table[id as usize];
                        if *slot == NULL_CODE {
                            *slot = new_code(id, &mut dict);
                        }
                        *slot
                    }
                });
            }
        }
        _ => {
            let mut map: HashMap<u32, u32> = HashMap::new();
            for id in ids {
                codes.push(match id {
                    None => NULL_CODE,
                    Some(id) => *map.entry(id).or_insert_with(|| new_code(id, &mut dict)),
                });
            }
        }
    }
    (codes, dict)
}

fn extract_categorical(s: &Series) -> Option<Col> {
    let n = s.len();
    let (codes, dict) = if let Ok(ca) = s.cat32() {
        let m = ca.get_mapping();
        encode_category_ids(ca.physical().iter(), n, ca.physical().max(), |id| m.cat_to_str(id))
    } else if let Ok(ca) = s.cat16() {
        let m = ca.get_mapping();
        let max = ca.physical().max().map(u32::from);
        encode_category_ids(ca.physical().iter().map(|v| v.map(u32::from)), n, max, |id| m.cat_to_str(id))
    } else if let Ok(ca) = s.cat8() {
        let m = ca.get_mapping();
        let max = ca.physical().max().map(u32::from);
        encode_category_ids(ca.physical().iter().map(|v| v.map(u32::from)), n, max, |id| m.cat_to_str(id))
    } else {
        return None;
    };
    Some(Col::Str { codes: Codes::from_u32(codes, dict.len()), dict })
}

fn extract_str(name: &str, s: &Series) -> Result<Col, EngineError> {
    if s.dtype().is_categorical()
        && let Some(col) = extract_categorical(s)
    {
        return Ok(col);
    }
    let owned;
    let s = if s.dtype().is_string() {
        s
    } else {
        owned = s.cast(&DataType::String).map_err(|e| polars_err(name, e))?;
        &owned
    };
    let ca = s.str().map_err(|e| polars_err(name, e))?;
    let (codes, dict) = encode_string_views(ca);
    Ok(Col::Str { codes: Codes::from_u32(codes, dict.len()), dict })
}

pub(crate) fn type_change(name: &str, before: &str, after: &str) -> EngineError {
    EngineError::InvalidData {
        column: name.to_string(),
        problem: format!("its type changes within the part ({before} then {after})"),
    }
}

/// Reads one polars column into the engine's form.
pub(crate) fn extract(name: &str, s: &Series) -> Result<Col, EngineError> {
    let dt = s.dtype();
    if dt.is_integer() {
        extract_int(name, s)
    } else if dt.is_float() {
        extract_float(name, s)
    } else if dt.is_bool() {
        let ca = s.bool().map_err(|e| polars_err(name, e))?;
        Ok(Col::Bool { values: ca.iter().map(|v| v.map_or(BOOL_NULL, u8::from)).collect() })
    } else if dt.is_string() || dt.is_categorical() || dt.is_enum() {
        extract_str(name, s)
    } else {
        Err(dtype_err(name, dt))
    }
}

impl Frame {
    pub(crate) fn is_sorted_by<K: Ord + Copy>(&self, keys: &[K]) -> bool {
        fn check<K: Ord + Copy, T: Copy>(keys: &[K], ts: &[T], le: impl Fn(T, T) -> bool) -> bool {
            keys.windows(2).zip(ts.windows(2)).all(|(k, t)| k[0] < k[1] || (k[0] == k[1] && le(t[0], t[1])))
        }
        match &self.ts {
            Timestamps::Int(t) => check(keys, t, |a, b| a <= b),
            Timestamps::Offsets { offsets, .. } => check(keys, offsets, |a, b| a <= b),
            Timestamps::Float(t) => check(keys, t, |a, b| a <= b),
            Timestamps::Absent => keys.windows(2).all(|k| k[0] <= k[1]),
        }
    }

    pub(crate) fn sort_permutation<K: Ord + Copy>(&self, keys: &[K]) -> Vec<u32> {
        let mut perm: Vec<u32> = (0..self.n_rows as u32).collect();
        match &self.ts {
            // Equal (group, timestamp) rows keep their order in the part (the row index breaks
            // the tie): "first such row" rules (breakdown values) depend on it.
            Timestamps::Int(t) => perm.sort_unstable_by_key(|&i| (keys[i as usize], t[i as usize], i)),
            Timestamps::Offsets { offsets: t, .. } => {
                perm.sort_unstable_by_key(|&i| (keys[i as usize], t[i as usize], i))
            }
            Timestamps::Float(t) => perm.sort_unstable_by(|&a, &b| {
                keys[a as usize].cmp(&keys[b as usize]).then(t[a as usize].total_cmp(&t[b as usize])).then(a.cmp(&b))
            }),
            // Stable: rows of a group keep their order in the part.
            Timestamps::Absent => perm.sort_by_key(|&i| keys[i as usize]),
        }
        perm
    }

    pub(crate) fn apply(&mut self, perm: &[u32]) {
        self.ts = match &self.ts {
            Timestamps::Int(t) => Timestamps::Int(perm.iter().map(|&i| t[i as usize]).collect()),
            Timestamps::Offsets { base, offsets } => {
                Timestamps::Offsets { base: *base, offsets: perm.iter().map(|&i| offsets[i as usize]).collect() }
            }
            Timestamps::Float(t) => Timestamps::Float(perm.iter().map(|&i| t[i as usize]).collect()),
            Timestamps::Absent => Timestamps::Absent,
        };
        for c in self.columns.values_mut() {
            *c = c.gather(perm);
        }
    }

    pub fn n_rows(&self) -> usize {
        self.n_rows
    }
    pub fn n_groups(&self) -> usize {
        self.groups.len()
    }
    /// Whether the input part was already ordered by (group, timestamp).
    pub fn was_sorted(&self) -> bool {
        self.was_sorted
    }
    /// The kind of the frame's timestamps (`None`: prepared without them).
    pub fn timestamp_kind(&self) -> Option<TimestampKind> {
        match self.ts {
            Timestamps::Int(_) | Timestamps::Offsets { .. } => Some(TimestampKind::Int),
            Timestamps::Float(_) => Some(TimestampKind::Float),
            Timestamps::Absent => None,
        }
    }
    /// Whether the frame holds timestamps (see [`Frame::prepare_without_timestamps`]).
    pub fn has_timestamps(&self) -> bool {
        !matches!(self.ts, Timestamps::Absent)
    }
    pub(crate) fn column(&self, name: &str) -> Result<&Col, EngineError> {
        self.columns.get(name).ok_or_else(|| EngineError::MissingColumn(name.to_string()))
    }
}

/// Which group a row belongs to, in O(1) and without a branch: a bit per row marking the first
/// row of each group, and per 64-row word the number of groups started before it (a rank
/// structure: 3/16 of a byte per row). Visiting the matching rows of a sparse mask finds each
/// row's group with two loads and a popcount, instead of a search over the group ranges.
#[derive(Debug, Clone, Default)]
pub struct GroupIndex {
    starts: Vec<u64>,
    before: Vec<u32>,
}

impl GroupIndex {
    pub(crate) fn new(groups: &[(u32, u32)], n_rows: usize) -> GroupIndex {
        let words = n_rows.div_ceil(64);
        let mut starts = vec![0u64; words];
        for &(s, _) in groups {
            starts[s as usize / 64] |= 1 << (s % 64);
        }
        let mut before = Vec::with_capacity(words);
        let mut n = 0u32;
        for w in &starts {
            before.push(n);
            n += w.count_ones();
        }
        GroupIndex { starts, before }
    }

    /// The group-start bitmap: bit `r % 64` of word `r / 64` set when row `r` starts a group.
    pub(crate) fn starts(&self) -> &[u64] {
        &self.starts
    }

    /// The group of row `r` (`r` < the frame's rows; every row is in a group).
    #[inline]
    pub(crate) fn group_of(&self, r: usize) -> usize {
        let (w, b) = (r / 64, r % 64);
        let upto = self.starts[w] & (u64::MAX >> (63 - b));
        (self.before[w] + upto.count_ones()) as usize - 1
    }
}

/// Group ranges from run starts followed by the end (`[s0, s1, ..., end]`); empty runs dropped.
pub(crate) fn ranges_of(starts: &[u32]) -> Vec<(u32, u32)> {
    let mut out = Vec::with_capacity(starts.len().saturating_sub(1));
    out.extend(starts.windows(2).filter(|w| w[0] < w[1]).map(|w| (w[0], w[1])));
    out
}

pub(crate) fn run_starts<K: PartialEq>(keys: &[K]) -> Vec<u32> {
    let mut starts = Vec::with_capacity(keys.len() / 2 + 2);
    if !keys.is_empty() {
        starts.push(0);
        for i in 1..keys.len() {
            if keys[i] != keys[i - 1] {
                starts.push(i as u32);
            }
        }
    }
    starts.push(keys.len() as u32);
    starts
}

/// The query type of a polars dtype (`None`: unsupported, e.g. dates or lists).
pub fn query_type(dtype: &DataType) -> Option<protocol::ColumnType> {
    use protocol::ColumnType;
    if dtype.is_integer() {
        Some(ColumnType::Int)
    } else if dtype.is_float() {
        Some(ColumnType::Float)
    } else if dtype.is_bool() {
        Some(ColumnType::Bool)
    } else if dtype.is_string() || dtype.is_categorical() || dtype.is_enum() {
        Some(ColumnType::String)
    } else {
        None
    }
}

/// The dataset schema of a part: every supported column with its query type.
pub fn describe(df: &DataFrame, group_column: &str, timestamp_column: &str) -> protocol::DatasetSchema {
    let columns = df.columns().iter().filter_map(|c| query_type(c.dtype()).map(|t| (c.name().to_string(), t)));
    protocol::DatasetSchema::new(group_column, timestamp_column, columns)
}

impl Frame {
    /// Approximate memory held by the frame, for cache accounting.
    pub fn approx_bytes(&self) -> usize {
        let cols: usize = self
            .columns
            .values()
            .map(|c| match c {
                Col::Int { values, valid } => values.len() * 8 + valid.as_ref().map_or(0, Vec::len),
                Col::Float { values } => values.len() * 8,
                Col::Bool { values } => values.len(),
                Col::Str { codes, dict } => codes.bytes() + dict.iter().map(|s| s.len() + 24).sum::<usize>(),
            })
            .sum();
        let ts = match &self.ts {
            Timestamps::Offsets { offsets, .. } => offsets.len() * 4,
            Timestamps::Absent => 0,
            _ => self.n_rows * 8,
        };
        // The group index (built on first use): 3/16 of a byte per row.
        ts + self.groups.len() * 8 + self.n_rows * 3 / 16 + cols
    }

    /// The row → group index of the frame's groups, built on first use.
    pub(crate) fn group_index(&self) -> &GroupIndex {
        self.group_index.get_or_init(|| GroupIndex::new(&self.groups, self.n_rows))
    }

    /// Whether the frame holds every one of `columns`.
    pub fn has_columns(&self, columns: &[String]) -> bool {
        columns.iter().all(|c| self.columns.contains_key(c))
    }
}
