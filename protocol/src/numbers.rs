//! Exact comparisons between integers and floats (no rounding through f64).

use crate::query::Literal;

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
