//! Validation and expansion of aggregations (query, step and end scopes).

use super::{Validator, index, is_identifier, join};
use crate::error::ErrorKind;
use crate::query::*;
use serde_json::Value;
use std::collections::HashMap;

impl Validator<'_> {
    pub(super) fn aggregations(&mut self, v: &Value, path: &str) -> Option<Vec<Aggregation>> {
        let arr = self.array(v, path)?;
        let mut out = Vec::new();
        let mut names: Vec<(Option<String>, usize)> = Vec::new();
        let n_errors = self.errors.len();
        for (i, a) in arr.iter().enumerate() {
            let apath = index(path, i);
            let Some(m) = self.object(a, &apath, &["column", "type", "name", "otherColumn", "top"]) else {
                continue;
            };
            let column = match m.get("column") {
                Some(c) => self.string(c, &join(&apath, "column")),
                None => {
                    self.err(ErrorKind::Schema, &apath, "an aggregation needs a 'column'");
                    None
                }
            };
            let agg_type = match m.get("type") {
                None => Some(None),
                Some(t) => {
                    let tp = join(&apath, "type");
                    self.string(t, &tp).and_then(|s| match AggType::parse(s) {
                        Some(t) => Some(Some(t)),
                        None => {
                            self.err(
                                ErrorKind::Schema,
                                &tp,
                                format!(
                                    "unknown aggregation type '{s}' (one of {})",
                                    AggType::ALL.map(AggType::as_str).join(", ")
                                ),
                            );
                            None
                        }
                    })
                }
            };
            let name = m.get("name").and_then(|n| {
                let np = join(&apath, "name");
                let s = self.string(n, &np)?;
                if !is_identifier(s) {
                    self.err(ErrorKind::Schema, &np, format!("Invalid identifier name '{s}'"));
                    return None;
                }
                Some(s.to_string())
            });
            let top = m.get("top").and_then(|t| {
                let tp = join(&apath, "top");
                match t.as_u64() {
                    Some(n) if (1..=u64::from(MAX_TOP)).contains(&n) => Some(n as u32),
                    _ => {
                        self.err(ErrorKind::Schema, &tp, format!("'top' is an integer from 1 to {MAX_TOP}"));
                        None
                    }
                }
            });
            let other = m.get("otherColumn").and_then(|o| self.string(o, &join(&apath, "otherColumn")));
            let (Some(column), Some(agg_type)) = (column, agg_type) else {
                continue;
            };
            self.check_agg_column(column, &join(&apath, "column"));
            match agg_type {
                None => {
                    if name.is_some() {
                        self.err(
                            ErrorKind::Schema,
                            &join(&apath, "name"),
                            "an aggregation without 'type' expands into multiple default aggregations, and thus a name attribute is not supported",
                        );
                    }
                    if other.is_some() {
                        self.err(
                            ErrorKind::Schema,
                            &join(&apath, "otherColumn"),
                            "other column is not relevant but was given",
                        );
                    }
                    for t in [AggType::Count, AggType::CountPerValue, AggType::GroupsPerValue] {
                        out.push(Aggregation {
                            column: column.to_string(),
                            agg_type: t,
                            name: None,
                            other_column: None,
                            top: t.is_per_value().then_some(top.unwrap_or(DEFAULT_TOP)),
                        });
                    }
                }
                Some(t) => {
                    let op = join(&apath, "otherColumn");
                    match (t.needs_other_column(), other) {
                        (true, None) => self.err(
                            ErrorKind::Schema,
                            &apath,
                            format!("other column name is required for '{}' but was not found", t.as_str()),
                        ),
                        (false, Some(_)) => {
                            self.err(ErrorKind::Schema, &op, "other column is not relevant but was given")
                        }
                        (true, Some(o)) => self.check_other_column(o, &op),
                        (false, None) => {}
                    }
                    if t == AggType::Count && top.is_some() {
                        self.err(
                            ErrorKind::Schema,
                            &join(&apath, "top"),
                            "'top' does not apply to a 'count' aggregation",
                        );
                    }
                    names.push((name.clone(), out.len()));
                    out.push(Aggregation {
                        column: column.to_string(),
                        agg_type: t,
                        name,
                        other_column: other.map(str::to_string),
                        top: t.is_per_value().then_some(top.unwrap_or(DEFAULT_TOP)),
                    });
                }
            }
        }
        // Names are unique per scope; report at the source index.
        let mut seen: HashMap<String, ()> = HashMap::new();
        for (i, a) in arr.iter().enumerate() {
            if let Some(n) = a.get("name").and_then(Value::as_str)
                && seen.insert(n.to_ascii_lowercase(), ()).is_some()
            {
                self.err(
                    ErrorKind::Schema,
                    &join(&index(path, i), "name"),
                    format!("Identifier name '{n}' is not unique in scope '{path}'"),
                );
            }
        }
        (self.errors.len() == n_errors).then_some(out)
    }

    fn check_agg_column(&mut self, column: &str, path: &str) {
        if let Some(schema) = self.schema
            && schema.column_type(column).is_none()
        {
            self.err(ErrorKind::DatasetMismatch, path, format!("Column '{column}' not in dataset"));
        }
    }

    fn check_other_column(&mut self, column: &str, path: &str) {
        if let Some(schema) = self.schema {
            match schema.column_type(column) {
                None => self.err(ErrorKind::DatasetMismatch, path, format!("Column '{column}' not in dataset")),
                Some(t) if !t.is_numeric() => self.err(
                    ErrorKind::TypeMismatch,
                    path,
                    format!("other column '{column}' must be numeric, found {}", t.as_str()),
                ),
                _ => {}
            }
        }
    }
}
