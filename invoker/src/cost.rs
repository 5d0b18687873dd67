//! What a job's Lambda invocations cost (docs/lambda.md "Cost"): the billed milliseconds and
//! configured memory every Lambda worker reports with its result, priced per GB-second (by
//! region and architecture, overridable) plus the per-request price.

use protocol::job::LambdaStats;
use protocol::task::TaskMetrics;

/// Dollars per GB-second of x86_64 functions by region (public list prices, first tier); arm64
/// is 20% less. Regions not listed use the `us-east-1` price.
const X86_GB_SECOND: &[(&str, f64)] = &[
    ("us-east-1", 0.0000166667),
    ("eu-south-1", 0.0000195172),
    ("me-south-1", 0.0000206667),
    ("ap-northeast-3", 0.00002153),
    ("af-south-1", 0.0000221),
    ("ap-east-1", 0.00002292),
];

/// Prices to apply; `per_gb_second` overrides the table (`FROCKET_LAMBDA_PRICE_PER_GB_SECOND`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LambdaPrices {
    pub per_gb_second: Option<f64>,
    /// Dollars per million requests (`FROCKET_LAMBDA_PRICE_PER_MILLION_REQUESTS`, 0.20).
    pub per_million_requests: f64,
}

impl Default for LambdaPrices {
    fn default() -> Self {
        LambdaPrices { per_gb_second: None, per_million_requests: 0.20 }
    }
}

impl LambdaPrices {
    /// Dollars per GB-second for a function in `region` on `architecture`.
    pub fn gb_second(&self, region: Option<&str>, architecture: &str) -> f64 {
        if let Some(p) = self.per_gb_second {
            return p;
        }
        let x86 = X86_GB_SECOND.iter().find(|(r, _)| Some(*r) == region).map_or(X86_GB_SECOND[0].1, |(_, p)| *p);
        if architecture == "arm64" { x86 * 0.8 } else { x86 }
    }
}

/// Sums the Lambda usage of every attempt that reported back.
#[derive(Debug, Clone, Default)]
pub struct UsageMeter {
    prices: LambdaPrices,
    stats: LambdaStats,
    dollars: f64,
}

impl UsageMeter {
    pub fn new(prices: LambdaPrices) -> UsageMeter {
        UsageMeter { prices, ..UsageMeter::default() }
    }

    pub fn add(&mut self, m: &TaskMetrics) {
        let Some(l) = &m.lambda else { return };
        let seconds = l.billed_ms as f64 / 1e3;
        let gb_seconds = seconds * f64::from(l.memory_mb) / 1024.0;
        self.stats.invocations += 1;
        self.stats.cold_starts += u64::from(l.cold_start);
        self.stats.billed_seconds += seconds;
        self.stats.gb_seconds += gb_seconds;
        self.dollars += gb_seconds * self.prices.gb_second(l.region.as_deref(), &l.architecture)
            + self.prices.per_million_requests / 1e6;
    }

    /// The usage and its cost in dollars; `None` when no attempt ran on Lambda.
    pub fn finish(self) -> Option<(LambdaStats, f64)> {
        (self.stats.invocations > 0).then_some((self.stats, self.dollars))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::task::LambdaInvocation;

    fn m(billed_ms: u64, memory_mb: u32, arch: &str, region: &str, cold: bool) -> TaskMetrics {
        TaskMetrics {
            lambda: Some(LambdaInvocation {
                cold_start: cold,
                memory_mb,
                architecture: arch.into(),
                billed_ms,
                region: Some(region.into()),
            }),
            ..TaskMetrics::default()
        }
    }

    #[test]
    fn cost_is_gb_seconds_times_the_regional_price_plus_requests() {
        let mut u = UsageMeter::new(LambdaPrices::default());
        u.add(&TaskMetrics::default()); // not a Lambda attempt: ignored
        // 1.5 s at 2048 MB = 3 GB-s on x86 in us-east-1; 0.5 s at 1024 MB = 0.5 GB-s on arm64.
        u.add(&m(1500, 2048, "x86_64", "us-east-1", true));
        u.add(&m(500, 1024, "arm64", "us-east-1", false));
        let (s, dollars) = u.finish().unwrap();
        assert_eq!((s.invocations, s.cold_starts), (2, 1));
        assert!((s.billed_seconds - 2.0).abs() < 1e-12 && (s.gb_seconds - 3.5).abs() < 1e-12);
        let want = 3.0 * 0.0000166667 + 0.5 * 0.0000166667 * 0.8 + 2.0 * 0.20 / 1e6;
        assert!((dollars - want).abs() < 1e-15, "{dollars} vs {want}");
        assert_eq!(UsageMeter::new(LambdaPrices::default()).finish(), None);
    }

    #[test]
    fn regional_prices_and_overrides() {
        let p = LambdaPrices::default();
        assert_eq!(p.gb_second(Some("ap-east-1"), "x86_64"), 0.00002292);
        assert_eq!(p.gb_second(Some("nowhere-1"), "x86_64"), 0.0000166667);
        assert_eq!(p.gb_second(None, "arm64"), 0.0000166667 * 0.8);
        let o = LambdaPrices { per_gb_second: Some(1e-5), per_million_requests: 0.0 };
        assert_eq!(o.gb_second(Some("ap-east-1"), "arm64"), 1e-5);
        let mut u = UsageMeter::new(o);
        u.add(&m(1000, 1024, "arm64", "eu-south-1", false));
        assert_eq!(u.finish().unwrap().1, 1e-5);
    }
}
