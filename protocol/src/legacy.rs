//! The legacy seed query format (the early design document, "Running Queries Locally"),
//! detected and translated to the canonical form (docs/query-language.md "Legacy seed format").
//!
//! ```json
//! {"logical_expr": "and",
//!  "conditions": [{"type": "filter", "filter": {"column": "event", "operator": "==", "target": "'transaction'"},
//!                  "evaluator": {"type": "size", "column": null}, "hitcount": {"target": 3, "operator": ">="}}],
//!  "breakdown_sequence": [{"column": "event", "operator": "==", "target": "'addtocart'"}]}
//! ```
//! Errors found while translating carry paths into the legacy document; errors found when
//! validating the translation carry canonical paths (the translation is returned with results).

use crate::error::{ErrorKind, ValidationError};
use crate::json_path::{index, join, json_type};
use serde_json::{Map, Value, json};

/// Whether a query document is in the legacy seed format.
pub fn is_legacy(v: &Value) -> bool {
    v.as_object().is_some_and(|m| {
        m.contains_key("logical_expr") || m.contains_key("breakdown_sequence") || m.contains_key("conditions")
    })
}

/// Parses a Python-style literal as the seed writes filter targets: `'text'`, `"text"`, `3`,
/// `-1.5`, `True`, `False`. JSON scalars are accepted as they are.
pub fn parse_python_literal(v: &Value) -> Result<Value, String> {
    match v {
        Value::Number(_) | Value::Bool(_) => Ok(v.clone()),
        Value::String(s) => {
            let t = s.trim();
            let quoted = t.len() >= 2
                && ((t.starts_with('\'') && t.ends_with('\'')) || (t.starts_with('"') && t.ends_with('"')));
            if quoted {
                let inner = &t[1..t.len() - 1];
                let mut out = String::with_capacity(inner.len());
                let mut chars = inner.chars();
                while let Some(c) = chars.next() {
                    if c == '\\' {
                        match chars.next() {
                            Some('n') => out.push('\n'),
                            Some('t') => out.push('\t'),
                            Some(o) => out.push(o),
                            None => return Err(format!("unterminated escape in literal {s:?}")),
                        }
                    } else {
                        out.push(c);
                    }
                }
                return Ok(Value::String(out));
            }
            match t {
                "True" => return Ok(Value::Bool(true)),
                "False" => return Ok(Value::Bool(false)),
                "None" => return Err("None is not a supported filter target".to_string()),
                _ => {}
            }
            if let Ok(i) = t.replace('_', "").parse::<i64>() {
                return Ok(json!(i));
            }
            if let Ok(f) = t.parse::<f64>()
                && f.is_finite()
            {
                return Ok(json!(f));
            }
            Err(format!(
                "target {s:?} is not a Python literal (strings need quotes, e.g. \"'{t}'\"; numbers and True/False are bare)"
            ))
        }
        other => Err(format!("a filter target is a string or number, found {}", json_type(other))),
    }
}

struct Translator {
    errors: Vec<ValidationError>,
}

impl Translator {
    fn err(&mut self, path: &str, message: impl Into<String>) {
        self.errors.push(ValidationError { kind: ErrorKind::Schema, message: message.into(), path: path.to_string() });
    }

    fn obj<'a>(&mut self, v: &'a Value, path: &str, allowed: &[&str]) -> Option<&'a Map<String, Value>> {
        let Some(m) = v.as_object() else {
            self.err(path, format!("expected an object, found {}", json_type(v)));
            return None;
        };
        for k in m.keys().filter(|k| !allowed.contains(&k.as_str())) {
            self.err(
                &join(path, k),
                format!("unknown key '{k}' in a legacy query (allowed here: {})", allowed.join(", ")),
            );
        }
        Some(m)
    }

    fn filter(&mut self, v: &Value, path: &str) -> Option<Value> {
        let m = self.obj(v, path, &["column", "operator", "target"])?;
        let (Some(column), Some(op), Some(target)) = (m.get("column"), m.get("operator"), m.get("target")) else {
            self.err(path, "a legacy filter needs 'column', 'operator' and 'target'");
            return None;
        };
        match parse_python_literal(target) {
            Ok(value) => Some(json!({"column": column, "op": op, "value": value})),
            Err(e) => {
                self.err(&join(path, "target"), e);
                None
            }
        }
    }

    fn target(&mut self, m: &Map<String, Value>, path: &str) -> Option<Option<Value>> {
        let (kind, column) = match m.get("evaluator") {
            None | Some(Value::Null) => ("size".to_string(), None),
            Some(e) => {
                let epath = join(path, "evaluator");
                let em = self.obj(e, &epath, &["type", "column"])?;
                let kind = em.get("type").and_then(Value::as_str).unwrap_or("size").to_string();
                (kind, em.get("column").filter(|c| !c.is_null()).cloned())
            }
        };
        let hit = match m.get("hitcount") {
            None | Some(Value::Null) => None,
            Some(h) => {
                let hpath = join(path, "hitcount");
                let hm = self.obj(h, &hpath, &["target", "operator"])?;
                let (Some(t), Some(op)) = (hm.get("target"), hm.get("operator")) else {
                    self.err(&hpath, "a hitcount needs 'target' and 'operator'");
                    return None;
                };
                Some((op.clone(), t.clone()))
            }
        };
        match (kind.as_str(), hit) {
            ("size", None) => Some(None),
            ("size", Some((op, t))) => Some(Some(json!({"type": "count", "op": op, "value": t}))),
            ("sum", hit) => {
                let Some(column) = column else {
                    self.err(&join(path, "evaluator.column"), "a sum evaluator needs a 'column'");
                    return None;
                };
                let (op, t) = hit.unwrap_or((json!(">"), json!(0)));
                Some(Some(json!({"type": "sum", "column": column, "op": op, "value": t})))
            }
            (other, _) => {
                self.err(&join(path, "evaluator.type"), format!("unknown evaluator type '{other}' (size or sum)"));
                None
            }
        }
    }

    fn condition(&mut self, v: &Value, path: &str) -> Option<Value> {
        let m = self.obj(v, path, &["type", "filter", "filters", "relation", "evaluator", "hitcount", "name"])?;
        let kind = m.get("type").and_then(Value::as_str).unwrap_or(if m.contains_key("filters") {
            "mfilter"
        } else {
            "filter"
        });
        let mut out = Map::new();
        if let Some(n) = m.get("name") {
            out.insert("name".into(), n.clone());
        }
        match kind {
            "filter" => {
                let Some(f) = m.get("filter") else {
                    self.err(path, "a 'filter' condition needs a 'filter'");
                    return None;
                };
                out.insert("filter".into(), self.filter(f, &join(path, "filter"))?);
            }
            "mfilter" | "sequence" => {
                let fpath = join(path, "filters");
                let Some(fs) = m.get("filters").and_then(Value::as_array) else {
                    self.err(path, format!("a '{kind}' condition needs a 'filters' array"));
                    return None;
                };
                let filters: Vec<Value> =
                    fs.iter().enumerate().filter_map(|(i, f)| self.filter(f, &index(&fpath, i))).collect();
                if filters.len() != fs.len() {
                    return None;
                }
                if kind == "sequence" {
                    out.insert("sequence".into(), filters.into_iter().map(|f| json!({"filter": f})).collect());
                    for k in ["evaluator", "hitcount", "relation"] {
                        if m.get(k).is_some_and(|x| !x.is_null()) {
                            self.err(&join(path, k), format!("a sequence condition has no '{k}'"));
                        }
                    }
                    return Some(Value::Object(out));
                }
                out.insert("filters".into(), Value::Array(filters));
                match m.get("relation").and_then(Value::as_str).map(str::trim) {
                    None | Some("&") | Some("and") | Some("&&") => {}
                    Some("|") | Some("or") | Some("||") => {
                        out.insert("filtersRelation".into(), json!("or"));
                    }
                    Some(r) => {
                        self.err(&join(path, "relation"), format!("an mfilter relation is '&' or '|', not '{r}'"));
                        return None;
                    }
                }
            }
            other => {
                self.err(
                    &join(path, "type"),
                    format!("unknown condition type '{other}' (filter, mfilter or sequence)"),
                );
                return None;
            }
        }
        if let Some(t) = self.target(m, path)? {
            out.insert("target".into(), t);
        }
        Some(Value::Object(out))
    }
}

/// Translates a legacy seed query to the canonical JSON form.
pub fn translate(v: &Value) -> Result<Value, Vec<ValidationError>> {
    let mut t = Translator { errors: Vec::new() };
    let Some(m) = t.obj(v, "", &["logical_expr", "conditions", "breakdown_sequence", "timeframe"]) else {
        return Err(t.errors);
    };
    let mut query = Map::new();
    let mut out = Map::new();
    if let Some(tf) = m.get("timeframe") {
        out.insert("timeframe".into(), tf.clone());
    }
    if let Some(cs) = m.get("conditions") {
        match cs.as_array() {
            Some(arr) => {
                let conds: Vec<Value> =
                    arr.iter().enumerate().filter_map(|(i, c)| t.condition(c, &index("conditions", i))).collect();
                query.insert("conditions".into(), Value::Array(conds));
            }
            None => t.err("conditions", format!("expected an array, found {}", json_type(cs))),
        }
    }
    if let Some(expr) = m.get("logical_expr") {
        match expr.as_str().map(|s| s.trim().to_ascii_lowercase()) {
            Some(s) if ["and", "&", "&&"].contains(&s.as_str()) => {
                query.insert("relation".into(), json!("and"));
            }
            Some(s) if ["or", "|", "||"].contains(&s.as_str()) => {
                query.insert("relation".into(), json!("or"));
            }
            _ => t.err("logical_expr", "logical_expr is 'and' or 'or'"),
        }
    }
    if !query.is_empty() {
        out.insert("query".into(), Value::Object(query));
    }
    if let Some(bs) = m.get("breakdown_sequence") {
        match bs.as_array() {
            Some(arr) => {
                let steps: Vec<Value> = arr
                    .iter()
                    .enumerate()
                    .filter_map(|(i, f)| t.filter(f, &index("breakdown_sequence", i)).map(|f| json!({"filter": f})))
                    .collect();
                out.insert("funnel".into(), json!({"sequence": steps}));
            }
            None => t.err("breakdown_sequence", format!("expected an array, found {}", json_type(bs))),
        }
    }
    if t.errors.is_empty() { Ok(Value::Object(out)) } else { Err(t.errors) }
}
