//! Validation and expansion of queries: JSON (canonical 0.5.3 form, shorthand or verbose, or the
//! legacy seed form) → [`ValidQuery`], or every fault found, each with its kind and JSON path.
//!
//! Rules are those of reference §1 with the decisions of SPEC §2. Without a dataset schema only
//! the query itself is checked; with one, columns, types, operators and values are checked too.

use crate::error::{ErrorKind, ValidationError, ValidationErrors};
use crate::legacy;
use crate::query::*;
use crate::relation;
use crate::schema::{ColumnType, DatasetSchema};
use serde_json::{Map, Value};
use std::collections::HashMap;

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
pub fn validate_query(
    text: &str,
    schema: Option<&DatasetSchema>,
) -> Result<ValidQuery, ValidationErrors> {
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
pub fn validate_query_value(
    value: &Value,
    schema: Option<&DatasetSchema>,
) -> Result<ValidQuery, ValidationErrors> {
    if legacy::is_legacy(value) {
        let translated = legacy::translate(value).map_err(|errors| ValidationErrors { errors })?;
        let query = validate_canonical(&translated, schema)?;
        return Ok(ValidQuery {
            query,
            translated_from_legacy: Some(translated),
        });
    }
    let query = validate_canonical(value, schema)?;
    Ok(ValidQuery {
        query,
        translated_from_legacy: None,
    })
}

fn validate_canonical(
    value: &Value,
    schema: Option<&DatasetSchema>,
) -> Result<Query, ValidationErrors> {
    let mut v = Validator {
        errors: Vec::new(),
        schema,
    };
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

pub(crate) fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

pub(crate) fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

pub(crate) fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "float",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

struct Validator<'s> {
    errors: Vec<ValidationError>,
    schema: Option<&'s DatasetSchema>,
}

impl Validator<'_> {
    fn err(&mut self, kind: ErrorKind, path: &str, message: impl Into<String>) {
        self.errors.push(ValidationError {
            kind,
            message: message.into(),
            path: path.to_string(),
        });
    }

    fn object<'a>(
        &mut self,
        v: &'a Value,
        path: &str,
        allowed: &[&str],
    ) -> Option<&'a Map<String, Value>> {
        let Some(m) = v.as_object() else {
            self.err(
                ErrorKind::Schema,
                path,
                format!("expected an object, found {}", json_type(v)),
            );
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
            self.err(
                ErrorKind::Schema,
                path,
                format!("expected a string, found {}", json_type(v)),
            );
        }
        s
    }

    fn array<'a>(&mut self, v: &'a Value, path: &str) -> Option<&'a Vec<Value>> {
        let a = v.as_array();
        if a.is_none() {
            self.err(
                ErrorKind::Schema,
                path,
                format!("expected an array, found {}", json_type(v)),
            );
        }
        a
    }

    fn boolean(&mut self, v: &Value, path: &str) -> Option<bool> {
        let b = v.as_bool();
        if b.is_none() {
            self.err(
                ErrorKind::Schema,
                path,
                format!("expected a boolean, found {}", json_type(v)),
            );
        }
        b
    }

    fn number(&mut self, v: &Value, path: &str) -> Option<Literal> {
        match v {
            Value::Number(n) => Some(Literal::from_number(n)),
            _ => {
                self.err(
                    ErrorKind::Schema,
                    path,
                    format!("expected a number, found {}", json_type(v)),
                );
                None
            }
        }
    }

    // ---------------------------------------------------------------- top level

    fn query(&mut self, v: &Value) -> Option<Query> {
        let m = self.object(v, "", &["timeframe", "query", "funnel"])?;
        let timeframe = m
            .get("timeframe")
            .and_then(|t| self.timeframe(t, "timeframe"));
        let query = m.get("query").and_then(|q| self.query_section(q, "query"));
        let funnel = m.get("funnel").and_then(|f| self.funnel(f, "funnel"));
        Some(Query {
            timeframe,
            query,
            funnel,
        })
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
                format!(
                    "Value of 'to' ({t}, exclusive) should be larger than 'from' ({f}, inclusive)"
                ),
            );
        }
        if self
            .schema
            .is_some_and(|s| s.column_type(&s.timestamp_column) == Some(ColumnType::Int))
        {
            for (key, lit) in [("from", &from), ("to", &to)] {
                if let Some(Literal::Float(x)) = lit
                    && !x.is_finite()
                {
                    self.err(
                        ErrorKind::TypeMismatch,
                        &join(path, key),
                        "timeframe bounds must be finite",
                    );
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
                    self.unique_names(
                        conditions.iter().map(|c| c.name()).collect(),
                        &cpath,
                        "name",
                        true,
                    );
                }
            }
        }
        let n = if all_conditions_ok {
            conditions.len()
        } else {
            m.get("conditions")
                .and_then(Value::as_array)
                .map_or(0, Vec::len)
        };
        let names: HashMap<String, usize> = conditions
            .iter()
            .enumerate()
            .filter_map(|(i, c)| c.name().map(|n| (n.to_ascii_lowercase(), i)))
            .collect();
        let rpath = join(path, "relation");
        let relation_src: Option<String> = match m.get("relation") {
            None => (n > 0).then(|| "and".to_string()),
            Some(r) => self.string(r, &rpath).map(str::to_string),
        };
        let (mut relation, mut relation_expr) = (None, None);
        if let Some(src) = relation_src {
            let expanded = match relation::simple_op(&src) {
                Some(op) => (0..n)
                    .map(|i| format!("${i}"))
                    .collect::<Vec<_>>()
                    .join(&format!(" {op} ")),
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
        let aggregations = m
            .get("aggregations")
            .and_then(|a| self.aggregations(a, &join(path, "aggregations")));
        Some(QuerySection {
            relation,
            relation_expr,
            conditions,
            aggregations,
        })
    }

    fn funnel(&mut self, v: &Value, path: &str) -> Option<Funnel> {
        let m = self.object(
            v,
            path,
            &[
                "sequence",
                "maxDuration",
                "stepAggregations",
                "endAggregations",
            ],
        )?;
        let sequence = match m.get("sequence") {
            Some(s) => self.steps(s, &join(path, "sequence")),
            None => {
                self.err(ErrorKind::Schema, path, "a funnel requires a 'sequence'");
                None
            }
        };
        let max_duration = m
            .get("maxDuration")
            .and_then(|w| self.max_duration(w, &join(path, "maxDuration")));
        let step_aggregations = m
            .get("stepAggregations")
            .and_then(|a| self.aggregations(a, &join(path, "stepAggregations")));
        let end_aggregations = m
            .get("endAggregations")
            .and_then(|a| self.aggregations(a, &join(path, "endAggregations")));
        Some(Funnel {
            sequence: sequence?,
            max_duration,
            step_aggregations,
            end_aggregations,
        })
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
            &[
                "name",
                "filter",
                "filters",
                "filtersRelation",
                "target",
                "includeZero",
                "sequence",
                "maxDuration",
            ],
        )?;
        let n_errors = self.errors.len();
        let name = m
            .get("name")
            .and_then(|n| self.condition_name(n, &join(path, "name")));
        let has = |k: &str| m.contains_key(k);
        if has("sequence") {
            for k in [
                "filter",
                "filters",
                "filtersRelation",
                "target",
                "includeZero",
            ] {
                if has(k) {
                    self.err(
                        ErrorKind::Schema,
                        &join(path, k),
                        format!("a sequence condition cannot have '{k}'"),
                    );
                }
            }
            let steps = self.steps(&m["sequence"], &join(path, "sequence"));
            let max_duration = m
                .get("maxDuration")
                .and_then(|w| self.max_duration(w, &join(path, "maxDuration")));
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
            None => Some(Target::Count {
                op: TargetOp::Ge,
                value: 1,
            }),
        };
        let include_zero_given = match m.get("includeZero") {
            Some(z) => self.boolean(z, &join(path, "includeZero")).map(Some),
            None => Some(None),
        };
        let (Some(filters), Some(target), Some(include_zero_given)) =
            (filters, target, include_zero_given)
        else {
            return None;
        };
        let include_zero = self.include_zero(&target, include_zero_given, path);
        (self.errors.len() == n_errors).then_some(Condition::Filter {
            name,
            filters,
            target,
            include_zero,
        })
    }

    /// includeZero rules (reference §1.4).
    fn include_zero(&mut self, target: &Target, given: Option<bool>, path: &str) -> bool {
        let zpath = join(path, "includeZero");
        match target {
            Target::Sum { .. } => {
                if given == Some(true) {
                    self.err(
                        ErrorKind::TypeMismatch,
                        &zpath,
                        "'includeZero' is not applicable for target type 'sum'",
                    );
                }
                false
            }
            Target::Count { op, value } => {
                let (op, value) = (*op, *value);
                match given {
                    None => op == TargetOp::Eq && value == 0,
                    Some(false) => {
                        if op == TargetOp::Eq && value == 0 {
                            self.err(
                                ErrorKind::TypeMismatch,
                                &zpath,
                                "target 'count == 0' requires 'includeZero' (it cannot be false)",
                            );
                        }
                        false
                    }
                    Some(true) => {
                        let msg = match op {
                            TargetOp::Gt => Some(
                                "For target operator '>', 'includeZero' cannot be true".to_string(),
                            ),
                            TargetOp::Lt if value == 0 => {
                                Some("Target implies a negative value".to_string())
                            }
                            TargetOp::Ne if value == 0 => Some(format!(
                                "Target count {} {value} explicitly precludes zero, so 'includeZero' cannot be true",
                                op.as_str()
                            )),
                            TargetOp::Eq | TargetOp::Ge if value != 0 => Some(format!(
                                "Target count {} {value} explicitly precludes zero, so 'includeZero' cannot be true",
                                op.as_str()
                            )),
                            _ => None,
                        };
                        if let Some(msg) = msg {
                            self.err(ErrorKind::TypeMismatch, &zpath, msg);
                        }
                        true
                    }
                }
            }
        }
    }

    fn condition_name(&mut self, v: &Value, path: &str) -> Option<String> {
        let s = self.string(v, path)?;
        if !is_identifier(s) {
            self.err(
                ErrorKind::Schema,
                path,
                format!("Invalid identifier name '{s}'"),
            );
            return None;
        }
        if ["and", "or", "not"].contains(&s.to_ascii_lowercase().as_str()) {
            self.err(
                ErrorKind::Schema,
                path,
                format!("'{s}' is not a valid condition name"),
            );
            return None;
        }
        Some(s.to_string())
    }

    /// Names must be unique (case-insensitively) within one scope.
    fn unique_names(
        &mut self,
        names: Vec<Option<&str>>,
        scope: &str,
        key: &str,
        _conditions: bool,
    ) {
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
            self.err(
                ErrorKind::Schema,
                path,
                "a sequence needs at least one step",
            );
            return None;
        }
        let mut out = Vec::new();
        let mut ok = true;
        for (i, s) in arr.iter().enumerate() {
            let spath = index(path, i);
            let Some(m) = self.object(
                s,
                &spath,
                &["filter", "filters", "filtersRelation", "rowFound"],
            ) else {
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

    /// `filter` xor `filters` (+ optional `filtersRelation`) of a condition or step.
    fn filter_set(
        &mut self,
        m: &Map<String, Value>,
        path: &str,
        is_condition: bool,
    ) -> Option<FilterSet> {
        match (m.get("filter"), m.get("filters")) {
            (Some(_), Some(_)) => {
                self.err(
                    ErrorKind::Schema,
                    path,
                    "give either 'filter' or 'filters', not both",
                );
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
                    self.err(
                        ErrorKind::Schema,
                        &join(path, "filtersRelation"),
                        "'filtersRelation' needs 'filters'",
                    );
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
                    self.err(
                        ErrorKind::Schema,
                        &fpath,
                        "'filters' needs at least one filter",
                    );
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

    fn filter(&mut self, v: &Value, path: &str) -> Option<Filter> {
        let (col_v, op_v, val_v, col_p, op_p, val_p) = match v {
            Value::Array(a) => {
                if a.len() != 3 {
                    self.err(
                        ErrorKind::Schema,
                        path,
                        format!(
                            "a shorthand filter is [column, op, value], found {} items",
                            a.len()
                        ),
                    );
                    return None;
                }
                (
                    &a[0],
                    &a[1],
                    &a[2],
                    index(path, 0),
                    index(path, 1),
                    index(path, 2),
                )
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
                (
                    &m["column"],
                    &m["op"],
                    &m["value"],
                    join(path, "column"),
                    join(path, "op"),
                    join(path, "value"),
                )
            }
            _ => {
                self.err(
                    ErrorKind::Schema,
                    path,
                    format!(
                        "a filter is an object or a [column, op, value] array, found {}",
                        json_type(v)
                    ),
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
                    format!(
                        "unknown operator '{s}' (one of {})",
                        Op::ALL.map(Op::as_str).join(", ")
                    ),
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
                    format!(
                        "a filter value is a string, number or boolean, found {}",
                        json_type(other)
                    ),
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
                format!(
                    "operator '{}' needs a string value, found {}",
                    op.as_str(),
                    value.type_name()
                ),
            );
        }
        if matches!(value, Literal::Bool(_)) && !matches!(op, Op::Eq | Op::Ne) {
            self.err(
                ErrorKind::TypeMismatch,
                &op_p,
                format!(
                    "operator '{}' is not applicable to a boolean value",
                    op.as_str()
                ),
            );
        }
        if let Literal::Float(x) = value
            && x.is_nan()
        {
            self.err(ErrorKind::Schema, &val_p, "filter value must not be NaN");
        }
        if let (Op::Regex, Literal::Str(p)) = (op, &value)
            && let Err(e) = regex::RegexBuilder::new(p)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
        {
            self.err(ErrorKind::Schema, &val_p, format!("invalid regex: {e}"));
        }
        if let Some(schema) = self.schema {
            match schema.column_type(column) {
                None => self.err(
                    ErrorKind::DatasetMismatch,
                    &col_p,
                    format!("Column '{column}' not in dataset"),
                ),
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
        (self.errors.len() == n_errors).then(|| Filter {
            column: column.to_string(),
            op,
            value,
        })
    }

    fn target(&mut self, v: &Value, path: &str) -> Option<Target> {
        // Normalise shorthand and verbose forms to (type, column, op, value) with their paths.
        struct Parts<'a> {
            kind: &'a Value,
            column: Option<(&'a Value, String)>,
            op: (&'a Value, String),
            value: (&'a Value, String),
        }
        let parts = match v {
            Value::Array(a) => match (a.first().and_then(Value::as_str), a.len()) {
                (Some("count"), 3) => Parts {
                    kind: &a[0],
                    column: None,
                    op: (&a[1], index(path, 1)),
                    value: (&a[2], index(path, 2)),
                },
                (Some("sum"), 4) => Parts {
                    kind: &a[0],
                    column: Some((&a[1], index(path, 1))),
                    op: (&a[2], index(path, 2)),
                    value: (&a[3], index(path, 3)),
                },
                _ => {
                    self.err(
                        ErrorKind::Schema,
                        path,
                        "a shorthand target is [\"count\", op, value] or [\"sum\", column, op, value]",
                    );
                    return None;
                }
            },
            Value::Object(_) => {
                let m = self.object(v, path, &["type", "column", "op", "value"])?;
                let (Some(kind), Some(op), Some(value)) =
                    (m.get("type"), m.get("op"), m.get("value"))
                else {
                    self.err(
                        ErrorKind::Schema,
                        path,
                        "a target needs 'type', 'op' and 'value'",
                    );
                    return None;
                };
                Parts {
                    kind,
                    column: m.get("column").map(|c| (c, join(path, "column"))),
                    op: (op, join(path, "op")),
                    value: (value, join(path, "value")),
                }
            }
            _ => {
                self.err(
                    ErrorKind::Schema,
                    path,
                    format!("a target is an object or an array, found {}", json_type(v)),
                );
                return None;
            }
        };
        let tpath = if v.is_array() {
            index(path, 0)
        } else {
            join(path, "type")
        };
        let kind = self.string(parts.kind, &tpath)?;
        let op = self.string(parts.op.0, &parts.op.1).and_then(|s| {
            let op = TargetOp::parse(s);
            if op.is_none() {
                self.err(
                    ErrorKind::Schema,
                    &parts.op.1,
                    format!(
                        "unknown target operator '{s}' (one of {})",
                        TargetOp::ALL.map(TargetOp::as_str).join(", ")
                    ),
                );
            }
            op
        });
        match kind {
            "count" => {
                if let Some((_, cp)) = &parts.column {
                    self.err(ErrorKind::Schema, cp, "a count target has no 'column'");
                }
                let value = match parts.value.0 {
                    Value::Number(n) if n.as_u64().is_some() => n.as_u64(),
                    other => {
                        self.err(
                            ErrorKind::Schema,
                            &parts.value.1,
                            format!(
                                "a count target value is an integer >= 0, found {}",
                                json_type(other)
                            ),
                        );
                        None
                    }
                };
                Some(Target::Count {
                    op: op?,
                    value: value?,
                })
            }
            "sum" => {
                let column = match &parts.column {
                    None => {
                        self.err(ErrorKind::Schema, path, "a sum target needs a 'column'");
                        None
                    }
                    Some((c, cp)) => {
                        let c = self.string(c, cp);
                        if let (Some(c), Some(schema)) = (c, self.schema) {
                            match schema.column_type(c) {
                                None => self.err(
                                    ErrorKind::DatasetMismatch,
                                    cp,
                                    format!("Column '{c}' not in dataset"),
                                ),
                                Some(t) if !t.is_numeric() => self.err(
                                    ErrorKind::TypeMismatch,
                                    cp,
                                    format!(
                                        "sum target column '{c}' must be numeric, found {}",
                                        t.as_str()
                                    ),
                                ),
                                _ => {}
                            }
                        }
                        c
                    }
                };
                let value = match parts.value.0 {
                    Value::Number(n) => Some(Literal::from_number(n)),
                    other => {
                        self.err(
                            ErrorKind::TypeMismatch,
                            &parts.value.1,
                            format!("a sum target value is a number, found {}", json_type(other)),
                        );
                        None
                    }
                };
                Some(Target::Sum {
                    column: column?.to_string(),
                    op: op?,
                    value: value?,
                })
            }
            other => {
                self.err(
                    ErrorKind::Schema,
                    &tpath,
                    format!("unknown target type '{other}' (count or sum)"),
                );
                None
            }
        }
    }

    // ---------------------------------------------------------------- aggregations

    fn aggregations(&mut self, v: &Value, path: &str) -> Option<Vec<Aggregation>> {
        let arr = self.array(v, path)?;
        let mut out = Vec::new();
        let mut names: Vec<(Option<String>, usize)> = Vec::new();
        let n_errors = self.errors.len();
        for (i, a) in arr.iter().enumerate() {
            let apath = index(path, i);
            let Some(m) = self.object(a, &apath, &["column", "type", "name", "otherColumn", "top"])
            else {
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
                    self.err(
                        ErrorKind::Schema,
                        &np,
                        format!("Invalid identifier name '{s}'"),
                    );
                    return None;
                }
                Some(s.to_string())
            });
            let top = m.get("top").and_then(|t| {
                let tp = join(&apath, "top");
                match t.as_u64() {
                    Some(n) if (1..=u64::from(MAX_TOP)).contains(&n) => Some(n as u32),
                    _ => {
                        self.err(
                            ErrorKind::Schema,
                            &tp,
                            format!("'top' is an integer from 1 to {MAX_TOP}"),
                        );
                        None
                    }
                }
            });
            let other = m
                .get("otherColumn")
                .and_then(|o| self.string(o, &join(&apath, "otherColumn")));
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
                    for t in [
                        AggType::Count,
                        AggType::CountPerValue,
                        AggType::GroupsPerValue,
                    ] {
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
                            format!(
                                "other column name is required for '{}' but was not found",
                                t.as_str()
                            ),
                        ),
                        (false, Some(_)) => self.err(
                            ErrorKind::Schema,
                            &op,
                            "other column is not relevant but was given",
                        ),
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
            self.err(
                ErrorKind::DatasetMismatch,
                path,
                format!("Column '{column}' not in dataset"),
            );
        }
    }

    fn check_other_column(&mut self, column: &str, path: &str) {
        if let Some(schema) = self.schema {
            match schema.column_type(column) {
                None => self.err(
                    ErrorKind::DatasetMismatch,
                    path,
                    format!("Column '{column}' not in dataset"),
                ),
                Some(t) if !t.is_numeric() => self.err(
                    ErrorKind::TypeMismatch,
                    path,
                    format!(
                        "other column '{column}' must be numeric, found {}",
                        t.as_str()
                    ),
                ),
                _ => {}
            }
        }
    }
}

/// Exact comparison of two numeric literals (integers vs floats without rounding).
pub fn compare_numbers(a: &Literal, b: &Literal) -> Option<std::cmp::Ordering> {
    use Literal::*;
    match (a, b) {
        (Int(x), Int(y)) => Some(x.cmp(y)),
        (UInt(x), UInt(y)) => Some(x.cmp(y)),
        (Int(_), UInt(_)) => Some(std::cmp::Ordering::Less),
        (UInt(_), Int(_)) => Some(std::cmp::Ordering::Greater),
        (Float(x), Float(y)) => x.partial_cmp(y),
        (Int(x), Float(y)) => cmp_i128_f64(i128::from(*x), *y),
        (UInt(x), Float(y)) => cmp_i128_f64(i128::from(*x), *y),
        (Float(x), Int(y)) => cmp_i128_f64(i128::from(*y), *x).map(std::cmp::Ordering::reverse),
        (Float(x), UInt(y)) => cmp_i128_f64(i128::from(*y), *x).map(std::cmp::Ordering::reverse),
        _ => None,
    }
}

/// Exact comparison of an integer with a float (`None` when the float is NaN).
pub fn cmp_i128_f64(i: i128, f: f64) -> Option<std::cmp::Ordering> {
    use std::cmp::Ordering;
    if f.is_nan() {
        return None;
    }
    if f >= 1.7e38 {
        return Some(Ordering::Less);
    }
    if f <= -1.7e38 {
        return Some(Ordering::Greater);
    }
    let fl = f.floor();
    // |fl| < 2^127 so the conversion is exact.
    let fi = fl as i128;
    match i.cmp(&fi) {
        Ordering::Equal if f > fl => Some(Ordering::Less),
        o => Some(o),
    }
}
