//! Row filters → byte masks over all rows of a frame (docs/query-language.md "Operators and nulls").

use crate::EngineError;
use crate::codes::{Code, Codes, with_codes};
use crate::frame::{Col, Frame};
use protocol::validate::{REGEX_SIZE_LIMIT, cmp_i128_f64};
use protocol::{Filter, FilterSet, Literal, Op, Step};
use std::cmp::Ordering;

fn mismatch(f: &Filter, col: &Col) -> EngineError {
    EngineError::TypeMismatch {
        column: f.column.clone(),
        found: col.type_name().to_string(),
        usage: format!("with operator '{}' and value {}", f.op.as_str(), f.value),
    }
}

/// Whether `ord` (column value compared to the filter value) satisfies an ordering operator.
#[inline]
fn holds(op: Op, ord: Ordering) -> bool {
    match op {
        Op::Eq => ord == Ordering::Equal,
        Op::Ne => ord != Ordering::Equal,
        Op::Gt => ord == Ordering::Greater,
        Op::Ge => ord != Ordering::Less,
        Op::Lt => ord == Ordering::Less,
        Op::Le => ord != Ordering::Greater,
        _ => false,
    }
}

/// Writes `out[i] = values[i] <op> v` for an ordering operator, the operator chosen once
/// outside the loop so that each loop is a plain vectorisable comparison. For floats, IEEE
/// comparisons give exactly the null semantics (NaN is null: only `!=` matches it).
fn fill_cmp<T: PartialOrd + Copy>(out: &mut [bool], values: &[T], op: Op, v: T) {
    fn each<T: Copy>(out: &mut [bool], values: &[T], p: impl Fn(T) -> bool) {
        out.iter_mut().zip(values).for_each(|(o, &x)| *o = p(x));
    }
    match op {
        Op::Eq => each(out, values, |x| x == v),
        Op::Ne => each(out, values, |x| x != v),
        Op::Gt => each(out, values, |x| x > v),
        Op::Ge => each(out, values, |x| x >= v),
        Op::Lt => each(out, values, |x| x < v),
        Op::Le => each(out, values, |x| x <= v),
        _ => out.fill(false),
    }
}

/// Writes `out[i] = pred(i)` (for AND-combination the caller intersects masks).
fn fill(out: &mut [bool], pred: impl Fn(usize) -> bool) {
    for (i, o) in out.iter_mut().enumerate() {
        *o = pred(i);
    }
}

/// Evaluates one filter over every row of the frame.
pub(crate) fn filter_mask(frame: &Frame, f: &Filter) -> Result<Vec<bool>, EngineError> {
    let col = frame.column(&f.column)?;
    let mut out = vec![false; frame.n_rows];
    let op = f.op;
    match col {
        Col::Int { values, valid } => {
            if op.is_string_only() {
                return Err(mismatch(f, col));
            }
            let null_result = op.matches_null();
            match &f.value {
                Literal::Int(v) => fill_cmp(&mut out, values, op, *v),
                Literal::UInt(_) => {
                    // Only integers above i64::MAX are UInt: every value compares Less.
                    let r = holds(op, Ordering::Less);
                    fill(&mut out, |_| r);
                }
                Literal::Float(x) => {
                    let x = *x;
                    fill(&mut out, |i| cmp_i128_f64(i128::from(values[i]), x).is_some_and(|o| holds(op, o)));
                }
                _ => return Err(mismatch(f, col)),
            }
            if let Some(valid) = valid {
                for (o, &ok) in out.iter_mut().zip(valid) {
                    if !ok {
                        *o = null_result;
                    }
                }
            }
        }
        Col::Float { values } => {
            if op.is_string_only() {
                return Err(mismatch(f, col));
            }
            let null_result = op.matches_null();
            let exact_f64 = match &f.value {
                Literal::Float(x) => Some(*x),
                Literal::Int(i) if (*i as f64) as i64 == *i && i.unsigned_abs() <= 1 << 53 => Some(*i as f64),
                Literal::Int(_) | Literal::UInt(_) => None,
                _ => return Err(mismatch(f, col)),
            };
            match exact_f64 {
                Some(v) => {
                    debug_assert_eq!(null_result, op == Op::Ne, "IEEE NaN comparisons are the null semantics");
                    fill_cmp(&mut out, values, op, v)
                }
                None => {
                    let v: i128 = match &f.value {
                        Literal::Int(i) => i128::from(*i),
                        Literal::UInt(u) => i128::from(*u),
                        _ => 0,
                    };
                    fill(&mut out, |i| match cmp_i128_f64(v, values[i]) {
                        None => null_result,
                        Some(o) => holds(op, o.reverse()),
                    });
                }
            }
        }
        Col::Bool { values } => {
            let Literal::Bool(b) = f.value else {
                return Err(mismatch(f, col));
            };
            let b = u8::from(b);
            match op {
                Op::Eq => fill(&mut out, |i| values[i] == b),
                Op::Ne => fill(&mut out, |i| values[i] != b), // nulls (BOOL_NULL) match `!=`
                _ => return Err(mismatch(f, col)),
            }
        }
        Col::Str { codes, dict } => {
            let Literal::Str(v) = &f.value else {
                return Err(mismatch(f, col));
            };
            let per_code: Vec<bool> = match op {
                Op::Eq => dict.iter().map(|s| s == v).collect(),
                Op::Ne => dict.iter().map(|s| s != v).collect(),
                Op::Contains => dict.iter().map(|s| s.contains(v.as_str())).collect(),
                Op::NotContains => dict.iter().map(|s| !s.contains(v.as_str())).collect(),
                Op::Regex => {
                    let re = regex::RegexBuilder::new(v).size_limit(REGEX_SIZE_LIMIT).build().map_err(|e| {
                        EngineError::TypeMismatch {
                            column: f.column.clone(),
                            found: "STRING".into(),
                            usage: format!("with invalid regex: {e}"),
                        }
                    })?;
                    dict.iter().map(|s| re.is_match(s)).collect()
                }
                _ => return Err(mismatch(f, col)),
            };
            let null_result = op.matches_null();
            if let Codes::U8(codes) = codes {
                // One-byte codes: a 256-entry table (the null marker's entry is the null result).
                let mut table = [false; 256];
                table[..per_code.len().min(255)].copy_from_slice(&per_code[..per_code.len().min(255)]);
                table[usize::from(u8::NULL)] = null_result;
                let (set, unset): (Vec<u8>, Vec<u8>) = (0..=255u8).partition(|&c| table[usize::from(c)]);
                match (set.as_slice(), unset.as_slice()) {
                    ([], _) => {}
                    (_, []) => out.fill(true),
                    // One matching code (`event == 'view'`) or all but one (`!=`): a plain byte
                    // comparison, which vectorises (a table lookup per row does not).
                    ([only], _) => out.iter_mut().zip(codes).for_each(|(o, &c)| *o = c == *only),
                    (_, [miss]) => out.iter_mut().zip(codes).for_each(|(o, &c)| *o = c != *miss),
                    _ => out.iter_mut().zip(codes).for_each(|(o, &c)| *o = table[usize::from(c)]),
                }
            } else {
                with_codes!(codes, codes => out.iter_mut().zip(codes).for_each(|(o, &c)| {
                    *o = if c.is_null() { null_result } else { per_code.get(c.index()).copied().unwrap_or(false) }
                }));
            }
        }
    }
    Ok(out)
}

/// Evaluates a filter set (AND, or OR for translated seed `mfilter |`) over every row.
pub(crate) fn filter_set_mask(frame: &Frame, fs: &FilterSet) -> Result<Vec<bool>, EngineError> {
    let Some((first, rest)) = fs.filters().split_first() else {
        return Err(EngineError::Internal("a filter set without filters".into()));
    };
    let mut mask = filter_mask(frame, first)?;
    for f in rest {
        let m = filter_mask(frame, f)?;
        if fs.is_any() {
            mask.iter_mut().zip(&m).for_each(|(a, b)| *a |= *b);
        } else {
            mask.iter_mut().zip(&m).for_each(|(a, b)| *a &= *b);
        }
    }
    Ok(mask)
}

/// Each step's filter set over every row (sequences and funnels).
pub(crate) fn step_masks(frame: &Frame, steps: &[Step]) -> Result<Vec<Vec<bool>>, EngineError> {
    steps.iter().map(|s| filter_set_mask(frame, &s.filters)).collect()
}
