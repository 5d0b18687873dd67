//! Building a [`Frame`] chunk by chunk (one Parquet row group at a time): columns are converted
//! and appended into the part's buffers as they arrive, group ids kept as runs while sorted. A
//! reader may also append a 64-bit column's values in place (`int_sink`/`float_sink`, then
//! [`ChunkColumn::Appended`]); the row count is checked against the chunk's.
//! `Frame::prepare` (a whole DataFrame as one chunk) is here too, so that the frame module
//! holds the frame's types and the builder depends on them, not the other way round.

use crate::EngineError;
use crate::codes::Codes;
use crate::frame::{
    Col, Frame, NULL_CODE, Timestamps, extract, merge_dictionary, polars_err, ranges_of, run_starts, series,
    type_change,
};
use hashbrown::HashMap;
use polars::prelude::*;
use polars_arrow::array::{Array as _, DictionaryArray, Utf8ViewArray};

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
        let table = merge_dictionary(dict, (0..values.len()).map(|i| values.is_valid(i).then(|| values.value(i))));
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
    /// A 64-bit integer column as runs: `values[i]` repeated `lengths[i]` times (e.g. read from
    /// a Parquet dictionary's run-length-encoded indices). For the group column of a sorted
    /// part this costs nothing per row; elsewhere the runs are expanded.
    Runs { values: Vec<i64>, lengths: Vec<u32> },
    /// The group column as the lengths of its groups, each a group of its own, distinct from
    /// every group pushed before or after (e.g. the runs of a sorted group column whose ids the
    /// caller did not read: the engine never needs an id, only which rows belong together).
    /// A part's group column is pushed either always this way or never. Zero lengths are
    /// skipped. Only for the group column.
    Groups(Vec<u32>),
    /// A 64-bit number column (not the group column) whose chunk of this many rows the caller
    /// already appended in place, through [`FrameBuilder::int_sink`] or
    /// [`FrameBuilder::float_sink`]: no intermediate buffer (e.g. a Parquet PLAIN page's values
    /// copied straight from the decompressed page).
    Appended(usize),
}

impl ChunkColumn {
    fn len(&self) -> usize {
        match self {
            ChunkColumn::Series(s) => s.len(),
            ChunkColumn::Dictionary(a) => a.iter().map(|a| a.len()).sum(),
            ChunkColumn::Runs { lengths, .. } | ChunkColumn::Groups(lengths) => {
                lengths.iter().map(|&n| n as usize).sum()
            }
            ChunkColumn::Appended(n) => *n,
        }
    }

    fn as_ref(&self) -> ChunkRef<'_> {
        match self {
            ChunkColumn::Series(s) => ChunkRef::Series(s),
            ChunkColumn::Dictionary(a) => ChunkRef::Dictionary(a),
            ChunkColumn::Runs { values, lengths } => ChunkRef::Runs(values, lengths),
            ChunkColumn::Groups(lengths) => ChunkRef::Groups(lengths),
            ChunkColumn::Appended(_) => ChunkRef::Appended,
        }
    }
}

/// A chunk's column as the builder reads it.
#[derive(Clone, Copy)]
enum ChunkRef<'a> {
    Series(&'a Series),
    Dictionary(&'a [DictionaryArray<u32>]),
    Runs(&'a [i64], &'a [u32]),
    Groups(&'a [u32]),
    /// Already in the accumulator (the row count is checked against it).
    Appended,
}

/// Appends a chunk's column to its accumulator (the first chunk creates it, sized for the
/// part). 64-bit numbers without nulls and dictionary indices go straight into the accumulator;
/// anything else is extracted first ([`extract`]) and then appended.
fn accumulate_chunk(
    slot: &mut Option<Col>,
    chunk: ChunkRef<'_>,
    name: &str,
    total: usize,
    rows_after: usize,
) -> Result<(), EngineError> {
    match chunk {
        ChunkRef::Appended => {
            let held = match slot {
                Some(Col::Int { values, valid: None }) => values.len(),
                Some(Col::Float { values }) => values.len(),
                Some(Col::Str { codes, .. }) => codes.len(),
                _ => usize::MAX,
            };
            if held != rows_after {
                return Err(EngineError::InvalidData {
                    column: name.to_string(),
                    problem: format!("appended in place up to {held} rows, the chunk ends at row {rows_after}"),
                });
            }
            Ok(())
        }
        ChunkRef::Dictionary(arrays) => {
            let acc = slot.get_or_insert_with(|| Col::Str { codes: Codes::with_capacity(total), dict: Vec::new() });
            match acc {
                Col::Str { codes, dict } => append_dictionary(codes, dict, arrays, name),
                other => Err(type_change(name, other.type_name(), "STRING")),
            }
        }
        ChunkRef::Series(s) if s.null_count() == 0 && matches!(s.dtype(), DataType::Float64 | DataType::Int64) => {
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
                        m.resize(values.len(), true);
                    }
                }
                (acc, _) => return acc.append(extract(name, s)?, name),
            }
            Ok(())
        }
        ChunkRef::Series(s) => accumulate(slot, extract(name, s)?, name, total),
        ChunkRef::Runs(values, lengths) => accumulate(slot, expand_run_lengths(values, lengths), name, total),
        ChunkRef::Groups(_) => Err(EngineError::InvalidData {
            column: name.to_string(),
            problem: "only the group column can be pushed as group lengths".to_string(),
        }),
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

/// Appends a chunk's rows of a string column given as indices into the chunk's dictionary
/// ([`FrameBuilder::code_sink`]): one table lookup per row into the column's codes.
pub struct CodeSink<'a> {
    table: Vec<u32>,
    codes: &'a mut Codes,
}

impl CodeSink<'_> {
    /// `len` rows of dictionary index `index`; false (nothing appended) when it is not in the
    /// dictionary.
    pub fn push_run(&mut self, index: u32, len: usize) -> bool {
        let Some(&code) = self.table.get(index as usize) else { return false };
        self.codes.extend(std::iter::repeat_n(code, len));
        true
    }

    /// One row per index; false (nothing appended) when one is not in the dictionary.
    pub fn extend(&mut self, indices: &[u32]) -> bool {
        // One pass: an index past the dictionary is noted (its row gets the null code) and the
        // chunk's rows taken back.
        let (table, before) = (&self.table[..], self.codes.len());
        let mut outside = false;
        self.codes.extend(indices.iter().map(|&k| match table.get(k as usize) {
            Some(&c) => c,
            None => {
                outside = true;
                NULL_CODE
            }
        }));
        if outside {
            self.codes.truncate(before);
        }
        !outside
    }

    /// Rows appended to the column so far (all chunks).
    pub fn len(&self) -> usize {
        self.codes.len()
    }

    /// Whether the column has no rows yet.
    pub fn is_empty(&self) -> bool {
        self.codes.len() == 0
    }

    /// Drops rows past `len` (a chunk abandoned half-way).
    pub fn truncate(&mut self, len: usize) {
        self.codes.truncate(len);
    }
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
    /// Rows pushed so far.
    rows: usize,
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
            keys: Keys::Runs { ids: Some(Vec::new()), groups: Vec::new(), rows: 0 },
            ts: None,
            cols,
            rows: 0,
        }
    }

    /// The accumulator of 64-bit integer column `name` (the timestamp column or one of the
    /// columns, not the group column), for a caller that appends the next chunk's values in
    /// place and then pushes [`ChunkColumn::Appended`]. `None` when the column is unknown or
    /// already holds something else (another type, or nulls): push the chunk as usual then.
    pub fn int_sink(&mut self, name: &str) -> Option<&mut Vec<i64>> {
        let total = self.total_rows;
        match self.slot(name)?.get_or_insert_with(|| Col::Int { values: Vec::with_capacity(total), valid: None }) {
            Col::Int { values, valid: None } => Some(values),
            _ => None,
        }
    }

    /// As [`FrameBuilder::int_sink`], for a 64-bit float column.
    pub fn float_sink(&mut self, name: &str) -> Option<&mut Vec<f64>> {
        let total = self.total_rows;
        match self.slot(name)?.get_or_insert_with(|| Col::Float { values: Vec::with_capacity(total) }) {
            Col::Float { values } => Some(values),
            _ => None,
        }
    }

    /// The accumulator of string column `name` for a caller that appends the next chunk's rows
    /// as indices into that chunk's dictionary `values` (`None`: a null value) and then pushes
    /// [`ChunkColumn::Appended`]: e.g. a Parquet dictionary's run-length-encoded indices decoded
    /// straight into the column's codes, no per-row keys buffer. `rows` is the chunk's row count
    /// (for the codes' width). `None` when the column is unknown, is the timestamp column, or
    /// holds something else: push the chunk as usual then.
    pub fn code_sink<'a>(
        &mut self,
        name: &str,
        values: impl Iterator<Item = Option<&'a str>>,
        rows: usize,
    ) -> Option<CodeSink<'_>> {
        if self.timestamp_column.as_deref() == Some(name) {
            return None;
        }
        let total = self.total_rows;
        let slot = self.cols.iter_mut().find(|(n, _)| n == name).map(|(_, slot)| slot)?;
        match slot.get_or_insert_with(|| Col::Str { codes: Codes::with_capacity(total), dict: Vec::new() }) {
            Col::Str { codes, dict } => {
                let table = merge_dictionary(dict, values);
                codes.fit(dict.len(), codes.len() + rows);
                Some(CodeSink { table, codes })
            }
            _ => None,
        }
    }

    fn slot(&mut self, name: &str) -> Option<&mut Option<Col>> {
        if self.timestamp_column.as_deref() == Some(name) {
            return Some(&mut self.ts);
        }
        self.cols.iter_mut().find(|(n, _)| n == name).map(|(_, slot)| slot)
    }

    /// Converts and appends the next chunk of rows.
    pub fn push(&mut self, df: &DataFrame) -> Result<(), EngineError> {
        self.append(df.height(), |name| series(df, name).map(ChunkRef::Series))
    }

    /// Converts and appends the next chunk of rows given column by column (every column the
    /// builder was made for, the group column and the timestamp column when it has one); all
    /// must have the same number of rows.
    pub fn push_columns(&mut self, columns: &[(&str, ChunkColumn)]) -> Result<(), EngineError> {
        let rows = columns.first().map_or(0, |(_, c)| c.len());
        if let Some((name, _)) = columns
            .iter()
            .find(|(_, c)| matches!(c, ChunkColumn::Runs { values, lengths } if values.len() != lengths.len()))
        {
            return Err(EngineError::InvalidData {
                column: name.to_string(),
                problem: "runs with a different number of values and lengths".to_string(),
            });
        }
        if let Some((name, c)) = columns.iter().find(|(_, c)| c.len() != rows) {
            return Err(EngineError::InvalidData {
                column: name.to_string(),
                problem: format!("{} rows in a chunk of {rows}", c.len()),
            });
        }
        self.append(rows, |name| {
            columns
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, c)| c.as_ref())
                .ok_or_else(|| EngineError::MissingColumn(name.to_string()))
        })
    }

    fn append<'a>(
        &mut self,
        rows: usize,
        get: impl Fn(&str) -> Result<ChunkRef<'a>, EngineError>,
    ) -> Result<(), EngineError> {
        let total = self.total_rows;
        let rows_after = self.rows + rows;
        match get(&self.group_column)? {
            ChunkRef::Series(gs) => {
                if gs.null_count() > 0 {
                    return Err(EngineError::InvalidData {
                        column: self.group_column.clone(),
                        problem: format!("the group column has {} null values", gs.null_count()),
                    });
                }
                self.keys.push(gs, &self.group_column, total)?;
            }
            ChunkRef::Runs(values, lengths) => {
                self.keys.push_run_lengths(values, lengths, &self.group_column, total)?
            }
            ChunkRef::Groups(lengths) => self.keys.push_groups(lengths, &self.group_column)?,
            ChunkRef::Dictionary(_) | ChunkRef::Appended => {
                return Err(EngineError::InvalidData {
                    column: self.group_column.clone(),
                    problem: "the group column cannot be pushed as dictionary indices or appended in place".to_string(),
                });
            }
        }
        if let Some(t) = &self.timestamp_column {
            accumulate_chunk(&mut self.ts, get(t)?, t, total, rows_after)?;
        }
        for (name, slot) in self.cols.iter_mut() {
            accumulate_chunk(slot, get(name)?, name, total, rows_after)?;
        }
        self.rows = rows_after;
        Ok(())
    }

    /// The prepared frame: rows ordered by (group, timestamp), group runs found.
    pub fn finish(self) -> Result<Frame, EngineError> {
        let group_column = self.group_column;
        let (ts, ts_span) = match (&self.timestamp_column, self.ts) {
            (None, _) => (Timestamps::Absent, None),
            (Some(_), None) => (Timestamps::Int(Vec::new()), None),
            // Narrowed first, so that the order check below reads half the bytes.
            (Some(name), Some(col)) => to_timestamps(name, col)?.narrowed(),
        };
        // Sorted i64 group ids arrive as runs: when the timestamps are in order within each
        // run too (parts written by our dataprep), the runs are the frame's groups as they are.
        let keys = match self.keys {
            Keys::Runs { ids, groups, rows } => {
                let in_order = match &ts {
                    Timestamps::Int(t) => runs_in_order(&groups, t),
                    Timestamps::Offsets { offsets, .. } => runs_in_order(&groups, offsets),
                    Timestamps::Float(t) => runs_in_order(&groups, t),
                    Timestamps::Absent => true,
                };
                if in_order {
                    let columns = collect_columns(self.cols);
                    return Ok(Frame {
                        n_rows: rows,
                        groups,
                        group_index: Default::default(),
                        ts,
                        ts_span,
                        columns,
                        was_sorted: true,
                    });
                }
                GroupKeys::Int(expand_runs(ids.as_deref(), &groups, rows))
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
        let mut frame = Frame {
            n_rows,
            groups: Vec::new(),
            group_index: Default::default(),
            ts,
            ts_span,
            columns,
            was_sorted: true,
        };
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
        frame.groups = ranges_of(&match &keys {
            GroupKeys::Int(k) => run_starts(k),
            GroupKeys::Codes(k) => run_starts(k),
        });
        Ok(frame)
    }
}

/// Group ids as they arrive: runs of equal i64 ids while they are non-decreasing, kept as the
/// groups' row ranges (the frame's groups when nothing else is needed) with each one's id
/// (`ids`; `None` when the part's groups were pushed as lengths, [`ChunkColumn::Groups`]: their
/// ordinals stand in for ids); or every row's id once they are not (or are strings, or other
/// integer types). Invariant: `groups` are non-empty, contiguous from row 0, the last one ending
/// at `rows`.
#[derive(Debug)]
enum Keys {
    Runs { ids: Option<Vec<i64>>, groups: Vec<(u32, u32)>, rows: usize },
    Full(Option<Col>),
}

/// A part's group column pushed as lengths and as ids.
fn mixed_groups(name: &str) -> EngineError {
    EngineError::InvalidData {
        column: name.to_string(),
        problem: "the group column was pushed both as group lengths and as ids".to_string(),
    }
}

impl Keys {
    fn push(&mut self, gs: &Series, name: &str, total: usize) -> Result<(), EngineError> {
        if let Keys::Runs { ids: None, .. } = self {
            return Err(mixed_groups(name));
        }
        if let Keys::Runs { ids: Some(ids), groups, rows } = self
            && let Ok(ca) = gs.i64()
        {
            let (k0, g0, end0) = (ids.len(), groups.len(), groups.last().map(|g| g.1));
            let mut i = *rows;
            let mut ok = true;
            for arr in ca.downcast_iter() {
                if !push_runs(arr.values(), i, ids, groups) {
                    ok = false;
                    break;
                }
                i += arr.len();
            }
            if ok {
                *rows = i;
                return Ok(());
            }
            ids.truncate(k0);
            groups.truncate(g0);
            if let (Some(g), Some(end)) = (groups.last_mut(), end0) {
                g.1 = end;
            }
        }
        // Out of order, or not i64: every row's id from here on.
        accumulate(self.full(total), extract(name, gs)?, name, total)
    }

    /// Appends ids given as runs (`values[i]` × `lengths[i]`).
    fn push_run_lengths(
        &mut self,
        values: &[i64],
        lengths: &[u32],
        name: &str,
        total: usize,
    ) -> Result<(), EngineError> {
        if let Keys::Runs { ids: None, .. } = self {
            return Err(mixed_groups(name));
        }
        if let Keys::Runs { ids: Some(ids), groups, rows } = self {
            let continues = values.is_sorted() && values.first().is_none_or(|&v| ids.last().is_none_or(|&l| v >= l));
            if continues {
                // The last id and the row count in locals: one run per user on bounce-heavy
                // data, so this loop runs ~0.6 times per row.
                let (mut last, mut r) = (ids.last().copied(), *rows as u32);
                ids.reserve(values.len());
                groups.reserve(values.len());
                for (&v, &n) in values.iter().zip(lengths) {
                    if n == 0 {
                        continue;
                    }
                    if last == Some(v) {
                        if let Some(g) = groups.last_mut() {
                            g.1 += n;
                        }
                    } else {
                        ids.push(v);
                        groups.push((r, r + n));
                        last = Some(v);
                    }
                    r += n;
                }
                *rows = r as usize;
                return Ok(());
            }
        }
        accumulate(self.full(total), expand_run_lengths(values, lengths), name, total)
    }

    /// Appends groups given by their lengths ([`ChunkColumn::Groups`]): one range per group, no
    /// id kept.
    fn push_groups(&mut self, lengths: &[u32], name: &str) -> Result<(), EngineError> {
        match self {
            Keys::Runs { ids, groups, rows } if ids.as_ref().is_none_or(Vec::is_empty) => {
                *ids = None;
                let mut r = *rows as u32;
                groups.extend(lengths.iter().filter(|&&n| n > 0).map(|&n| {
                    r += n;
                    (r - n, r)
                }));
                *rows = r as usize;
                Ok(())
            }
            _ => Err(mixed_groups(name)),
        }
    }

    /// Switches to every row's id (the runs so far expanded) and returns the accumulator.
    fn full(&mut self, total: usize) -> &mut Option<Col> {
        if let Keys::Runs { ids, groups, rows } = self {
            let so_far = (*rows > 0).then(|| {
                let mut c = Col::Int { values: expand_runs(ids.as_deref(), groups, *rows), valid: None };
                c.reserve_total(total);
                c
            });
            *self = Keys::Full(so_far);
        }
        match self {
            Keys::Full(slot) => slot,
            Keys::Runs { .. } => unreachable!("converted above"),
        }
    }
}

/// Every row's value from (value, length) runs.
fn expand_run_lengths(values: &[i64], lengths: &[u32]) -> Col {
    let mut out = Vec::with_capacity(lengths.iter().map(|&n| n as usize).sum());
    for (&v, &n) in values.iter().zip(lengths) {
        out.resize(out.len() + n as usize, v);
    }
    Col::Int { values: out, valid: None }
}

/// Appends the runs of equal ids in `v` (rows `first..`) as groups when `v` continues the
/// non-decreasing order of the runs so far; returns false (having appended part of them, and
/// possibly extended the last group) otherwise. The scan is branch-free per row: run starts
/// are written to a block buffer unconditionally and the count advances only at a change, so
/// short runs cost no mispredicted branches.
fn push_runs(v: &[i64], first: usize, ids: &mut Vec<i64>, groups: &mut Vec<(u32, u32)>) -> bool {
    let Some(&v0) = v.first() else { return true };
    let end = (first + v.len()) as u32;
    match ids.last() {
        Some(&last) if v0 < last => return false,
        Some(&last) if v0 == last => {}
        _ => {
            ids.push(v0);
            groups.push((first as u32, first as u32));
        }
    }
    const BLOCK: usize = 1024;
    let mut found = [0u32; BLOCK];
    let mut descending = false;
    let mut j = 1;
    while j < v.len() {
        let block_end = (j + BLOCK).min(v.len());
        let mut n = 0;
        for k in j..block_end {
            found[n] = k as u32;
            n += usize::from(v[k] != v[k - 1]);
            descending |= v[k] < v[k - 1];
        }
        if descending {
            return false;
        }
        for &k in &found[..n] {
            let start = (first + k as usize) as u32;
            if let Some(g) = groups.last_mut() {
                g.1 = start;
            }
            ids.push(v[k as usize]);
            groups.push((start, start));
        }
        j = block_end;
    }
    if let Some(g) = groups.last_mut() {
        g.1 = end;
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

/// Every row's group id from the groups so far: its id, or its ordinal when the groups came
/// without ids (ordinals order them as their ids would: groups pushed as lengths are distinct
/// and, like runs, in order).
fn expand_runs(ids: Option<&[i64]>, groups: &[(u32, u32)], rows: usize) -> Vec<i64> {
    let mut out = Vec::with_capacity(rows);
    for (g, &(_, end)) in groups.iter().enumerate() {
        out.resize(end as usize, ids.map_or(g as i64, |ids| ids[g]));
    }
    out
}

/// Whether the timestamps are non-decreasing within every group.
fn runs_in_order<T: PartialOrd>(groups: &[(u32, u32)], t: &[T]) -> bool {
    groups.iter().all(|&(s, e)| t[s as usize..e as usize].is_sorted())
}

/// Group ids: integers compare by value; strings by first-appearance code.
enum GroupKeys {
    Int(Vec<i64>),
    Codes(Vec<u32>),
}

/// A whole DataFrame in one chunk: what the engine offers callers that hold one.
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
        let (Some(ts), Some(Col::Int { values, .. })) = (f.ts.as_i64(), f.columns.get("v")) else { panic!() };
        (0..f.n_groups())
            .flat_map(|g| (f.groups[g].0..f.groups[g].1).map(move |r| (g, r as usize)))
            .map(|(g, r)| (g, ts[r], values[r]))
            .collect()
    }

    #[test]
    fn runs_expand_and_check_order() {
        assert_eq!(expand_runs(Some(&[4, 7, 9]), &[(0, 2), (2, 3), (3, 5)], 5), vec![4, 4, 7, 9, 9]);
        assert_eq!(expand_runs(None, &[(0, 2), (2, 3), (3, 5)], 5), vec![0, 0, 1, 2, 2]);
        assert_eq!(expand_runs(Some(&[]), &[], 0), Vec::<i64>::new());
        assert!(runs_in_order(&[(0, 2), (2, 4)], &[5, 6, 1, 1]));
        assert!(!runs_in_order(&[(0, 2), (2, 4)], &[5, 6, 2, 1]));
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

    /// Runs of (value, length) in row order, as a run-length encoder would give them.
    fn run_lengths(u: &[i64]) -> (Vec<i64>, Vec<u32>) {
        let (mut values, mut lengths) = (Vec::new(), Vec::new());
        for &x in u {
            // Split long runs too (a Parquet page boundary may): the builder must merge them.
            if values.last() == Some(&x) && lengths.last() < Some(&2) {
                *lengths.last_mut().unwrap() += 1;
            } else {
                values.push(x);
                lengths.push(1);
            }
        }
        (values, lengths)
    }

    #[test]
    fn group_ids_pushed_as_runs_give_the_same_frame_as_every_rows_ids() {
        let cols = ["v".to_string()];
        let cases: [&[i64]; 4] = [&[1, 1, 1, 2, 3, 3], &[1, 1, 2, 3, 1, 2], &[5, 5, 5, 5, 5, 5], &[1, 2, 2, 2, 2, 3]];
        for u in cases {
            let ts: Vec<i64> = (0..u.len() as i64).map(|i| (i * 7) % 5).collect();
            let v: Vec<i64> = (0..u.len() as i64).collect();
            let whole = df(u, &ts, &v);
            let one = Frame::prepare(&whole, "u", "ts", &cols).unwrap();
            let mut b = FrameBuilder::new("u", Some("ts"), &cols, u.len());
            for (o, l) in [(0, 3), (3, 1), (4, 2)] {
                let (values, lengths) = run_lengths(&u[o..o + l]);
                let chunk = whole.slice(o as i64, l);
                let s = |n: &str| ChunkColumn::Series(chunk.column(n).unwrap().as_materialized_series().clone());
                b.push_columns(&[("u", ChunkColumn::Runs { values, lengths }), ("ts", s("ts")), ("v", s("v"))])
                    .unwrap();
            }
            let chunked = b.finish().unwrap();
            assert_eq!(rows(&chunked), rows(&one), "{u:?}");
            assert_eq!(chunked.n_groups(), one.n_groups(), "{u:?}");
        }
        let mut b = FrameBuilder::new("u", None, &[], 2);
        let bad = [("u", ChunkColumn::Runs { values: vec![1, 2], lengths: vec![2] })];
        assert!(matches!(b.push_columns(&bad), Err(EngineError::InvalidData { .. })));
    }

    /// Groups pushed as their lengths (chunks ending on group boundaries, as row groups of a
    /// part written by `frocket dataprep` do), times in order or not: the same frame as the ids;
    /// lengths and ids mixed in one part, or lengths for another column, are errors.
    #[test]
    fn groups_pushed_as_lengths_give_the_same_frame_as_their_ids() {
        let cols = ["v".to_string()];
        let cases: [(&[i64], &[i64]); 3] = [
            (&[1, 1, 2, 3, 3, 3], &[1, 2, 1, 1, 5, 9]),
            // Times out of order within the last group: the frame sorts it.
            (&[1, 1, 2, 3, 3, 3], &[1, 2, 1, 9, 5, 1]),
            (&[4, 4, 5, 6, 7, 7], &[3, 3, 0, 0, 2, 1]),
        ];
        for (u, ts) in cases {
            let v: Vec<i64> = (0..u.len() as i64).collect();
            let whole = df(u, ts, &v);
            let one = Frame::prepare(&whole, "u", "ts", &cols).unwrap();
            let mut b = FrameBuilder::new("u", Some("ts"), &cols, u.len());
            for (o, l) in [(0, 2), (2, 1), (3, 0), (3, 3)] {
                // One length per group of the chunk.
                let mut groups: Vec<u32> = Vec::new();
                let mut last = None;
                for &x in &u[o..o + l] {
                    if last == Some(x) {
                        *groups.last_mut().unwrap() += 1;
                    } else {
                        groups.push(1);
                    }
                    last = Some(x);
                }
                let chunk = whole.slice(o as i64, l);
                let s = |n: &str| ChunkColumn::Series(chunk.column(n).unwrap().as_materialized_series().clone());
                b.push_columns(&[("u", ChunkColumn::Groups(groups)), ("ts", s("ts")), ("v", s("v"))]).unwrap();
            }
            let chunked = b.finish().unwrap();
            assert_eq!(rows(&chunked), rows(&one), "{u:?} {ts:?}");
            assert_eq!((chunked.n_groups(), chunked.was_sorted()), (one.n_groups(), one.was_sorted()), "{u:?} {ts:?}");
        }
        let chunk = df(&[1, 2], &[1, 1], &[0, 1]);
        let s = |n: &str| ChunkColumn::Series(chunk.column(n).unwrap().as_materialized_series().clone());
        let groups = || ChunkColumn::Groups(vec![1, 1]);
        let mut b = FrameBuilder::new("u", Some("ts"), &cols, 4);
        b.push_columns(&[("u", groups()), ("ts", s("ts")), ("v", s("v"))]).unwrap();
        let ids = b.push_columns(&[("u", s("u")), ("ts", s("ts")), ("v", s("v"))]);
        assert!(matches!(ids, Err(EngineError::InvalidData { .. })), "{ids:?}");
        let mut b = FrameBuilder::new("u", Some("ts"), &cols, 4);
        b.push_columns(&[("u", s("u")), ("ts", s("ts")), ("v", s("v"))]).unwrap();
        let lengths = b.push_columns(&[("u", groups()), ("ts", s("ts")), ("v", s("v"))]);
        assert!(matches!(lengths, Err(EngineError::InvalidData { .. })), "{lengths:?}");
        let mut b = FrameBuilder::new("u", Some("ts"), &cols, 2);
        let other = b.push_columns(&[("u", s("u")), ("ts", s("ts")), ("v", groups())]);
        assert!(matches!(other, Err(EngineError::InvalidData { .. })), "{other:?}");
    }

    /// A string column appended as dictionary indices through the code sink, chunk by chunk
    /// (each chunk its own dictionary, a null value among them), mixed with a chunk pushed as a
    /// series: each row's string as pushed; an index past the dictionary appends nothing.
    #[test]
    fn strings_appended_as_dictionary_indices_read_back_as_pushed() {
        let cols = ["s".to_string()];
        let mut b = FrameBuilder::new("u", None, &cols, 9);
        let ids = |u: &[i64]| ChunkColumn::Series(Series::new("u".into(), u.to_vec()));
        let mut sink = b.code_sink("s", [Some("b"), None, Some("a")].into_iter(), 4).unwrap();
        assert!(sink.push_run(2, 2) && sink.extend(&[0, 1]));
        let before = sink.len();
        assert!(!sink.extend(&[0, 3]) && !sink.push_run(3, 1), "index 3 is past the dictionary");
        assert_eq!(sink.len(), before, "nothing appended for it");
        b.push_columns(&[("u", ids(&[1, 1, 2, 3])), ("s", ChunkColumn::Appended(4))]).unwrap();
        let series = Series::new("s".into(), [Some("c"), Some("a")]);
        b.push_columns(&[("u", ids(&[4, 5])), ("s", ChunkColumn::Series(series))]).unwrap();
        let mut sink = b.code_sink("s", [Some("a"), Some("d")].into_iter(), 3).unwrap();
        assert!(sink.extend(&[1, 0]) && sink.push_run(1, 1));
        b.push_columns(&[("u", ids(&[6, 7, 7])), ("s", ChunkColumn::Appended(3))]).unwrap();
        assert!(b.code_sink("u", std::iter::empty(), 0).is_none(), "not a string column here");
        let f = b.finish().unwrap();
        let Some(Col::Str { codes, dict }) = f.columns.get("s") else { panic!() };
        let got: Vec<Option<&str>> =
            (0..f.n_rows()).map(|r| codes.get(r).and_then(|c| dict.get(c as usize)).map(String::as_str)).collect();
        let want = [Some("a"), Some("a"), Some("b"), None, Some("c"), Some("a"), Some("d"), Some("a"), Some("d")];
        assert_eq!(got, want);
    }

    /// Timestamps and a column appended in place through the sinks, chunk by chunk, mixed
    /// with chunks pushed as series: the same frame as one whole DataFrame; a sink refuses a
    /// column holding another type, and an append that does not match the chunk is an error.
    #[test]
    fn columns_appended_in_place_give_the_same_frame_as_series() {
        let cols = ["v".to_string()];
        let u = [1, 1, 2, 3, 3, 3, 4];
        let ts: Vec<i64> = vec![5, 6, 1, 2, 2, 9, 0];
        let v: Vec<i64> = (0..u.len() as i64).map(|i| i * 3 - 4).collect();
        let whole = df(&u, &ts, &v);
        let one = Frame::prepare(&whole, "u", "ts", &cols).unwrap();
        let mut b = FrameBuilder::new("u", Some("ts"), &cols, u.len());
        for (o, l, in_place) in [(0, 3, true), (3, 2, false), (5, 2, true)] {
            let chunk = whole.slice(o as i64, l);
            let s = |n: &str| ChunkColumn::Series(chunk.column(n).unwrap().as_materialized_series().clone());
            let (t, x) = if in_place {
                b.int_sink("ts").unwrap().extend_from_slice(&ts[o..o + l]);
                b.int_sink("v").unwrap().extend_from_slice(&v[o..o + l]);
                (ChunkColumn::Appended(l), ChunkColumn::Appended(l))
            } else {
                (s("ts"), s("v"))
            };
            b.push_columns(&[("u", s("u")), ("ts", t), ("v", x)]).unwrap();
        }
        assert!(b.float_sink("v").is_none(), "v holds integers");
        assert!(b.int_sink("u").is_none() && b.int_sink("nope").is_none(), "not the group column, nor unknown ones");
        let chunked = b.finish().unwrap();
        assert_eq!(rows(&chunked), rows(&one));
        assert_eq!(chunked.n_groups(), one.n_groups());
        // A chunk that says its column was appended when it was not (or only partly).
        let mut b = FrameBuilder::new("u", Some("ts"), &cols, 4);
        let chunk = whole.slice(0, 2);
        let s = |n: &str| ChunkColumn::Series(chunk.column(n).unwrap().as_materialized_series().clone());
        b.int_sink("ts").unwrap().push(5);
        let bad = [("u", s("u")), ("ts", ChunkColumn::Appended(2)), ("v", s("v"))];
        assert!(matches!(b.push_columns(&bad), Err(EngineError::InvalidData { .. })));
    }
}
