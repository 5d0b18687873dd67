//! Validation of row filters and filter sets (`filter`, `filters`, `filtersRelation`).

use super::REGEX_SIZE_LIMIT;
use super::{Validator, index, join, json_type};
use crate::error::ErrorKind;
use crate::query::*;
use crate::schema::ColumnType;
use serde_json::{Map, Value};

impl Validator<'_> {
    /// `filter` xor `filters` (+ optional `filtersRelation`) of a condition or step.
    pub(super) fn filter_set(&mut self, m: &Map<String, Value>, path: &str, is_condition: bool) -> Option<FilterSet> {
        match (m.get("filter"), m.get("filters")) {
            (Some(_), Some(_)) => {
                self.err(ErrorKind::Schema, path, "give either 'filter' or 'filters', not both");
                None
            }
            (None, None) => {
                let what = if is_condition {
                    "a condition needs one of 'filter', 'filters' or 'sequence'"
                } else {
                    "a step needs 'filter' or 'filters'"
                };
                self.err(ErrorKind::Schema, path, what);
                None
            }
            (Some(f), None) => {
                if m.contains_key("filtersRelation") {
                    self.err(ErrorKind::Schema, &join(path, "filtersRelation"), "'filtersRelation' needs 'filters'");
                }
                self.filter(f, &join(path, "filter")).map(FilterSet::Single)
            }
            (None, Some(fs)) => {
                let fpath = join(path, "filters");
                let any = match m.get("filtersRelation") {
                    None => Some(false),
                    Some(r) => {
                        let rp = join(path, "filtersRelation");
                        match self.string(r, &rp).map(|s| s.trim().to_ascii_lowercase()) {
                            Some(s) if s == "and" || s == "&" || s == "&&" => Some(false),
                            Some(s) if s == "or" || s == "|" || s == "||" => Some(true),
                            Some(s) => {
                                self.err(
                                    ErrorKind::Schema,
                                    &rp,
                                    format!("filtersRelation must be 'and' or 'or', not '{s}'"),
                                );
                                None
                            }
                            None => None,
                        }
                    }
                };
                let arr = self.array(fs, &fpath)?;
                if arr.is_empty() {
                    self.err(ErrorKind::Schema, &fpath, "'filters' needs at least one filter");
                    return None;
                }
                let mut filters = Vec::new();
                for (i, f) in arr.iter().enumerate() {
                    if let Some(f) = self.filter(f, &index(&fpath, i)) {
                        filters.push(f);
                    }
                }
                (filters.len() == arr.len()).then_some(FilterSet::Multi { filters, any: any? })
            }
        }
    }

    pub(super) fn filter(&mut self, v: &Value, path: &str) -> Option<Filter> {
        let (col_v, op_v, val_v, col_p, op_p, val_p) = match v {
            Value::Array(a) => {
                if a.len() != 3 {
                    self.err(
                        ErrorKind::Schema,
                        path,
                        format!("a shorthand filter is [column, op, value], found {} items", a.len()),
                    );
                    return None;
                }
                (&a[0], &a[1], &a[2], index(path, 0), index(path, 1), index(path, 2))
            }
            Value::Object(_) => {
                let m = self.object(v, path, &["column", "op", "value"])?;
                let mut missing = false;
                for k in ["column", "op", "value"] {
                    if !m.contains_key(k) {
                        self.err(ErrorKind::Schema, path, format!("filter is missing '{k}'"));
                        missing = true;
                    }
                }
                if missing {
                    return None;
                }
                (&m["column"], &m["op"], &m["value"], join(path, "column"), join(path, "op"), join(path, "value"))
            }
            _ => {
                self.err(
                    ErrorKind::Schema,
                    path,
                    format!("a filter is an object or a [column, op, value] array, found {}", json_type(v)),
                );
                return None;
            }
        };
        let column = self.string(col_v, &col_p);
        let op = self.string(op_v, &op_p).and_then(|s| {
            let op = Op::parse(s);
            if op.is_none() {
                self.err(
                    ErrorKind::Schema,
                    &op_p,
                    format!("unknown operator '{s}' (one of {})", Op::ALL.map(Op::as_str).join(", ")),
                );
            }
            op
        });
        let value = match val_v {
            Value::Number(n) => Some(Literal::from_number(n)),
            Value::String(s) => Some(Literal::Str(s.clone())),
            Value::Bool(b) => Some(Literal::Bool(*b)),
            other => {
                self.err(
                    ErrorKind::Schema,
                    &val_p,
                    format!("a filter value is a string, number or boolean, found {}", json_type(other)),
                );
                None
            }
        };
        let (column, op, value) = (column?, op?, value?);
        let n_errors = self.errors.len();
        // Checks that need no dataset.
        if op.is_string_only() && !matches!(value, Literal::Str(_)) {
            self.err(
                ErrorKind::TypeMismatch,
                &val_p,
                format!("operator '{}' needs a string value, found {}", op.as_str(), value.type_name()),
            );
        }
        if matches!(value, Literal::Bool(_)) && !matches!(op, Op::Eq | Op::Ne) {
            self.err(
                ErrorKind::TypeMismatch,
                &op_p,
                format!("operator '{}' is not applicable to a boolean value", op.as_str()),
            );
        }
        if let Literal::Float(x) = value
            && x.is_nan()
        {
            self.err(ErrorKind::Schema, &val_p, "filter value must not be NaN");
        }
        if let (Op::Regex, Literal::Str(p)) = (op, &value)
            && let Err(e) = regex::RegexBuilder::new(p).size_limit(REGEX_SIZE_LIMIT).build()
        {
            self.err(ErrorKind::Schema, &val_p, format!("invalid regex: {e}"));
        }
        if let Some(schema) = self.schema {
            match schema.column_type(column) {
                None => self.err(ErrorKind::DatasetMismatch, &col_p, format!("Column '{column}' not in dataset")),
                Some(ct) => {
                    let op_ok = match ct {
                        ColumnType::Int | ColumnType::Float => !op.is_string_only(),
                        ColumnType::Bool => matches!(op, Op::Eq | Op::Ne),
                        ColumnType::String => !matches!(op, Op::Gt | Op::Ge | Op::Lt | Op::Le),
                    };
                    if !op_ok {
                        self.err(
                            ErrorKind::TypeMismatch,
                            &op_p,
                            format!(
                                "Operator '{}' is not applicable for column '{column}' of type {}",
                                op.as_str(),
                                ct.as_str()
                            ),
                        );
                    }
                    let value_ok = match ct {
                        ColumnType::Int => value.is_integer(),
                        ColumnType::Float => value.is_number(),
                        ColumnType::Bool => matches!(value, Literal::Bool(_)),
                        ColumnType::String => matches!(value, Literal::Str(_)),
                    };
                    if !value_ok {
                        self.err(
                            ErrorKind::TypeMismatch,
                            &val_p,
                            format!(
                                "Value {value} (type {}) is not applicable for column '{column}' of type {}",
                                value.type_name(),
                                ct.as_str()
                            ),
                        );
                    }
                }
            }
        }
        (self.errors.len() == n_errors).then(|| Filter { column: column.to_string(), op, value })
    }
}
