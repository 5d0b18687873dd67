//! Test datasets: typed rows that become both a polars DataFrame (for the engine) and plain
//! values (for the brute-force reference).

use polars::prelude::*;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum V {
    Null,
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Int,
    UInt32,
    Float,
    Float32,
    Bool,
    Str,
    Cat,
}

#[derive(Debug, Clone)]
pub struct TestData {
    pub group: String,
    pub ts: String,
    pub columns: Vec<(String, Ty, Vec<V>)>,
}

impl TestData {
    pub fn n_rows(&self) -> usize {
        self.columns.first().map_or(0, |c| c.2.len())
    }
    pub fn col(&self, name: &str) -> Option<&Vec<V>> {
        self.columns.iter().find(|c| c.0 == name).map(|c| &c.2)
    }
    pub fn value(&self, name: &str, row: usize) -> &V {
        &self.col(name).expect("column exists")[row]
    }

    /// Builds from JSON columns: `{"id": [1, 1, 2], "ev": ["a", null, "b"]}`, types inferred
    /// (any float → FLOAT) unless given in `types` (`{"x": "f32"}`).
    pub fn from_json(group: &str, ts: &str, cols: &Value, types: Option<&Value>) -> TestData {
        let mut columns = Vec::new();
        for (name, vals) in cols.as_object().expect("columns object") {
            let vals = vals.as_array().expect("column array");
            let declared = types.and_then(|t| t.get(name)).and_then(Value::as_str);
            let ty = match declared {
                Some("int") => Ty::Int,
                Some("u32") => Ty::UInt32,
                Some("float") => Ty::Float,
                Some("f32") => Ty::Float32,
                Some("bool") => Ty::Bool,
                Some("str") => Ty::Str,
                Some("cat") => Ty::Cat,
                Some(other) => panic!("unknown type {other}"),
                None => {
                    if vals.iter().any(|v| v.is_string()) {
                        Ty::Str
                    } else if vals.iter().any(Value::is_boolean) {
                        Ty::Bool
                    } else if vals.iter().any(|v| v.is_f64()) {
                        Ty::Float
                    } else {
                        Ty::Int
                    }
                }
            };
            let vs = vals
                .iter()
                .map(|v| match (v, ty) {
                    (Value::Null, _) => V::Null,
                    (Value::String(s), Ty::Float | Ty::Float32) if s == "NaN" => V::Float(f64::NAN),
                    (Value::Number(n), Ty::Float | Ty::Float32) => V::Float(n.as_f64().unwrap()),
                    (Value::Number(n), _) => V::Int(n.as_i64().unwrap()),
                    (Value::Bool(b), _) => V::Bool(*b),
                    (Value::String(s), _) => V::Str(s.clone()),
                    other => panic!("bad value {other:?}"),
                })
                .collect();
            columns.push((name.clone(), ty, vs));
        }
        TestData { group: group.into(), ts: ts.into(), columns }
    }

    /// The `datasets` of a case file (`engine/tests/cases/*.json`), by name.
    pub fn load_case_datasets(file: &Value) -> std::collections::BTreeMap<String, TestData> {
        file["datasets"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(name, d)| {
                        let td = TestData::from_json(
                            d["group"].as_str().unwrap_or("id"),
                            d["ts"].as_str().unwrap_or("ts"),
                            &d["columns"],
                            d.get("types"),
                        );
                        (name.clone(), td)
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn to_df(&self) -> DataFrame {
        let cols: Vec<Column> = self
            .columns
            .iter()
            .map(|(name, ty, vals)| {
                let name = PlSmallStr::from(name.as_str());
                let s = match ty {
                    Ty::Int => Series::new(name, vals.iter().map(as_i64).collect::<Vec<_>>()),
                    Ty::UInt32 => {
                        Series::new(name, vals.iter().map(|v| as_i64(v).map(|x| x as u32)).collect::<Vec<_>>())
                    }
                    Ty::Float => Series::new(name, vals.iter().map(as_f64).collect::<Vec<_>>()),
                    Ty::Float32 => {
                        Series::new(name, vals.iter().map(|v| as_f64(v).map(|x| x as f32)).collect::<Vec<_>>())
                    }
                    Ty::Bool => Series::new(
                        name,
                        vals.iter().map(|v| if let V::Bool(b) = v { Some(*b) } else { None }).collect::<Vec<_>>(),
                    ),
                    Ty::Str | Ty::Cat => {
                        let s = Series::new(
                            name,
                            vals.iter()
                                .map(|v| if let V::Str(s) = v { Some(s.clone()) } else { None })
                                .collect::<Vec<_>>(),
                        );
                        if *ty == Ty::Cat {
                            s.cast(&DataType::from_categories(Categories::global())).expect("categorical cast")
                        } else {
                            s
                        }
                    }
                };
                Column::from(s)
            })
            .collect();
        DataFrame::new_infer_height(cols).expect("valid frame")
    }

    /// The rows `keep` (in that order) as a new dataset.
    pub fn select_rows(&self, keep: &[usize]) -> TestData {
        TestData {
            group: self.group.clone(),
            ts: self.ts.clone(),
            columns: self
                .columns
                .iter()
                .map(|(n, t, v)| (n.clone(), *t, keep.iter().map(|&i| v[i].clone()).collect()))
                .collect(),
        }
    }

    /// Group key of a row, as a string.
    pub fn group_key(&self, row: usize) -> String {
        match self.value(&self.group, row) {
            V::Int(i) => i.to_string(),
            V::Str(s) => s.clone(),
            other => panic!("bad group value {other:?}"),
        }
    }
}

fn as_i64(v: &V) -> Option<i64> {
    if let V::Int(i) = v { Some(*i) } else { None }
}

fn as_f64(v: &V) -> Option<f64> {
    match v {
        V::Float(f) => Some(*f),
        V::Int(i) => Some(*i as f64),
        _ => None,
    }
}
