//! The canonical (expanded, verbose) query: typed form of the 0.5.3 JSON query language.
//!
//! Values of this module are only ever produced by [`crate::validate`], so they are known to be
//! well formed. Serializing one gives the canonical JSON; validating that JSON again yields the
//! same query (expansion is idempotent).

use crate::relation::RelationExpr;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use std::fmt;

/// A scalar literal from the query: a filter value or a target/timeframe number.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Int(i64),
    /// An integer above `i64::MAX`.
    UInt(u64),
    Float(f64),
    Bool(bool),
    Str(String),
}

impl Literal {
    pub fn from_number(n: &serde_json::Number) -> Literal {
        if let Some(i) = n.as_i64() {
            Literal::Int(i)
        } else if let Some(u) = n.as_u64() {
            Literal::UInt(u)
        } else {
            Literal::Float(n.as_f64().unwrap_or(f64::NAN))
        }
    }
    pub fn is_integer(&self) -> bool {
        matches!(self, Literal::Int(_) | Literal::UInt(_))
    }
    pub fn is_number(&self) -> bool {
        matches!(self, Literal::Int(_) | Literal::UInt(_) | Literal::Float(_))
    }
    /// The numeric value as f64 (integers beyond 2^53 round).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Literal::Int(i) => Some(*i as f64),
            Literal::UInt(u) => Some(*u as f64),
            Literal::Float(f) => Some(*f),
            _ => None,
        }
    }
    /// Type name used in messages (as 0.5.3: INT, FLOAT, BOOL, STRING).
    pub fn type_name(&self) -> &'static str {
        match self {
            Literal::Int(_) | Literal::UInt(_) => "INT",
            Literal::Float(_) => "FLOAT",
            Literal::Bool(_) => "BOOL",
            Literal::Str(_) => "STRING",
        }
    }
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Literal::Int(i) => (*i).into(),
            Literal::UInt(u) => (*u).into(),
            Literal::Float(f) => {
                serde_json::Number::from_f64(*f).map(serde_json::Value::Number).unwrap_or(serde_json::Value::Null)
            }
            Literal::Bool(b) => (*b).into(),
            Literal::Str(s) => s.clone().into(),
        }
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Int(i) => write!(f, "{i}"),
            Literal::UInt(u) => write!(f, "{u}"),
            Literal::Float(x) => write!(f, "{x:?}"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Str(s) => write!(f, "{s:?}"),
        }
    }
}

impl Serialize for Literal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

/// A row-filter operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Contains,
    NotContains,
    Regex,
}

impl Op {
    pub const ALL: [Op; 9] = [Op::Eq, Op::Ne, Op::Gt, Op::Ge, Op::Lt, Op::Le, Op::Contains, Op::NotContains, Op::Regex];
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Contains => "contains",
            Op::NotContains => "not contains",
            Op::Regex => "regex",
        }
    }
    pub fn parse(s: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.as_str() == s)
    }
    /// Operators whose value must be a string and which apply to string columns only.
    pub fn is_string_only(self) -> bool {
        matches!(self, Op::Contains | Op::NotContains | Op::Regex)
    }
    /// Null semantics (docs/query-language.md "Operators and nulls"): `!=` and `not contains` match nulls, every other op does not.
    pub fn matches_null(self) -> bool {
        matches!(self, Op::Ne | Op::NotContains)
    }
}

impl Serialize for Op {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A comparison operator of a target (count or sum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl TargetOp {
    pub const ALL: [TargetOp; 6] = [TargetOp::Eq, TargetOp::Ne, TargetOp::Gt, TargetOp::Ge, TargetOp::Lt, TargetOp::Le];
    pub fn as_str(self) -> &'static str {
        match self {
            TargetOp::Eq => "==",
            TargetOp::Ne => "!=",
            TargetOp::Gt => ">",
            TargetOp::Ge => ">=",
            TargetOp::Lt => "<",
            TargetOp::Le => "<=",
        }
    }
    pub fn parse(s: &str) -> Option<TargetOp> {
        TargetOp::ALL.into_iter().find(|op| op.as_str() == s)
    }
    /// Applies the operator to an ordering of `actual` relative to `expected`.
    pub fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            TargetOp::Eq => ord == Equal,
            TargetOp::Ne => ord != Equal,
            TargetOp::Gt => ord == Greater,
            TargetOp::Ge => ord != Less,
            TargetOp::Lt => ord == Less,
            TargetOp::Le => ord != Greater,
        }
    }
}

impl Serialize for TargetOp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One row filter `{column, op, value}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Filter {
    pub column: String,
    pub op: Op,
    pub value: Literal,
}

/// The row predicate of a condition or step: one filter, or several that must all (or, for
/// translated seed `mfilter`s with relation `|`, any) hold in the same row.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterSet {
    Single(Filter),
    /// `any == false`: AND of the filters; `any == true`: OR (extension for the seed format).
    Multi {
        filters: Vec<Filter>,
        any: bool,
    },
}

impl FilterSet {
    pub fn filters(&self) -> &[Filter] {
        match self {
            FilterSet::Single(f) => std::slice::from_ref(f),
            FilterSet::Multi { filters, .. } => filters,
        }
    }
    pub fn is_any(&self) -> bool {
        matches!(self, FilterSet::Multi { any: true, .. })
    }
    fn write_into<M: SerializeMap>(&self, m: &mut M) -> Result<(), M::Error> {
        match self {
            FilterSet::Single(f) => m.serialize_entry("filter", f),
            FilterSet::Multi { filters, any } => {
                m.serialize_entry("filters", filters)?;
                if *any {
                    m.serialize_entry("filtersRelation", "or")?;
                }
                Ok(())
            }
        }
    }
}

/// A per-group target over the rows that pass the condition's filters.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Count { op: TargetOp, value: u64 },
    Sum { column: String, op: TargetOp, value: Literal },
}

impl Serialize for Target {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        match self {
            Target::Count { op, value } => {
                m.serialize_entry("type", "count")?;
                m.serialize_entry("op", op)?;
                m.serialize_entry("value", value)?;
            }
            Target::Sum { column, op, value } => {
                m.serialize_entry("type", "sum")?;
                m.serialize_entry("column", column)?;
                m.serialize_entry("op", op)?;
                m.serialize_entry("value", value)?;
            }
        }
        m.end()
    }
}

/// One step of a sequence (condition or funnel).
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub filters: FilterSet,
    /// `false`: the step is negative ("no such row between the neighbouring positive steps").
    pub row_found: bool,
}

impl Serialize for Step {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        self.filters.write_into(&mut m)?;
        m.serialize_entry("rowFound", &self.row_found)?;
        m.end()
    }
}

/// One entry of `query.conditions`.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    Filter { name: Option<String>, filters: FilterSet, target: Target, include_zero: bool },
    Sequence { name: Option<String>, steps: Vec<Step>, max_duration: Option<Literal> },
}

impl Condition {
    pub fn name(&self) -> Option<&str> {
        match self {
            Condition::Filter { name, .. } | Condition::Sequence { name, .. } => name.as_deref(),
        }
    }
}

impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        match self {
            Condition::Filter { name, filters, target, include_zero } => {
                if let Some(n) = name {
                    m.serialize_entry("name", n)?;
                }
                filters.write_into(&mut m)?;
                m.serialize_entry("target", target)?;
                m.serialize_entry("includeZero", include_zero)?;
            }
            Condition::Sequence { name, steps, max_duration } => {
                if let Some(n) = name {
                    m.serialize_entry("name", n)?;
                }
                m.serialize_entry("sequence", steps)?;
                if let Some(w) = max_duration {
                    m.serialize_entry("maxDuration", w)?;
                }
            }
        }
        m.end()
    }
}

/// Aggregation types (docs/query-language.md "Shape of a query").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AggType {
    Count,
    CountPerValue,
    GroupsPerValue,
    SumPerValue,
    MeanPerValue,
}

impl AggType {
    pub const ALL: [AggType; 5] =
        [AggType::Count, AggType::CountPerValue, AggType::GroupsPerValue, AggType::SumPerValue, AggType::MeanPerValue];
    pub fn as_str(self) -> &'static str {
        match self {
            AggType::Count => "count",
            AggType::CountPerValue => "countPerValue",
            AggType::GroupsPerValue => "groupsPerValue",
            AggType::SumPerValue => "sumPerValue",
            AggType::MeanPerValue => "meanPerValue",
        }
    }
    pub fn parse(s: &str) -> Option<AggType> {
        AggType::ALL.into_iter().find(|t| t.as_str() == s)
    }
    pub fn needs_other_column(self) -> bool {
        matches!(self, AggType::SumPerValue | AggType::MeanPerValue)
    }
    pub fn is_per_value(self) -> bool {
        self != AggType::Count
    }
}

/// Default number of entries kept in per-value aggregation results.
pub const DEFAULT_TOP: u32 = 10;
/// Largest `top` a query may ask for.
pub const MAX_TOP: u32 = 1000;

/// One (expanded) aggregation: always typed; `top` is set exactly for per-value types.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Aggregation {
    pub column: String,
    #[serde(rename = "type")]
    pub agg_type: AggType,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub other_column: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub top: Option<u32>,
}

/// `timeframe`: `from` inclusive, `to` exclusive, compared exactly.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Timeframe {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Literal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Literal>,
}

/// `query`: conditions, their relation and aggregations over the matching groups.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QuerySection {
    /// The expanded relation text (`"$0 and $1"`), `None` when there are no conditions.
    pub relation: Option<String>,
    /// The parsed relation, present exactly when `relation` is.
    pub relation_expr: Option<RelationExpr>,
    pub conditions: Vec<Condition>,
    pub aggregations: Option<Vec<Aggregation>>,
}

impl Serialize for QuerySection {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        if let Some(r) = &self.relation {
            m.serialize_entry("relation", r)?;
        }
        m.serialize_entry("conditions", &self.conditions)?;
        if let Some(a) = &self.aggregations {
            m.serialize_entry("aggregations", a)?;
        }
        m.end()
    }
}

/// `funnel`: a sequence of steps counted per prefix, with aggregations.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Funnel {
    pub sequence: Vec<Step>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<Literal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_aggregations: Option<Vec<Aggregation>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_aggregations: Option<Vec<Aggregation>>,
    /// Time to convert per step (docs/query-language.md "Funnel insights").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_timings: Option<crate::insights::StepTimings>,
    /// Users per value of a column at every step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breakdown: Option<crate::insights::Breakdown>,
}

/// A whole canonical query. `{}` (all `None`) is the empty query.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Query {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeframe: Option<Timeframe>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<QuerySection>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub funnel: Option<Funnel>,
}

impl Query {
    /// The canonical JSON of this query.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a query always serializes")
    }
    pub fn conditions(&self) -> &[Condition] {
        self.query.as_ref().map(|q| q.conditions.as_slice()).unwrap_or(&[])
    }
    pub fn aggregations(&self) -> Option<&[Aggregation]> {
        self.query.as_ref().and_then(|q| q.aggregations.as_deref())
    }

    /// Whether running the query needs each row's timestamp: a timeframe, a sequence condition
    /// or a funnel. Other queries can run on parts loaded without the timestamp column.
    pub fn needs_timestamps(&self) -> bool {
        self.timeframe.is_some()
            || self.funnel.is_some()
            || self.conditions().iter().any(|c| matches!(c, Condition::Sequence { .. }))
    }

    /// Every column the query reads, in order of first appearance, without duplicates
    /// (the group and timestamp columns are not included: the caller adds them).
    pub fn referenced_columns(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut add = |c: &str| {
            if !out.iter().any(|x| x == c) {
                out.push(c.to_string());
            }
        };
        fn add_filters(fs: &FilterSet, add: &mut dyn FnMut(&str)) {
            for f in fs.filters() {
                add(&f.column);
            }
        }
        fn add_aggs(aggs: Option<&[Aggregation]>, add: &mut dyn FnMut(&str)) {
            for a in aggs.unwrap_or(&[]) {
                add(&a.column);
                if let Some(o) = &a.other_column {
                    add(o);
                }
            }
        }
        for c in self.conditions() {
            match c {
                Condition::Filter { filters, target, .. } => {
                    add_filters(filters, &mut add);
                    if let Target::Sum { column, .. } = target {
                        add(column);
                    }
                }
                Condition::Sequence { steps, .. } => {
                    for s in steps {
                        add_filters(&s.filters, &mut add);
                    }
                }
            }
        }
        add_aggs(self.aggregations(), &mut add);
        if let Some(f) = &self.funnel {
            for s in &f.sequence {
                add_filters(&s.filters, &mut add);
            }
            add_aggs(f.step_aggregations.as_deref(), &mut add);
            add_aggs(f.end_aggregations.as_deref(), &mut add);
            if let Some(b) = &f.breakdown {
                add(&b.column);
            }
        }
        out
    }
}
