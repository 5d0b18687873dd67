//! Describing a part for registration (docs/datasets.md "Registration"): checks of the group and timestamp
//! columns, column classification, numeric min/max, categorical detection with top values,
//! and the part's distinct group ids.

use crate::EngineError;
use crate::codes::{Code, with_codes};
use crate::frame::{Col, extract, query_type};
use polars::prelude::*;
use protocol::ColumnType;
use protocol::dataset::{ColumnAttrs, ColumnInfo, DatasetFullSchema};
use protocol::task::{GroupIds, PartDescription};
use std::collections::BTreeMap;

/// Thresholds of categorical detection (docs/datasets.md "Registration"; 0.5.3's defaults).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DescribeOptions {
    /// A plain string column is categorical when distinct/rows <= this (and it has a value).
    pub categorical_ratio: f64,
    /// How many top values to keep per categorical column.
    pub top_count: usize,
}

impl Default for DescribeOptions {
    fn default() -> Self {
        DescribeOptions { categorical_ratio: 0.1, top_count: 30 }
    }
}

fn invalid(column: &str, problem: impl Into<String>) -> EngineError {
    EngineError::InvalidData { column: column.to_string(), problem: problem.into() }
}

fn dtype_name(dt: &DataType) -> String {
    if dt.is_categorical() || dt.is_enum() { "cat".to_string() } else { dt.to_string() }
}

fn numeric_min_max(col: &Col) -> (Option<f64>, Option<f64>) {
    let fold = |it: &mut dyn Iterator<Item = f64>| {
        it.fold((None::<f64>, None::<f64>), |(lo, hi), x| {
            (Some(lo.map_or(x, |l| l.min(x))), Some(hi.map_or(x, |h| h.max(x))))
        })
    };
    match col {
        Col::Int { values, valid } => fold(
            &mut values
                .iter()
                .enumerate()
                .filter(|(i, _)| valid.as_ref().is_none_or(|v| v[*i]))
                .map(|(_, x)| *x as f64),
        ),
        Col::Float { values } => fold(&mut values.iter().copied().filter(|x| !x.is_nan())),
        _ => (None, None),
    }
}

fn string_attrs(col: &Col, source_categorical: bool, rows: usize, opts: &DescribeOptions) -> ColumnAttrs {
    let Col::Str { codes, dict } = col else {
        return ColumnAttrs::default();
    };
    let mut counts = vec![0u64; dict.len()];
    let mut non_null = 0u64;
    with_codes!(codes, codes => {
        for &c in codes {
            if !c.is_null() {
                counts[c.index()] += 1;
                non_null += 1;
            }
        }
    });
    let distinct = counts.iter().filter(|&&n| n > 0).count();
    let ratio = if rows == 0 { 0.0 } else { distinct as f64 / rows as f64 };
    let categorical = source_categorical || (distinct > 0 && ratio <= opts.categorical_ratio);
    let top = categorical.then(|| {
        let mut v: Vec<(usize, u64)> = counts.iter().copied().enumerate().filter(|(_, n)| *n > 0).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| dict[a.0].cmp(&dict[b.0])));
        v.into_iter().take(opts.top_count).map(|(i, n)| (dict[i].clone(), n as f64 / non_null.max(1) as f64)).collect()
    });
    ColumnAttrs {
        numeric_min: None,
        numeric_max: None,
        categorical,
        cat_top_values: top,
        cat_unique_ratio: Some(ratio),
    }
}

/// Checks and describes a whole part.
pub fn describe_part(
    df: &DataFrame,
    group_column: &str,
    timestamp_column: &str,
    return_group_ids: bool,
    opts: &DescribeOptions,
) -> Result<PartDescription, EngineError> {
    let rows = df.height();
    let get = |name: &str| {
        df.column(name).map(Column::as_materialized_series).map_err(|_| EngineError::MissingColumn(name.to_string()))
    };
    // Group column: integer or string, no nulls.
    let gs = get(group_column)?;
    if !(gs.dtype().is_integer() || gs.dtype().is_string() || gs.dtype().is_categorical()) {
        return Err(EngineError::TypeMismatch {
            column: group_column.into(),
            found: gs.dtype().to_string(),
            usage: "as the group id column (integer or string required)".into(),
        });
    }
    if gs.null_count() > 0 {
        return Err(invalid(group_column, format!("{} of {rows} group ids are null", gs.null_count())));
    }
    // Timestamp column: numeric, no nulls or NaN.
    let ts = get(timestamp_column)?;
    if !(ts.dtype().is_integer() || ts.dtype().is_float()) {
        return Err(EngineError::TypeMismatch {
            column: timestamp_column.into(),
            found: ts.dtype().to_string(),
            usage: "as the timestamp column (numeric required)".into(),
        });
    }
    let ts_col = extract(timestamp_column, ts)?;
    let bad_ts = match &ts_col {
        Col::Int { valid, .. } => valid.as_ref().map_or(0, |v| v.iter().filter(|b| !**b).count()),
        Col::Float { values } => values.iter().filter(|x| x.is_nan()).count(),
        _ => 0,
    };
    if bad_ts > 0 {
        return Err(invalid(timestamp_column, format!("{bad_ts} of {rows} timestamps are null or NaN")));
    }
    let mut columns = BTreeMap::new();
    let mut unsupported = BTreeMap::new();
    for c in df.columns() {
        let name = c.name().to_string();
        let dt = c.dtype();
        let Some(coltype) = query_type(dt) else {
            unsupported.insert(name, dt.to_string());
            continue;
        };
        let col = extract(&name, c.as_materialized_series())?;
        let colattrs = match coltype {
            ColumnType::Int | ColumnType::Float => {
                let (lo, hi) = numeric_min_max(&col);
                ColumnAttrs { numeric_min: lo, numeric_max: hi, ..ColumnAttrs::default() }
            }
            ColumnType::Bool => ColumnAttrs::default(),
            ColumnType::String => string_attrs(&col, dt.is_categorical() || dt.is_enum(), rows, opts),
        };
        columns.insert(name.clone(), ColumnInfo { name, dtype_name: dtype_name(dt), coltype, colattrs });
    }
    let group_ids = return_group_ids.then(|| match extract(group_column, gs) {
        Ok(Col::Int { mut values, .. }) => {
            values.sort_unstable();
            values.dedup();
            Ok(GroupIds::Int(values))
        }
        Ok(Col::Str { dict, .. }) => {
            let mut d = dict;
            d.sort_unstable();
            Ok(GroupIds::Str(d))
        }
        Ok(_) => Err(invalid(group_column, "unexpected group id type")),
        Err(e) => Err(e),
    });
    let group_ids = group_ids.transpose()?;
    Ok(PartDescription {
        schema: DatasetFullSchema {
            group_id_column: group_column.into(),
            timestamp_column: timestamp_column.into(),
            columns,
            unsupported_columns: unsupported,
        },
        rows: rows as u64,
        group_ids,
    })
}
