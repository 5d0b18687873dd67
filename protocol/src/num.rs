//! [`Num`]: an exact sum (an `i128`, or an [`ExactSum`] of floats) with its wire form, shared
//! by aggregation results (`result.rs`) and funnel insights (`insights.rs`).

use crate::exact_sum::ExactSum;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cmp::Ordering;

/// An exact sum: integer for INT columns, exact float sum for FLOAT columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(into = "NumWire", try_from = "NumWire")]
pub enum Num {
    Int(i128),
    Float(ExactSum),
}

/// Wire form of [`Num`]: JSON numbers cannot carry every i128 (and serde's buffering of
/// tagged enums cannot either), so integers beyond i64 travel as decimal strings.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
enum NumWire {
    Int(i64),
    BigInt(String),
    Float(ExactSum),
}

impl From<Num> for NumWire {
    fn from(n: Num) -> NumWire {
        match n {
            Num::Int(i) => i64::try_from(i).map_or_else(|_| NumWire::BigInt(i.to_string()), NumWire::Int),
            Num::Float(s) => NumWire::Float(s),
        }
    }
}

impl TryFrom<NumWire> for Num {
    type Error = String;
    fn try_from(w: NumWire) -> Result<Num, String> {
        Ok(match w {
            NumWire::Int(i) => Num::Int(i128::from(i)),
            NumWire::BigInt(s) => Num::Int(s.parse().map_err(|e| format!("bad bigInt {s:?}: {e}"))?),
            NumWire::Float(s) => Num::Float(s),
        })
    }
}

impl Num {
    pub fn zero_like(is_int: bool) -> Num {
        if is_int { Num::Int(0) } else { Num::Float(ExactSum::new()) }
    }
    pub fn add(&mut self, other: &Num) {
        match (&mut *self, other) {
            (Num::Int(a), Num::Int(b)) => *a += *b,
            (Num::Float(a), Num::Float(b)) => a.merge(b),
            (Num::Float(a), Num::Int(b)) => a.add(*b as f64),
            (Num::Int(a), Num::Float(b)) => {
                let mut s = b.clone();
                s.add(*a as f64);
                *self = Num::Float(s);
            }
        }
    }
    pub fn to_f64(&self) -> f64 {
        match self {
            Num::Int(i) => *i as f64,
            Num::Float(s) => s.value(),
        }
    }
    pub fn to_json(&self) -> Value {
        match self {
            Num::Int(i) => match i64::try_from(*i) {
                Ok(v) => v.into(),
                Err(_) => f64_json(*i as f64),
            },
            Num::Float(s) => f64_json(s.value()),
        }
    }
    pub(crate) fn cmp_value(&self, other: &Num) -> Ordering {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => a.cmp(b),
            _ => self.to_f64().total_cmp(&other.to_f64()),
        }
    }
}

pub(crate) fn f64_json(x: f64) -> Value {
    serde_json::Number::from_f64(x).map(Value::Number).unwrap_or(Value::Null)
}
