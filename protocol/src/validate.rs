//! Validation and expansion of queries: JSON (canonical 0.5.3 form, shorthand or verbose, or the
//! legacy seed form) → [`ValidQuery`], or every fault found, each with its kind and JSON path.
//!
//! Rules: docs/query-language.md ("Shape of a query", "Validation", and the section of each
//! construct). Without a dataset schema only the query itself is checked; with one, columns,
//! types, operators and values are checked too.

use crate::error::{ErrorKind, ValidationError, ValidationErrors};
use crate::insights::{Breakdown, StepTimings};
pub(crate) use crate::json_path::{index, join, json_type};
use crate::legacy;
use crate::query::*;
use crate::relation;
use crate::schema::{ColumnType, DatasetSchema};
use serde_json::{Map, Value};
use std::collections::HashMap;

mod aggregations;
mod filters;
mod targets;

pub use crate::numbers::{cmp_i128_f64, compare_numbers};

/// Largest compiled size of a regex filter (bytes of the compiled program).
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// A query that passed validation, in canonical expanded form.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidQuery {
    pub query: Query,
    /// When the input was in the legacy seed format: its canonical translation (JSON).
    pub translated_from_legacy: Option<Value>,
}

impl ValidQuery {
    /// Columns a part must load to run this query: group, timestamp, then referenced columns.
    pub fn used_columns(&self, group_column: &str, timestamp_column: &str) -> Vec<String> {
        let mut cols = vec![group_column.to_string()];
        if timestamp_column != group_column {
            cols.push(timestamp_column.to_string());
        }
        for c in self.query.referenced_columns() {
            if !cols.contains(&c) {
                cols.push(c);
            }
        }
        cols
    }
    pub fn is_legacy(&self) -> bool {
        self.translated_from_legacy.is_some()
    }
}

/// Validates a query given as JSON text.
pub fn validate_query(text: &str, schema: Option<&DatasetSchema>) -> Result<ValidQuery, ValidationErrors> {
    let value: Value = serde_json::from_str(text).map_err(|e| ValidationErrors {
        errors: vec![ValidationError {
            kind: ErrorKind::Schema,
            message: format!("invalid JSON: {e}"),
            path: String::new(),
        }],
    })?;
    validate_query_value(&value, schema)
}

/// Validates a query given as a JSON value (canonical or legacy seed form; never mutated).
pub fn validate_query_value(value: &Value, schema: Option<&DatasetSchema>) -> Result<ValidQuery, ValidationErrors> {
    if legacy::is_legacy(value) {
        let translated = legacy::translate(value).map_err(|errors| ValidationErrors { errors })?;
        let query = validate_canonical(&translated, schema)?;
        return Ok(ValidQuery { query, translated_from_legacy: Some(translated) });
    }
    let query = validate_canonical(value, schema)?;
    Ok(ValidQuery { query, translated_from_legacy: None })
}

fn validate_canonical(value: &Value, schema: Option<&DatasetSchema>) -> Result<Query, ValidationErrors> {
    let mut v = Validator { errors: Vec::new(), schema };
    let query = v.query(value);
    if v.errors.is_empty() {
        query.ok_or_else(|| ValidationErrors {
            errors: vec![ValidationError {
                kind: ErrorKind::Schema,
                message: "query could not be parsed".into(),
                path: String::new(),
            }],
        })
    } else {
        Err(ValidationErrors { errors: v.errors })
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic()) && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

struct Validator<'s> {
    errors: Vec<ValidationError>,
    schema: Option<&'s DatasetSchema>,
}

impl Validator<'_> {
    fn err(&mut self, kind: ErrorKind, path: &str, message: impl Into<String>) {
        self.errors.push(ValidationError { kind, message: message.into(), path: path.to_string() });
    }

    fn object<'a>(&mut self, v: &'a Value, path: &str, allowed: &[&str]) -> Option<&'a Map<String, Value>> {
        let Some(m) = v.as_object() else {
            self.err(ErrorKind::Schema, path, format!("expected an object, found {}", json_type(v)));
            return None;
        };
        for k in m.keys() {
            if !allowed.contains(&k.as_str()) {
                self.err(
                    ErrorKind::Schema,
                    &join(path, k),
                    format!("unknown key '{k}' (allowed here: {})", allowed.join(", ")),
                );
            }
        }
        Some(m)
    }

    fn string<'a>(&mut self, v: &'a Value, path: &str) -> Option<&'a str> {
        let s = v.as_str();
        if s.is_none() {
            self.err(ErrorKind::Schema, path, format!("expected a string, found {}", json_type(v)));
        }
        s
    }

    fn array<'a>(&mut self, v: &'a Value, path: &str) -> Option<&'a Vec<Value>> {
        let a = v.as_array();
        if a.is_none() {
            self.err(ErrorKind::Schema, path, format!("expected an array, found {}", json_type(v)));
        }
        a
    }

    fn boolean(&mut self, v: &Value, path: &str) -> Option<bool> {
        let b = v.as_bool();
        if b.is_none() {
            self.err(ErrorKind::Schema, path, format!("expected a boolean, found {}", json_type(v)));
        }
        b
    }

    fn number(&mut self, v: &Value, path: &str) -> Option<Literal> {
        match v {
            Value::Number(n) => Some(Literal::from_number(n)),
            _ => {
                self.err(ErrorKind::Schema, path, format!("expected a number, found {}", json_type(v)));
                None
            }
        }
    }

    // ---------------------------------------------------------------- top level

    fn query(&mut self, v: &Value) -> Option<Query> {
        let m = self.object(v, "", &["timeframe", "query", "funnel"])?;
        let timeframe = m.get("timeframe").and_then(|t| self.timeframe(t, "timeframe"));
        let query = m.get("query").and_then(|q| self.query_section(q, "query"));
        let funnel = m.get("funnel").and_then(|f| self.funnel(f, "funnel"));
        Some(Query { timeframe, query, funnel })
    }

    fn timeframe(&mut self, v: &Value, path: &str) -> Option<Timeframe> {
        let m = self.object(v, path, &["from", "to"])?;
        let mut bound = |key: &str| -> Option<Literal> {
            let p = join(path, key);
            let lit = self.number(m.get(key)?, &p)?;
            Some(lit)
        };
        let from = bound("from");
        let to = bound("to");
        if let (Some(f), Some(t)) = (&from, &to)
            && compare_numbers(t, f) != Some(std::cmp::Ordering::Greater)
        {
            self.err(
                ErrorKind::Schema,
                path,
                format!("Value of 'to' ({t}, exclusive) should be larger than 'from' ({f}, inclusive)"),
            );
        }
        if self.schema.is_some_and(|s| s.column_type(&s.timestamp_column) == Some(ColumnType::Int)) {
            for (key, lit) in [("from", &from), ("to", &to)] {
                if let Some(Literal::Float(x)) = lit
                    && !x.is_finite()
                {
                    self.err(ErrorKind::TypeMismatch, &join(path, key), "timeframe bounds must be finite");
                }
            }
        }
        Some(Timeframe { from, to })
    }

    fn query_section(&mut self, v: &Value, path: &str) -> Option<QuerySection> {
        let m = self.object(v, path, &["relation", "conditions", "aggregations"])?;
        let mut conditions = Vec::new();
        let mut all_conditions_ok = true;
        if let Some(cs) = m.get("conditions") {
            let cpath = join(path, "conditions");
            if let Some(arr) = self.array(cs, &cpath) {
                for (i, c) in arr.iter().enumerate() {
                    match self.condition(c, &index(&cpath, i)) {
                        Some(c) => conditions.push(c),
                        None => all_conditions_ok = false,
                    }
                }
                if all_conditions_ok {
                    self.unique_names(conditions.iter().map(|c| c.name()).collect(), &cpath, "name", true);
                }
            }
        }
        let n = if all_conditions_ok {
            conditions.len()
        } else {
            m.get("conditions").and_then(Value::as_array).map_or(0, Vec::len)
        };
        let names: HashMap<String, usize> =
            conditions.iter().enumerate().filter_map(|(i, c)| c.name().map(|n| (n.to_ascii_lowercase(), i))).collect();
        let rpath = join(path, "relation");
        let relation_src: Option<String> = match m.get("relation") {
            None => (n > 0).then(|| "and".to_string()),
            Some(r) => self.string(r, &rpath).map(str::to_string),
        };
        let (mut relation, mut relation_expr) = (None, None);
        if let Some(src) = relation_src {
            let expanded = match relation::simple_op(&src) {
                Some(op) => (0..n).map(|i| format!("${i}")).collect::<Vec<_>>().join(&format!(" {op} ")),
                None => src.clone(),
            };
            match relation::parse(&expanded, &names, n) {
                Ok(e) => {
                    relation = Some(expanded);
                    relation_expr = Some(e);
                }
                Err(errs) => {
                    for e in errs {
                        self.err(ErrorKind::Relation, &rpath, e.0);
                    }
                }
            }
        }
        let aggregations = m.get("aggregations").and_then(|a| self.aggregations(a, &join(path, "aggregations")));
        Some(QuerySection { relation, relation_expr, conditions, aggregations })
    }

    fn funnel(&mut self, v: &Value, path: &str) -> Option<Funnel> {
        let m = self.object(
            v,
            path,
            &["sequence", "maxDuration", "stepAggregations", "endAggregations", "stepTimings", "breakdown"],
        )?;
        let sequence = match m.get("sequence") {
            Some(s) => self.steps(s, &join(path, "sequence")),
            None => {
                self.err(ErrorKind::Schema, path, "a funnel requires a 'sequence'");
                None
            }
        };
        let max_duration = m.get("maxDuration").and_then(|w| self.max_duration(w, &join(path, "maxDuration")));
        let step_aggregations =
            m.get("stepAggregations").and_then(|a| self.aggregations(a, &join(path, "stepAggregations")));
        let end_aggregations =
            m.get("endAggregations").and_then(|a| self.aggregations(a, &join(path, "endAggregations")));
        let step_timings = m.get("stepTimings").and_then(|t| self.step_timings(t, &join(path, "stepTimings")));
        let breakdown = m.get("breakdown").and_then(|b| self.breakdown(b, &join(path, "breakdown")));
        let timings_on = step_timings.as_ref().is_some_and(Option::is_some);
        Some(Funnel {
            sequence: sequence?,
            max_duration,
            step_aggregations,
            end_aggregations,
            step_timings: if timings_on { step_timings.flatten() } else { None },
            breakdown,
        })
    }

    /// `stepTimings`: `true`, `false` (off), or `{exactLimit}`; `Some(None)` is off.
    fn step_timings(&mut self, v: &Value, path: &str) -> Option<Option<StepTimings>> {
        use crate::insights::{DEFAULT_TIMINGS_EXACT_LIMIT, MAX_TIMINGS_EXACT_LIMIT};
        match v {
            Value::Bool(true) => Some(Some(StepTimings { exact_limit: DEFAULT_TIMINGS_EXACT_LIMIT })),
            Value::Bool(false) => Some(None),
            Value::Object(_) => {
                let m = self.object(v, path, &["exactLimit"])?;
                let limit = match m.get("exactLimit") {
                    None => DEFAULT_TIMINGS_EXACT_LIMIT,
                    Some(l) => match l.as_u64() {
                        Some(n) if (1..=MAX_TIMINGS_EXACT_LIMIT as u64).contains(&n) => n as usize,
                        _ => {
                            self.err(
                                ErrorKind::Schema,
                                &join(path, "exactLimit"),
                                format!("'exactLimit' is an integer from 1 to {MAX_TIMINGS_EXACT_LIMIT}"),
                            );
                            return None;
                        }
                    },
                };
                Some(Some(StepTimings { exact_limit: limit }))
            }
            _ => {
                self.err(ErrorKind::Schema, path, "'stepTimings' is true, false or {\"exactLimit\": n}");
                None
            }
        }
    }

    /// `breakdown`: `{column, top?}` on a STRING, INT or BOOL column.
    fn breakdown(&mut self, v: &Value, path: &str) -> Option<Breakdown> {
        use crate::insights::DEFAULT_BREAKDOWN_TOP;
        let m = self.object(v, path, &["column", "top"])?;
        let column = match m.get("column") {
            Some(c) => self.string(c, &join(path, "column")),
            None => {
                self.err(ErrorKind::Schema, path, "a breakdown needs a 'column'");
                None
            }
        };
        let top = match m.get("top") {
            None => Some(DEFAULT_BREAKDOWN_TOP),
            Some(t) => match t.as_u64() {
                Some(n) if (1..=u64::from(MAX_TOP)).contains(&n) => Some(n as usize),
                _ => {
                    self.err(ErrorKind::Schema, &join(path, "top"), format!("'top' is an integer from 1 to {MAX_TOP}"));
                    None
                }
            },
        };
        let column = column?;
        if let Some(schema) = self.schema {
            let cpath = join(path, "column");
            match schema.column_type(column) {
                None => self.err(ErrorKind::DatasetMismatch, &cpath, format!("Column '{column}' not in dataset")),
                Some(ColumnType::Float) => self.err(
                    ErrorKind::TypeMismatch,
                    &cpath,
                    format!("a breakdown column is STRING, INT or BOOL; '{column}' is FLOAT"),
                ),
                Some(_) => {}
            }
        }
        Some(Breakdown { column: column.to_string(), top: top? })
    }

    fn max_duration(&mut self, v: &Value, path: &str) -> Option<Literal> {
        let w = self.number(v, path)?;
        if w.as_f64().is_none_or(|x| x.is_nan() || x < 0.0) {
            self.err(ErrorKind::Schema, path, "maxDuration must be a number >= 0");
            return None;
        }
        Some(w)
    }

    // ---------------------------------------------------------------- conditions

    fn condition(&mut self, v: &Value, path: &str) -> Option<Condition> {
        let m = self.object(
            v,
            path,
            &["name", "filter", "filters", "filtersRelation", "target", "includeZero", "sequence", "maxDuration"],
        )?;
        let n_errors = self.errors.len();
        let name = m.get("name").and_then(|n| self.condition_name(n, &join(path, "name")));
        let has = |k: &str| m.contains_key(k);
        if has("sequence") {
            for k in ["filter", "filters", "filtersRelation", "target", "includeZero"] {
                if has(k) {
                    self.err(ErrorKind::Schema, &join(path, k), format!("a sequence condition cannot have '{k}'"));
                }
            }
            let steps = self.steps(&m["sequence"], &join(path, "sequence"));
            let max_duration = m.get("maxDuration").and_then(|w| self.max_duration(w, &join(path, "maxDuration")));
            return (self.errors.len() == n_errors).then_some(Condition::Sequence {
                name,
                steps: steps?,
                max_duration,
            });
        }
        if has("maxDuration") {
            self.err(
                ErrorKind::Schema,
                &join(path, "maxDuration"),
                "'maxDuration' applies to sequence conditions only",
            );
        }
        let filters = self.filter_set(m, path, true);
        let target_path = join(path, "target");
        let target = match m.get("target") {
            Some(t) => self.target(t, &target_path),
            None => Some(Target::Count { op: TargetOp::Ge, value: 1 }),
        };
        let include_zero_given = match m.get("includeZero") {
            Some(z) => self.boolean(z, &join(path, "includeZero")).map(Some),
            None => Some(None),
        };
        let (Some(filters), Some(target), Some(include_zero_given)) = (filters, target, include_zero_given) else {
            return None;
        };
        let include_zero = self.include_zero(&target, include_zero_given, path);
        (self.errors.len() == n_errors).then_some(Condition::Filter { name, filters, target, include_zero })
    }

    fn condition_name(&mut self, v: &Value, path: &str) -> Option<String> {
        let s = self.string(v, path)?;
        if !is_identifier(s) {
            self.err(ErrorKind::Schema, path, format!("Invalid identifier name '{s}'"));
            return None;
        }
        if ["and", "or", "not"].contains(&s.to_ascii_lowercase().as_str()) {
            self.err(ErrorKind::Schema, path, format!("'{s}' is not a valid condition name"));
            return None;
        }
        Some(s.to_string())
    }

    /// Names must be unique (case-insensitively) within one scope.
    fn unique_names(&mut self, names: Vec<Option<&str>>, scope: &str, key: &str, _conditions: bool) {
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (i, n) in names.into_iter().enumerate() {
            let Some(n) = n else { continue };
            if let Some(first) = seen.insert(n.to_ascii_lowercase(), i) {
                self.err(
                    ErrorKind::Schema,
                    &join(&index(scope, i), key),
                    format!("Identifier name '{n}' is not unique in scope '{scope}' (also used at index {first})"),
                );
            }
        }
    }

    fn steps(&mut self, v: &Value, path: &str) -> Option<Vec<Step>> {
        let arr = self.array(v, path)?;
        if arr.is_empty() {
            self.err(ErrorKind::Schema, path, "a sequence needs at least one step");
            return None;
        }
        let mut out = Vec::new();
        let mut ok = true;
        for (i, s) in arr.iter().enumerate() {
            let spath = index(path, i);
            let Some(m) = self.object(s, &spath, &["filter", "filters", "filtersRelation", "rowFound"]) else {
                ok = false;
                continue;
            };
            let filters = self.filter_set(m, &spath, false);
            let row_found = match m.get("rowFound") {
                Some(b) => self.boolean(b, &join(&spath, "rowFound")),
                None => Some(true),
            };
            match (filters, row_found) {
                (Some(filters), Some(row_found)) => out.push(Step { filters, row_found }),
                _ => ok = false,
            }
        }
        ok.then_some(out)
    }
}
