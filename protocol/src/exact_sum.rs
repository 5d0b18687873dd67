//! Exact floating-point summation (Shewchuk's algorithm, as Python's `math.fsum`).
//!
//! An [`ExactSum`] holds the sum of any number of `f64`s with no rounding error, as a short list
//! of non-overlapping partials. Adding values or merging sums is therefore associative and
//! commutative *exactly*, so a float aggregation gives bit-identical results whatever the order
//! of rows, the number of parts or the order in which partial results are merged. [`value`]
//! rounds once, correctly, at the end.
//!
//! [`value`]: ExactSum::value

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExactSum {
    /// Non-overlapping partials in increasing magnitude; their exact sum is the value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    partials: Vec<f64>,
    /// Infinities and NaNs seen are kept aside (inf + -inf = NaN, as IEEE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    special: Option<f64>,
}

impl ExactSum {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, x: f64) {
        if !x.is_finite() {
            self.special = Some(self.special.map_or(x, |s| s + x));
            return;
        }
        let mut x = x;
        let mut i = 0;
        for j in 0..self.partials.len() {
            let mut y = self.partials[j];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            if !hi.is_finite() {
                // Overflow of an intermediate sum: the true sum is beyond f64 range.
                self.special = Some(self.special.map_or(hi, |s| s + hi));
                return;
            }
            let lo = y - (hi - x);
            if lo != 0.0 {
                self.partials[i] = lo;
                i += 1;
            }
            x = hi;
        }
        self.partials.truncate(i);
        self.partials.push(x);
    }

    pub fn merge(&mut self, other: &ExactSum) {
        for &p in &other.partials {
            self.add(p);
        }
        if let Some(s) = other.special {
            self.special = Some(self.special.map_or(s, |t| t + s));
        }
    }

    /// The correctly rounded value of the exact sum.
    pub fn value(&self) -> f64 {
        if let Some(s) = self.special {
            return s;
        }
        let p = &self.partials;
        let mut n = p.len();
        if n == 0 {
            return 0.0;
        }
        n -= 1;
        let mut hi = p[n];
        let mut lo = 0.0;
        while n > 0 {
            let x = hi;
            n -= 1;
            let y = p[n];
            hi = x + y;
            let yr = hi - x;
            lo = y - yr;
            if lo != 0.0 {
                break;
            }
        }
        // Round half to even correctly when the remaining partials push past a halfway point.
        if n > 0 && ((lo < 0.0 && p[n - 1] < 0.0) || (lo > 0.0 && p[n - 1] > 0.0)) {
            let y = lo * 2.0;
            let x = hi + y;
            let yr = x - hi;
            if y == yr {
                hi = x;
            }
        }
        hi
    }
}

impl FromIterator<f64> for ExactSum {
    fn from_iter<I: IntoIterator<Item = f64>>(iter: I) -> Self {
        let mut s = ExactSum::new();
        for x in iter {
            s.add(x);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn classic_cancellation_is_exact() {
        let s: ExactSum = [1e100, 1.0, -1e100].into_iter().collect();
        assert_eq!(s.value(), 1.0);
        let s: ExactSum = [0.1; 10].into_iter().collect();
        assert_eq!(s.value(), 1.0);
        assert_eq!(ExactSum::new().value(), 0.0);
    }

    #[test]
    fn specials_follow_ieee() {
        let s: ExactSum = [1.0, f64::INFINITY].into_iter().collect();
        assert_eq!(s.value(), f64::INFINITY);
        let s: ExactSum = [f64::INFINITY, f64::NEG_INFINITY].into_iter().collect();
        assert!(s.value().is_nan());
        let s: ExactSum = [f64::MAX, f64::MAX].into_iter().collect();
        assert_eq!(s.value(), f64::INFINITY);
    }

    // Reference: sums of small dyadic values are exact in plain f64 arithmetic.
    proptest! {
        #[test]
        fn order_and_grouping_do_not_matter(xs in prop::collection::vec(-1e6f64..1e6, 0..60), split in 0usize..60) {
            let all: ExactSum = xs.iter().copied().collect();
            let mut rev: ExactSum = xs.iter().rev().copied().collect();
            let k = split.min(xs.len());
            let mut a: ExactSum = xs[..k].iter().copied().collect();
            let b: ExactSum = xs[k..].iter().copied().collect();
            a.merge(&b);
            prop_assert_eq!(all.value().to_bits(), a.value().to_bits());
            rev.merge(&ExactSum::new());
            prop_assert_eq!(all.value().to_bits(), rev.value().to_bits());
        }

        #[test]
        fn matches_exact_integer_arithmetic(xs in prop::collection::vec(-1_000_000i64..1_000_000, 0..60)) {
            // Values k/1024 are exact in f64, so the true sum is (sum k)/1024.
            let s: ExactSum = xs.iter().map(|&k| k as f64 / 1024.0).collect();
            let want = xs.iter().sum::<i64>() as f64 / 1024.0;
            prop_assert_eq!(s.value(), want);
        }
    }
}
