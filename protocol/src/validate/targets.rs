//! Validation of condition targets (count / sum) and the includeZero rules.

use super::{Validator, index, join, json_type};
use crate::error::ErrorKind;
use crate::query::*;
use serde_json::Value;

impl Validator<'_> {
    /// includeZero rules (docs/query-language.md "Shape of a query").
    pub(super) fn include_zero(&mut self, target: &Target, given: Option<bool>, path: &str) -> bool {
        let zpath = join(path, "includeZero");
        match target {
            Target::Sum { .. } => {
                if given == Some(true) {
                    self.err(ErrorKind::TypeMismatch, &zpath, "'includeZero' is not applicable for target type 'sum'");
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
                            TargetOp::Gt => Some("For target operator '>', 'includeZero' cannot be true".to_string()),
                            TargetOp::Lt if value == 0 => Some("Target implies a negative value".to_string()),
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

    pub(super) fn target(&mut self, v: &Value, path: &str) -> Option<Target> {
        // Normalise shorthand and verbose forms to (type, column, op, value) with their paths.
        struct Parts<'a> {
            kind: &'a Value,
            column: Option<(&'a Value, String)>,
            op: (&'a Value, String),
            value: (&'a Value, String),
        }
        let parts = match v {
            Value::Array(a) => match (a.first().and_then(Value::as_str), a.len()) {
                (Some("count"), 3) => {
                    Parts { kind: &a[0], column: None, op: (&a[1], index(path, 1)), value: (&a[2], index(path, 2)) }
                }
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
                let (Some(kind), Some(op), Some(value)) = (m.get("type"), m.get("op"), m.get("value")) else {
                    self.err(ErrorKind::Schema, path, "a target needs 'type', 'op' and 'value'");
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
                self.err(ErrorKind::Schema, path, format!("a target is an object or an array, found {}", json_type(v)));
                return None;
            }
        };
        let tpath = if v.is_array() { index(path, 0) } else { join(path, "type") };
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
                            format!("a count target value is an integer >= 0, found {}", json_type(other)),
                        );
                        None
                    }
                };
                Some(Target::Count { op: op?, value: value? })
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
                                None => {
                                    self.err(ErrorKind::DatasetMismatch, cp, format!("Column '{c}' not in dataset"))
                                }
                                Some(t) if !t.is_numeric() => self.err(
                                    ErrorKind::TypeMismatch,
                                    cp,
                                    format!("sum target column '{c}' must be numeric, found {}", t.as_str()),
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
                Some(Target::Sum { column: column?.to_string(), op: op?, value: value? })
            }
            other => {
                self.err(ErrorKind::Schema, &tpath, format!("unknown target type '{other}' (count or sum)"));
                None
            }
        }
    }

    // ---------------------------------------------------------------- aggregations
}
