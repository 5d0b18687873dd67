//! The engine's columnar form of a part: rows ordered by (group, timestamp), group runs as
//! offsets, and typed column buffers that kernels can scan without per-row dispatch.

use crate::EngineError;
use crate::codes::{Code, Codes, with_codes};
use hashbrown::HashMap;
use polars::prelude::*;
use polars_arrow::array::{Array as _, DictionaryArray, Utf8ViewArray};

/// A column of the frame, in row order of the frame.
#[derive(Debug, Clone)]
pub enum Col {
    /// Integers (all widths) as i64; `valid[i] == false` marks a null (None when no nulls).
    Int { values: Vec<i64>, valid: Option<Vec<bool>> },
    /// Floats as f64; nulls are NaN (SPEC: NaN is treated as null).
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
    fn append(&mut self, other: Col, name: &str) -> Result<(), EngineError> {
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
                let mut index: HashMap<&str, u32> = HashMap::with_capacity(dict.len());
                for (i, s) in dict.iter().enumerate() {
                    index.insert(s.as_str(), i as u32);
                }
                let mut added: Vec<String> = Vec::new();
                let remap: Vec<u32> = d2
                    .into_iter()
                    .map(|s| match index.get(s.as_str()) {
                        Some(&c) => c,
                        None => {
                            added.push(s);
                            (dict.len() + added.len() - 1) as u32
                        }
                    })
                    .collect();
                drop(index);
                dict.extend(added);
                codes.fit(dict.len(), codes.len() + c2.len());
                with_codes!(&c2, c2 => codes.extend(c2.iter().map(|&c| if c.is_null() { NULL_CODE } else { remap[c.index()] })));
            }
            (me, other) => return Err(type_change(name, me.type_name(), other.type_name())),
        }
        Ok(())
    }

    fn len(&self) -> usize {
        match self {
            Col::Int { values, .. } => values.len(),
            Col::Float { values } => values.len(),
            Col::Bool { values } => values.len(),
            Col::Str { codes, .. } => codes.len(),
        }
    }

    /// Reserves room for `total` rows (a part read in chunks knows its size up front).
    fn reserve_total(&mut self, total: usize) {
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
#[derive(Debug, Clone)]
pub enum Timestamps {
    Int(Vec<i64>),
    Float(Vec<f64>),
    Absent,
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
    /// `group_starts[g]..group_starts[g + 1]` are the rows of group `g`; len = groups + 1.
    pub(crate) group_starts: Vec<u32>,
    pub(crate) ts: Timestamps,
    pub(crate) columns: HashMap<String, Col>,
    /// Whether the input was already ordered by (group, timestamp).
    pub(crate) was_sorted: bool,
}

fn dtype_err(column: &str, dtype: &DataType) -> EngineError {
    EngineError::UnsupportedType { column: column.to_string(), dtype: dtype.to_string() }
}

fn polars_err(column: &str, e: PolarsError) -> EngineError {
    EngineError::InvalidData { column: column.to_string(), problem: e.to_string() }
}

fn series<'a>(df: &'a DataFrame, name: &str) -> Result<&'a Series, EngineError> {
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

/// Appends a column decoded to Parquet dictionary indices straight to a string accumulator:
/// each distinct dictionary value gets the accumulator's code for it (a writer may repeat a
/// value), then one table lookup per row — no string is touched per row and no per-chunk
/// buffer is made. Null rows (or indices of a null value) get `NULL_CODE`.
fn append_dictionary(
    codes: &mut Codes,
    dict: &mut Vec<String>,
    arrays: &[DictionaryArray<u32>],
    name: &str,
) -> Result<(), EngineError> {
    for arr in arrays {
        let Some(values) = arr.values().as_any().downcast_ref::<Utf8ViewArray>() else {
            return Err(EngineError::InvalidData {
                column: name.to_string(),
                problem: format!("dictionary values of type {:?}, strings expected", arr.values().dtype()),
            });
        };
        let mut index: HashMap<&str, u32> = dict.iter().enumerate().map(|(i, s)| (s.as_str(), i as u32)).collect();
        let mut added: Vec<&str> = Vec::new();
        let table: Vec<u32> = (0..values.len())
            .map(|i| {
                if !values.is_valid(i) {
                    return NULL_CODE;
                }
                let v = values.value(i);
                *index.entry(v).or_insert_with(|| {
                    added.push(v);
                    (dict.len() + added.len() - 1) as u32
                })
            })
            .collect();
        drop(index);
        dict.extend(added.into_iter().map(str::to_string));
        codes.fit(dict.len(), codes.len() + arr.len());
        let code = |k: u32| table.get(k as usize).copied().unwrap_or(NULL_CODE);
        let keys = arr.keys();
        match keys.validity() {
            Some(valid) if valid.unset_bits() > 0 => codes
                .extend(keys.values().iter().zip(valid.iter()).map(|(&k, ok)| if ok { code(k) } else { NULL_CODE })),
            _ => codes.extend(keys.values().iter().map(|&k| code(k))),
        }
    }
    Ok(())
}

/// One column of a chunk pushed with [`FrameBuilder::push_columns`].
#[derive(Debug)]
pub enum ChunkColumn {
    /// Any column as polars decoded it.
    Series(Series),
    /// A string column decoded to its Parquet dictionary indices (keys) and the row group's
    /// dictionary (values, strings): much cheaper than one string view per row. Not accepted
    /// for the group or timestamp column.
    Dictionary(Vec<DictionaryArray<u32>>),
}

impl ChunkColumn {
    fn len(&self) -> usize {
        match self {
            ChunkColumn::Series(s) => s.len(),
            ChunkColumn::Dictionary(a) => a.iter().map(|a| a.len()).sum(),
        }
    }

    fn as_ref(&self) -> ChunkRef<'_> {
        match self {
            ChunkColumn::Series(s) => ChunkRef::Series(s),
            ChunkColumn::Dictionary(a) => ChunkRef::Dictionary(a),
        }
    }
}

/// A chunk's column as the builder reads it.
#[derive(Clone, Copy)]
enum ChunkRef<'a> {
    Series(&'a Series),
    Dictionary(&'a [DictionaryArray<u32>]),
}

/// Appends a chunk's column to its accumulator (the first chunk creates it, sized for the
/// part). 64-bit numbers without nulls and dictionary indices go straight into the accumulator;
/// anything else is extracted first ([`extract`]) and then appended.
fn accumulate_chunk(slot: &mut Option<Col>, chunk: ChunkRef<'_>, name: &str, total: usize) -> Result<(), EngineError> {
    match chunk {
        ChunkRef::Dictionary(arrays) => {
            let acc = slot.get_or_insert_with(|| Col::Str { codes: Codes::with_capacity(total), dict: Vec::new() });
            match acc {
                Col::Str { codes, dict } => append_dictionary(codes, dict, arrays, name),
                other => Err(type_change(name, other.type_name(), "STRING")),
            }
        }
        ChunkRef::Series(s) if s.null_count() == 0 && matches!(s.dtype(), DataType::Float64 | DataType::Int64) => {
            let len_before = slot.as_ref().map_or(0, Col::len);
            let acc = slot.get_or_insert_with(|| match s.dtype() {
                DataType::Float64 => Col::Float { values: Vec::with_capacity(total) },
                _ => Col::Int { values: Vec::with_capacity(total), valid: None },
            });
            match (acc, s.dtype()) {
                (Col::Float { values }, DataType::Float64) => {
                    for arr in s.f64().map_err(|e| polars_err(name, e))?.downcast_iter() {
                        values.extend_from_slice(arr.values());
                    }
                }
                (Col::Int { values, valid }, DataType::Int64) => {
                    for arr in s.i64().map_err(|e| polars_err(name, e))?.downcast_iter() {
                        values.extend_from_slice(arr.values());
                    }
                    if let Some(m) = valid {
                        m.resize(len_before + s.len(), true);
                    }
                }
                (acc, _) => return acc.append(extract(name, s)?, name),
            }
            Ok(())
        }
        ChunkRef::Series(s) => accumulate(slot, extract(name, s)?, name, total),
    }
}

fn type_change(name: &str, before: &str, after: &str) -> EngineError {
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

/// The timestamp column in the engine's form (numeric, no nulls or NaN).
fn to_timestamps(timestamp_column: &str, col: Col) -> Result<Timestamps, EngineError> {
    Ok(match col {
        Col::Int { values, valid: None } => Timestamps::Int(values),
        Col::Float { values } if !values.iter().any(|v| v.is_nan()) => Timestamps::Float(values),
        Col::Int { .. } | Col::Float { .. } => {
            return Err(EngineError::InvalidData {
                column: timestamp_column.to_string(),
                problem: "the timestamp column has null or NaN values".to_string(),
            });
        }
        other => {
            return Err(EngineError::TypeMismatch {
                column: timestamp_column.to_string(),
                found: other.type_name().to_string(),
                usage: "as a timestamp (numeric required)".to_string(),
            });
        }
    })
}

/// Builds a [`Frame`] from a part delivered in row chunks, in order (e.g. one DataFrame per
/// Parquet row group): each chunk is converted and appended, so the decoded chunk's buffers
/// are freed (and reused by the allocator) before the next is read. Cheaper than decoding the
/// whole part first: fresh memory is what a cold load pays for most (docs/benchmarks.md).
#[derive(Debug)]
pub struct FrameBuilder {
    group_column: String,
    timestamp_column: Option<String>,
    total_rows: usize,
    keys: Keys,
    ts: Option<Col>,
    cols: Vec<(String, Option<Col>)>,
}

impl FrameBuilder {
    /// `timestamp_column: None` builds a frame without timestamps (see
    /// [`Frame::prepare_without_timestamps`]); `total_rows` is a capacity hint.
    pub fn new(group_column: &str, timestamp_column: Option<&str>, columns: &[String], total_rows: usize) -> Self {
        let mut cols: Vec<(String, Option<Col>)> = Vec::new();
        for c in columns {
            if !cols.iter().any(|(name, _)| name == c) {
                cols.push((c.clone(), None));
            }
        }
        FrameBuilder {
            group_column: group_column.to_string(),
            timestamp_column: timestamp_column.map(str::to_string),
            total_rows,
            keys: Keys::Runs { run_keys: Vec::new(), starts: Vec::new(), rows: 0 },
            ts: None,
            cols,
        }
    }

    /// Converts and appends the next chunk of rows.
    pub fn push(&mut self, df: &DataFrame) -> Result<(), EngineError> {
        self.append(|name| series(df, name).map(ChunkRef::Series))
    }

    /// Converts and appends the next chunk of rows given column by column (every column the
    /// builder was made for, the group column and the timestamp column when it has one); all
    /// must have the same number of rows.
    pub fn push_columns(&mut self, columns: &[(&str, ChunkColumn)]) -> Result<(), EngineError> {
        let rows = columns.first().map_or(0, |(_, c)| c.len());
        if let Some((name, c)) = columns.iter().find(|(_, c)| c.len() != rows) {
            return Err(EngineError::InvalidData {
                column: name.to_string(),
                problem: format!("{} rows in a chunk of {rows}", c.len()),
            });
        }
        self.append(|name| {
            columns
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, c)| c.as_ref())
                .ok_or_else(|| EngineError::MissingColumn(name.to_string()))
        })
    }

    fn append<'a>(&mut self, get: impl Fn(&str) -> Result<ChunkRef<'a>, EngineError>) -> Result<(), EngineError> {
        let total = self.total_rows;
        let ChunkRef::Series(gs) = get(&self.group_column)? else {
            return Err(EngineError::InvalidData {
                column: self.group_column.clone(),
                problem: "the group column cannot be pushed as dictionary indices".to_string(),
            });
        };
        if gs.null_count() > 0 {
            return Err(EngineError::InvalidData {
                column: self.group_column.clone(),
                problem: format!("the group column has {} null values", gs.null_count()),
            });
        }
        self.keys.push(gs, &self.group_column, total)?;
        if let Some(t) = &self.timestamp_column {
            accumulate_chunk(&mut self.ts, get(t)?, t, total)?;
        }
        for (name, slot) in self.cols.iter_mut() {
            accumulate_chunk(slot, get(name)?, name, total)?;
        }
        Ok(())
    }

    /// The prepared frame: rows ordered by (group, timestamp), group runs found.
    pub fn finish(self) -> Result<Frame, EngineError> {
        let group_column = self.group_column;
        let ts = match (&self.timestamp_column, self.ts) {
            (None, _) => Timestamps::Absent,
            (Some(_), None) => Timestamps::Int(Vec::new()),
            (Some(name), Some(col)) => to_timestamps(name, col)?,
        };
        // Sorted i64 group ids arrive as runs: when the timestamps are in order within each
        // run too (parts written by our dataprep), the runs are the frame's groups as they are.
        let keys = match self.keys {
            Keys::Runs { run_keys, starts, rows } => {
                let in_order = match &ts {
                    Timestamps::Int(t) => runs_in_order(&starts, t),
                    Timestamps::Float(t) => runs_in_order(&starts, t),
                    Timestamps::Absent => true,
                };
                if in_order {
                    let mut group_starts = starts;
                    group_starts.push(rows as u32);
                    let columns = collect_columns(self.cols);
                    return Ok(Frame { n_rows: rows, group_starts, ts, columns, was_sorted: true });
                }
                GroupKeys::Int(expand_runs(&run_keys, &starts, rows))
            }
            Keys::Full(None) => GroupKeys::Int(Vec::new()),
            Keys::Full(Some(Col::Int { values, .. })) => GroupKeys::Int(values),
            Keys::Full(Some(Col::Str { codes, .. })) => GroupKeys::Codes(codes.to_u32()),
            Keys::Full(Some(other)) => {
                return Err(EngineError::TypeMismatch {
                    column: group_column,
                    found: other.type_name().to_string(),
                    usage: "as a group id (integer or string required)".to_string(),
                });
            }
        };
        let n_rows = match &keys {
            GroupKeys::Int(k) => k.len(),
            GroupKeys::Codes(k) => k.len(),
        };
        if n_rows > u32::MAX as usize - 1 {
            return Err(EngineError::InvalidData {
                column: group_column,
                problem: format!("a part may hold at most {} rows, this one has {n_rows}", u32::MAX - 1),
            });
        }
        let columns = collect_columns(self.cols);
        let mut frame = Frame { n_rows, group_starts: Vec::new(), ts, columns, was_sorted: true };
        let sorted = match &keys {
            GroupKeys::Int(k) => frame.is_sorted_by(k),
            // First-appearance codes are non-decreasing exactly when groups are contiguous.
            GroupKeys::Codes(k) => frame.is_sorted_by(k),
        };
        let keys = if sorted {
            keys
        } else {
            frame.was_sorted = false;
            let perm = match &keys {
                GroupKeys::Int(k) => frame.sort_permutation(k),
                GroupKeys::Codes(k) => frame.sort_permutation(k),
            };
            frame.apply(&perm);
            match keys {
                GroupKeys::Int(k) => GroupKeys::Int(perm.iter().map(|&i| k[i as usize]).collect()),
                GroupKeys::Codes(k) => GroupKeys::Codes(perm.iter().map(|&i| k[i as usize]).collect()),
            }
        };
        frame.group_starts = match &keys {
            GroupKeys::Int(k) => run_starts(k),
            GroupKeys::Codes(k) => run_starts(k),
        };
        Ok(frame)
    }
}

/// Group ids as they arrive: runs of equal i64 ids while they are non-decreasing (no per-row
/// copy), or every row's id once they are not (or are strings, or other integer types).
#[derive(Debug)]
enum Keys {
    Runs { run_keys: Vec<i64>, starts: Vec<u32>, rows: usize },
    Full(Option<Col>),
}

impl Keys {
    fn push(&mut self, gs: &Series, name: &str, total: usize) -> Result<(), EngineError> {
        if let Keys::Runs { run_keys, starts, rows } = self {
            if let Ok(ca) = gs.i64() {
                let (k0, s0) = (run_keys.len(), starts.len());
                let mut i = *rows;
                let mut ok = true;
                for arr in ca.downcast_iter() {
                    if !push_runs(arr.values(), i, run_keys, starts) {
                        ok = false;
                        break;
                    }
                    i += arr.len();
                }
                if ok {
                    *rows = i;
                    return Ok(());
                }
                run_keys.truncate(k0);
                starts.truncate(s0);
            }
            // Out of order, or not i64: every row's id from here on.
            let so_far = (*rows > 0).then(|| {
                let mut c = Col::Int { values: expand_runs(run_keys, starts, *rows), valid: None };
                c.reserve_total(total);
                c
            });
            *self = Keys::Full(so_far);
        }
        let Keys::Full(slot) = self else { unreachable!("converted above") };
        accumulate(slot, extract(name, gs)?, name, total)
    }
}

/// Appends the runs of equal ids in `v` (rows `first..`) when `v` continues the non-decreasing
/// order of the runs so far; returns false (having appended part of them) otherwise. The scan
/// is branch-free per row: run starts are written to a block buffer unconditionally and the
/// count advances only at a change, so short runs cost no mispredicted branches.
fn push_runs(v: &[i64], first: usize, run_keys: &mut Vec<i64>, starts: &mut Vec<u32>) -> bool {
    let Some(&v0) = v.first() else { return true };
    match run_keys.last() {
        Some(&last) if v0 < last => return false,
        Some(&last) if v0 == last => {}
        _ => {
            run_keys.push(v0);
            starts.push(first as u32);
        }
    }
    const BLOCK: usize = 1024;
    let mut found = [0u32; BLOCK];
    let mut descending = false;
    let mut j = 1;
    while j < v.len() {
        let end = (j + BLOCK).min(v.len());
        let mut n = 0;
        for k in j..end {
            found[n] = k as u32;
            n += usize::from(v[k] != v[k - 1]);
            descending |= v[k] < v[k - 1];
        }
        if descending {
            return false;
        }
        for &k in &found[..n] {
            run_keys.push(v[k as usize]);
            starts.push((first + k as usize) as u32);
        }
        j = end;
    }
    true
}

/// Appends a chunk's column to its accumulator (the first chunk becomes it, sized for the part).
fn accumulate(slot: &mut Option<Col>, col: Col, name: &str, total: usize) -> Result<(), EngineError> {
    match slot {
        Some(acc) => acc.append(col, name),
        None => {
            let mut col = col;
            col.reserve_total(total);
            *slot = Some(col);
            Ok(())
        }
    }
}

/// The accumulated columns by name (none when no chunk was pushed).
fn collect_columns(cols: Vec<(String, Option<Col>)>) -> HashMap<String, Col> {
    cols.into_iter().filter_map(|(name, c)| c.map(|c| (name, c))).collect()
}

/// Every row's group id from runs.
fn expand_runs(run_keys: &[i64], starts: &[u32], rows: usize) -> Vec<i64> {
    let mut out = Vec::with_capacity(rows);
    for (g, &k) in run_keys.iter().enumerate() {
        let end = starts.get(g + 1).map_or(rows, |&e| e as usize);
        out.resize(end, k);
    }
    out
}

/// Whether the timestamps are non-decreasing within every run.
fn runs_in_order<T: PartialOrd>(starts: &[u32], t: &[T]) -> bool {
    let ends = starts.iter().skip(1).map(|&e| e as usize).chain(std::iter::once(t.len()));
    starts.iter().zip(ends).all(|(&s, e)| t[s as usize..e].is_sorted())
}

/// Group ids: integers compare by value; strings by first-appearance code.
enum GroupKeys {
    Int(Vec<i64>),
    Codes(Vec<u32>),
}

impl Frame {
    /// Prepares `df` for queries that use `columns` (group and timestamp columns are added).
    pub fn prepare(
        df: &DataFrame,
        group_column: &str,
        timestamp_column: &str,
        columns: &[String],
    ) -> Result<Frame, EngineError> {
        Frame::prepare_with(df, group_column, Some(timestamp_column), columns)
    }

    /// Prepares `df` for queries that do not need timestamps ([`protocol::Query::needs_timestamps`]
    /// is false): the timestamp column is neither read nor checked, and rows of a group keep
    /// their order in the part. [`crate::execute`] refuses queries that need timestamps on it.
    pub fn prepare_without_timestamps(
        df: &DataFrame,
        group_column: &str,
        columns: &[String],
    ) -> Result<Frame, EngineError> {
        Frame::prepare_with(df, group_column, None, columns)
    }

    fn prepare_with(
        df: &DataFrame,
        group_column: &str,
        timestamp_column: Option<&str>,
        columns: &[String],
    ) -> Result<Frame, EngineError> {
        let mut b = FrameBuilder::new(group_column, timestamp_column, columns, df.height());
        b.push(df)?;
        b.finish()
    }

    fn is_sorted_by<K: Ord + Copy>(&self, keys: &[K]) -> bool {
        fn check<K: Ord + Copy, T: Copy>(keys: &[K], ts: &[T], le: impl Fn(T, T) -> bool) -> bool {
            keys.windows(2).zip(ts.windows(2)).all(|(k, t)| k[0] < k[1] || (k[0] == k[1] && le(t[0], t[1])))
        }
        match &self.ts {
            Timestamps::Int(t) => check(keys, t, |a, b| a <= b),
            Timestamps::Float(t) => check(keys, t, |a, b| a <= b),
            Timestamps::Absent => keys.windows(2).all(|k| k[0] <= k[1]),
        }
    }

    fn sort_permutation<K: Ord + Copy>(&self, keys: &[K]) -> Vec<u32> {
        let mut perm: Vec<u32> = (0..self.n_rows as u32).collect();
        match &self.ts {
            Timestamps::Int(t) => perm.sort_unstable_by_key(|&i| (keys[i as usize], t[i as usize])),
            Timestamps::Float(t) => perm.sort_unstable_by(|&a, &b| {
                keys[a as usize].cmp(&keys[b as usize]).then(t[a as usize].total_cmp(&t[b as usize]))
            }),
            // Stable: rows of a group keep their order in the part.
            Timestamps::Absent => perm.sort_by_key(|&i| keys[i as usize]),
        }
        perm
    }

    fn apply(&mut self, perm: &[u32]) {
        self.ts = match &self.ts {
            Timestamps::Int(t) => Timestamps::Int(perm.iter().map(|&i| t[i as usize]).collect()),
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
        self.group_starts.len().saturating_sub(1)
    }
    /// Whether the input part was already ordered by (group, timestamp).
    pub fn was_sorted(&self) -> bool {
        self.was_sorted
    }
    /// The kind of the frame's timestamps (`None`: prepared without them).
    pub fn timestamp_kind(&self) -> Option<TimestampKind> {
        match self.ts {
            Timestamps::Int(_) => Some(TimestampKind::Int),
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

fn run_starts<K: PartialEq>(keys: &[K]) -> Vec<u32> {
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
        let ts = if self.has_timestamps() { self.n_rows * 8 } else { 0 };
        ts + self.group_starts.len() * 4 + cols
    }

    /// Whether the frame holds every one of `columns`.
    pub fn has_columns(&self, columns: &[String]) -> bool {
        columns.iter().all(|c| self.columns.contains_key(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn df(u: &[i64], ts: &[i64], v: &[i64]) -> DataFrame {
        DataFrame::new_infer_height(vec![
            Column::new("u".into(), u.to_vec()),
            Column::new("ts".into(), ts.to_vec()),
            Column::new("v".into(), v.to_vec()),
        ])
        .unwrap()
    }

    /// (group of each row, ts, v) in frame order.
    fn rows(f: &Frame) -> Vec<(usize, i64, i64)> {
        let (Timestamps::Int(ts), Some(Col::Int { values, .. })) = (&f.ts, f.columns.get("v")) else { panic!() };
        (0..f.n_groups())
            .flat_map(|g| (f.group_starts[g]..f.group_starts[g + 1]).map(move |r| (g, r as usize)))
            .map(|(g, r)| (g, ts[r], values[r]))
            .collect()
    }

    #[test]
    fn runs_expand_and_check_order() {
        assert_eq!(expand_runs(&[4, 7, 9], &[0, 2, 3], 5), vec![4, 4, 7, 9, 9]);
        assert_eq!(expand_runs(&[], &[], 0), Vec::<i64>::new());
        assert!(runs_in_order(&[0, 2], &[5, 6, 1, 1]));
        assert!(!runs_in_order(&[0, 2], &[5, 6, 2, 1]));
    }

    #[test]
    fn chunks_that_break_the_order_late_give_the_same_frame_as_one_chunk() {
        let cols = ["v".to_string()];
        let cases: [(&[i64], &[i64]); 3] = [
            // Sorted groups and times: kept as is.
            (&[1, 1, 2, 3, 3, 3], &[1, 2, 1, 1, 5, 9]),
            // Groups go back in the third chunk.
            (&[1, 1, 2, 3, 1, 2], &[1, 2, 1, 1, 0, 3]),
            // Sorted groups, times out of order within a group.
            (&[1, 1, 2, 2, 3, 3], &[2, 1, 1, 2, 9, 5]),
        ];
        for (u, ts) in cases {
            let v: Vec<i64> = (0..u.len() as i64).collect();
            let whole = df(u, ts, &v);
            let one = Frame::prepare(&whole, "u", "ts", &cols).unwrap();
            let mut b = FrameBuilder::new("u", Some("ts"), &cols, u.len());
            for (o, l) in [(0, 2), (2, 2), (4, 2)] {
                b.push(&whole.slice(o, l)).unwrap();
            }
            let chunked = b.finish().unwrap();
            assert_eq!(rows(&chunked), rows(&one), "{u:?} {ts:?}");
            assert_eq!(chunked.was_sorted(), one.was_sorted());
            let sorted =
                u.windows(2).all(|w| w[0] <= w[1]) && (0..u.len() - 1).all(|i| u[i] != u[i + 1] || ts[i] <= ts[i + 1]);
            assert_eq!(one.was_sorted(), sorted);
        }
    }
}
