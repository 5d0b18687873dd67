//! The engine's columnar form of a part: rows ordered by (group, timestamp), group runs as
//! offsets, and typed column buffers that kernels can scan without per-row dispatch.

use crate::EngineError;
use hashbrown::HashMap;
use polars::prelude::*;

/// A column of the frame, in row order of the frame.
#[derive(Debug, Clone)]
pub enum Col {
    /// Integers (all widths) as i64; `valid[i] == false` marks a null (None when no nulls).
    Int { values: Vec<i64>, valid: Option<Vec<bool>> },
    /// Floats as f64; nulls are NaN (SPEC: NaN is treated as null).
    Float { values: Vec<f64> },
    /// 0 = false, 1 = true, 2 = null.
    Bool { values: Vec<u8> },
    /// Dictionary-encoded strings; `NULL_CODE` marks a null.
    Str { codes: Vec<u32>, dict: Vec<String> },
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
            Col::Str { codes, dict } => Col::Str { codes: take(codes, perm), dict: dict.clone() },
        }
    }
}

/// Timestamps in frame row order: integers stay exact; floats are f64.
#[derive(Debug, Clone)]
pub enum Timestamps {
    Int(Vec<i64>),
    Float(Vec<f64>),
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

fn encode_strings<'a>(iter: impl Iterator<Item = Option<&'a str>>, len: usize) -> (Vec<u32>, Vec<String>) {
    let mut map: HashMap<&'a str, u32> = HashMap::new();
    let mut dict: Vec<String> = Vec::new();
    let mut codes = Vec::with_capacity(len);
    for v in iter {
        codes.push(match v {
            None => NULL_CODE,
            Some(s) => *map.entry(s).or_insert_with(|| {
                dict.push(s.to_string());
                (dict.len() - 1) as u32
            }),
        });
    }
    (codes, dict)
}

/// Dense codes for a categorical column from its category ids (a cheap integer hash per row
/// instead of materialising and hashing every string).
fn encode_category_ids<'a>(
    ids: impl Iterator<Item = Option<u32>>,
    len: usize,
    lookup: impl Fn(u32) -> Option<&'a str>,
) -> (Vec<u32>, Vec<String>) {
    let mut map: HashMap<u32, u32> = HashMap::new();
    let mut dict: Vec<String> = Vec::new();
    let mut codes = Vec::with_capacity(len);
    for id in ids {
        codes.push(match id {
            None => NULL_CODE,
            Some(id) => *map.entry(id).or_insert_with(|| {
                dict.push(lookup(id).unwrap_or_default().to_string());
                (dict.len() - 1) as u32
            }),
        });
    }
    (codes, dict)
}

fn extract_categorical(s: &Series) -> Option<Col> {
    let n = s.len();
    let (codes, dict) = if let Ok(ca) = s.cat32() {
        let m = ca.get_mapping();
        encode_category_ids(ca.physical().iter(), n, |id| m.cat_to_str(id))
    } else if let Ok(ca) = s.cat16() {
        let m = ca.get_mapping();
        encode_category_ids(ca.physical().iter().map(|v| v.map(u32::from)), n, |id| m.cat_to_str(id))
    } else if let Ok(ca) = s.cat8() {
        let m = ca.get_mapping();
        encode_category_ids(ca.physical().iter().map(|v| v.map(u32::from)), n, |id| m.cat_to_str(id))
    } else {
        return None;
    };
    Some(Col::Str { codes, dict })
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
    let (codes, dict) = encode_strings(ca.iter(), ca.len());
    Ok(Col::Str { codes, dict })
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
        let n_rows = df.height();
        if n_rows > u32::MAX as usize - 1 {
            return Err(EngineError::InvalidData {
                column: group_column.to_string(),
                problem: format!("a part may hold at most {} rows, this one has {n_rows}", u32::MAX - 1),
            });
        }
        let gs = series(df, group_column)?;
        if gs.null_count() > 0 {
            return Err(EngineError::InvalidData {
                column: group_column.to_string(),
                problem: format!("the group column has {} null values", gs.null_count()),
            });
        }
        let keys = match extract(group_column, gs)? {
            Col::Int { values, .. } => GroupKeys::Int(values),
            Col::Str { codes, .. } => GroupKeys::Codes(codes),
            other => {
                return Err(EngineError::TypeMismatch {
                    column: group_column.to_string(),
                    found: other.type_name().to_string(),
                    usage: "as a group id (integer or string required)".to_string(),
                });
            }
        };
        let tss = series(df, timestamp_column)?;
        let ts = match extract(timestamp_column, tss)? {
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
        };
        // Referenced columns (the group and timestamp columns too, when a query filters or
        // aggregates on them) in the engine's form.
        let mut cols = HashMap::new();
        for c in columns {
            if !cols.contains_key(c) {
                cols.insert(c.clone(), extract(c, series(df, c)?)?);
            }
        }
        let mut frame = Frame { n_rows, group_starts: Vec::new(), ts, columns: cols, was_sorted: true };
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

    fn is_sorted_by<K: Ord + Copy>(&self, keys: &[K]) -> bool {
        fn check<K: Ord + Copy, T: Copy>(keys: &[K], ts: &[T], le: impl Fn(T, T) -> bool) -> bool {
            keys.windows(2).zip(ts.windows(2)).all(|(k, t)| k[0] < k[1] || (k[0] == k[1] && le(t[0], t[1])))
        }
        match &self.ts {
            Timestamps::Int(t) => check(keys, t, |a, b| a <= b),
            Timestamps::Float(t) => check(keys, t, |a, b| a <= b),
        }
    }

    fn sort_permutation<K: Ord + Copy>(&self, keys: &[K]) -> Vec<u32> {
        let mut perm: Vec<u32> = (0..self.n_rows as u32).collect();
        match &self.ts {
            Timestamps::Int(t) => perm.sort_unstable_by_key(|&i| (keys[i as usize], t[i as usize])),
            Timestamps::Float(t) => perm.sort_unstable_by(|&a, &b| {
                keys[a as usize].cmp(&keys[b as usize]).then(t[a as usize].total_cmp(&t[b as usize]))
            }),
        }
        perm
    }

    fn apply(&mut self, perm: &[u32]) {
        self.ts = match &self.ts {
            Timestamps::Int(t) => Timestamps::Int(perm.iter().map(|&i| t[i as usize]).collect()),
            Timestamps::Float(t) => Timestamps::Float(perm.iter().map(|&i| t[i as usize]).collect()),
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
    pub fn timestamp_kind(&self) -> TimestampKind {
        match self.ts {
            Timestamps::Int(_) => TimestampKind::Int,
            Timestamps::Float(_) => TimestampKind::Float,
        }
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
                Col::Str { codes, dict } => codes.len() * 4 + dict.iter().map(|s| s.len() + 24).sum::<usize>(),
            })
            .sum();
        self.n_rows * 8 + self.group_starts.len() * 4 + cols
    }

    /// Whether the frame holds every one of `columns`.
    pub fn has_columns(&self, columns: &[String]) -> bool {
        columns.iter().all(|c| self.columns.contains_key(c))
    }
}
