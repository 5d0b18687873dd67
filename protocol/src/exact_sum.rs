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

impl ExactSum {
    /// Adds an integer exactly (as up to three 52-bit chunks, each exactly an `f64`).
    pub fn add_i128(&mut self, v: i128) {
        let neg = v < 0;
        let mut m = v.unsigned_abs();
        let mut scale = 1.0f64;
        while m != 0 {
            let chunk = (m & ((1u128 << 52) - 1)) as f64 * scale;
            self.add(if neg { -chunk } else { chunk });
            m >>= 52;
            scale *= 4_503_599_627_370_496.0; // 2^52
        }
    }
}

/// An exact sum that is fast for whole numbers: integral values up to 2^53 in magnitude (prices,
/// quantities, ids stored as floats) go to an `i128`, exactly; any other value to an
/// [`ExactSum`]. [`FastExactSum::finish`] gives the same exact sum as adding every value to an
/// `ExactSum`, at a fraction of the cost per value.
#[derive(Debug, Clone, Default)]
pub struct FastExactSum {
    ints: i128,
    rest: ExactSum,
}

impl FastExactSum {
    pub fn new() -> Self {
        Self::default()
    }

    #[inline]
    pub fn add(&mut self, x: f64) {
        // Every f64 of magnitude <= 2^53 that equals its truncation is an integer that converts
        // to i64 exactly; 2^74 such additions would be needed to overflow the i128.
        // `x as i64` truncates (saturating, NaN → 0): x is whole iff it converts back to itself.
        let i = x as i64;
        if x.abs() <= 9_007_199_254_740_992.0 && i as f64 == x {
            self.ints += i128::from(i);
        } else {
            self.rest.add(x);
        }
    }

    /// The correctly rounded value of the exact sum so far.
    pub fn value(&self) -> f64 {
        if self.rest.partials.is_empty() && self.rest.special.is_none() {
            // Only whole numbers: the i128 rounded once.
            return self.ints as f64;
        }
        self.clone().finish().value()
    }

    pub fn finish(self) -> ExactSum {
        let mut s = self.rest;
        if self.ints != 0 {
            s.add_i128(self.ints);
        }
        s
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

    #[test]
    fn integers_add_exactly_in_chunks() {
        for v in [0i128, 1, -1, 1 << 53, (1 << 53) + 1, -(1 << 90) - 12345, i128::from(i64::MAX) * 1000 + 7] {
            let mut s = ExactSum::new();
            s.add_i128(v);
            // Round-trip through the exact value: compare with the correctly rounded i128.
            assert_eq!(s.value(), v as f64, "{v}");
            s.add_i128(-v);
            assert_eq!(s.value(), 0.0, "{v} - {v}");
        }
        let mut s = ExactSum::new();
        s.add_i128((1 << 60) + 1);
        s.add(-((1u64 << 60) as f64));
        assert_eq!(s.value(), 1.0, "no bit of the integer is lost");
    }

    #[test]
    fn fast_sum_keeps_specials_and_fractions() {
        let mut f = FastExactSum::new();
        for x in [1e300, 3.0, f64::INFINITY, 0.5] {
            f.add(x);
        }
        assert_eq!(f.finish().value(), f64::INFINITY);
        let mut f = FastExactSum::new();
        for x in [1e16, 3.0, -1e16, 0.25, 9_007_199_254_740_993.0] {
            f.add(x);
        }
        let want: ExactSum = [1e16, 3.0, -1e16, 0.25, 9_007_199_254_740_993.0].into_iter().collect();
        assert_eq!(f.finish().value(), want.value());
    }

    // Reference: sums of small dyadic values are exact in plain f64 arithmetic.
    proptest! {
        #[test]
        fn fast_sum_equals_exact_sum(
            xs in prop::collection::vec(prop_oneof![
                (-1_000_000i64..1_000_000).prop_map(|i| i as f64),
                (-4e15f64..4e15).prop_map(f64::trunc),
                -1e6f64..1e6,
                prop::num::f64::NORMAL,
            ], 0..80)
        ) {
            let mut fast = FastExactSum::new();
            xs.iter().for_each(|&x| fast.add(x));
            let exact: ExactSum = xs.iter().copied().collect();
            prop_assert_eq!(fast.finish().value().to_bits(), exact.value().to_bits());
        }

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
