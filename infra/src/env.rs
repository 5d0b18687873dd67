//! Environment descriptions (`infra/envs/<env>.toml`): what differs between deployments of the
//! one stack template — region, zones, network, Redis and Lambda sizes, buckets, tags — typed
//! and validated before anything talks to AWS, every fault reported with its TOML path.
//!
//! Decisions (docs/deploy.md): exactly two availability zones (one private subnet each: what
//! ElastiCache multi-AZ failover and Lambda need; CloudFormation has no loops, and a third zone
//! adds cost without changing availability for this workload); private subnets only (workers
//! reach S3 through the gateway endpoint and Redis inside the VPC; nothing needs the internet).

use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;

/// One fault in an environment file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvFault {
    /// TOML path of the value at fault (`redis.replicas`, `private_subnet_cidrs[1]`).
    pub path: String,
    pub message: String,
}

/// Why an environment cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    /// Not TOML, or a value of the wrong type or an unknown key.
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    /// Well-formed but unusable: every fault.
    #[error("{path}: {} problem(s): {}", faults.len(), faults.iter().map(|f| format!("{}: {}", f.path, f.message)).collect::<Vec<_>>().join("; "))]
    Invalid { path: String, faults: Vec<EnvFault> },
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSpec {
    /// ElastiCache node type (`cache.t4g.small`).
    pub node_type: String,
    /// Read replicas (≥ 1: multi-AZ automatic failover needs one).
    pub replicas: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Architecture {
    Arm64,
    X86_64,
}

impl Architecture {
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::Arm64 => "arm64",
            Architecture::X86_64 => "x86_64",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LambdaSpec {
    /// MB; 1769 is one full vCPU.
    pub memory_mb: u32,
    pub timeout_s: u32,
    #[serde(default = "default_arch")]
    pub architecture: Architecture,
    /// Reserved concurrency of the worker function (none: the account's shared pool).
    #[serde(default)]
    pub reserved_concurrency: Option<u32>,
}

fn default_arch() -> Architecture {
    Architecture::Arm64
}

/// One environment.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvSpec {
    pub region: String,
    pub availability_zones: Vec<String>,
    pub vpc_cidr: String,
    pub private_subnet_cidrs: Vec<String>,
    pub redis: RedisSpec,
    pub lambda: LambdaSpec,
    /// Existing buckets (besides the stack's own dataset bucket) the workers may read.
    #[serde(default)]
    pub extra_dataset_buckets: Vec<String>,
    /// Days CloudWatch keeps the functions' logs.
    #[serde(default = "default_retention")]
    pub log_retention_days: u32,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

fn default_retention() -> u32 {
    30
}

/// CloudWatch Logs' allowed retention periods.
const RETENTION_DAYS: &[u32] =
    &[1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

/// An IPv4 CIDR block: network address and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: u32,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (a, p) = s.split_once('/').ok_or_else(|| format!("{s:?} is not a CIDR block (a.b.c.d/n)"))?;
        let addr: Ipv4Addr = a.parse().map_err(|_| format!("{a:?} is not an IPv4 address"))?;
        let prefix: u8 = p.parse().map_err(|_| format!("{p:?} is not a prefix length"))?;
        if prefix > 32 {
            return Err(format!("prefix /{prefix} is longer than 32"));
        }
        let addr = u32::from(addr);
        let mask = Self::mask(prefix);
        if addr & !mask != 0 {
            return Err(format!("{s} has host bits set (the network is {}/{prefix})", Ipv4Addr::from(addr & mask)));
        }
        Ok(Cidr { addr, prefix })
    }

    fn mask(prefix: u8) -> u32 {
        if prefix == 0 { 0 } else { u32::MAX << (32 - prefix) }
    }

    pub fn contains(&self, other: &Cidr) -> bool {
        other.prefix >= self.prefix && other.addr & Self::mask(self.prefix) == self.addr
    }

    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.contains(other) || other.contains(self)
    }
}

/// S3's bucket naming rules (the subset that matters: length, characters, shape).
fn bucket_name_fault(b: &str) -> Option<String> {
    let ok_chars = b.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    let edges = b.starts_with(|c: char| c.is_ascii_alphanumeric()) && b.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !(3..=63).contains(&b.len()) || !ok_chars || !edges || b.contains("..") || b.parse::<Ipv4Addr>().is_ok() {
        Some(format!("{b:?} is not a valid S3 bucket name (3-63 of a-z, 0-9, '-', '.'; alphanumeric at both ends)"))
    } else {
        None
    }
}

impl EnvSpec {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<EnvSpec, EnvError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| EnvError::Read { path: shown.clone(), source })?;
        EnvSpec::parse(&text, &shown)
    }

    /// Parses and validates the text of an environment file (`shown` names it in errors).
    pub fn parse(text: &str, shown: &str) -> Result<EnvSpec, EnvError> {
        let spec: EnvSpec = toml::from_str(text)
            .map_err(|e| EnvError::Parse { path: shown.into(), message: e.message().to_string() })?;
        let faults = spec.faults();
        if faults.is_empty() { Ok(spec) } else { Err(EnvError::Invalid { path: shown.into(), faults }) }
    }

    /// Every fault of a well-formed description.
    pub fn faults(&self) -> Vec<EnvFault> {
        let mut out = Vec::new();
        let mut fault = |path: &str, message: String| out.push(EnvFault { path: path.into(), message });
        let region_ok = {
            let parts: Vec<&str> = self.region.split('-').collect();
            parts.len() >= 3
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()))
                && parts.last().is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
        };
        if !region_ok {
            fault("region", format!("{:?} is not an AWS region name (e.g. eu-west-1)", self.region));
        }
        if self.availability_zones.len() != 2 {
            fault(
                "availability_zones",
                format!("exactly 2 zones (one private subnet each), found {}", self.availability_zones.len()),
            );
        }
        for (i, z) in self.availability_zones.iter().enumerate() {
            let suffix = z.strip_prefix(self.region.as_str());
            if !suffix.is_some_and(|s| s.len() == 1 && s.chars().all(|c| c.is_ascii_lowercase())) {
                fault(&format!("availability_zones[{i}]"), format!("{z:?} is not a zone of {}", self.region));
            }
            if self.availability_zones[..i].contains(z) {
                fault(&format!("availability_zones[{i}]"), format!("{z:?} is listed twice"));
            }
        }
        let vpc = match Cidr::parse(&self.vpc_cidr) {
            Ok(c) if (16..=24).contains(&c.prefix) => Some(c),
            Ok(c) => {
                fault("vpc_cidr", format!("a VPC is /16 to /24, not /{}", c.prefix));
                None
            }
            Err(e) => {
                fault("vpc_cidr", e);
                None
            }
        };
        if self.private_subnet_cidrs.len() != self.availability_zones.len() {
            fault(
                "private_subnet_cidrs",
                format!(
                    "one subnet per zone: {} zones, {} subnets",
                    self.availability_zones.len(),
                    self.private_subnet_cidrs.len()
                ),
            );
        }
        let mut subnets: Vec<Cidr> = Vec::new();
        for (i, s) in self.private_subnet_cidrs.iter().enumerate() {
            let path = format!("private_subnet_cidrs[{i}]");
            match Cidr::parse(s) {
                Err(e) => fault(&path, e),
                Ok(c) if !(16..=28).contains(&c.prefix) => {
                    fault(&path, format!("a subnet is /16 to /28, not /{}", c.prefix))
                }
                Ok(c) => {
                    if let Some(v) = vpc
                        && !v.contains(&c)
                    {
                        fault(&path, format!("{s} is not inside the VPC {}", self.vpc_cidr));
                    }
                    if subnets.iter().any(|o| o.overlaps(&c)) {
                        fault(&path, format!("{s} overlaps another subnet"));
                    }
                    subnets.push(c);
                }
            }
        }
        if !self.redis.node_type.starts_with("cache.") || self.redis.node_type.len() < 10 {
            fault(
                "redis.node_type",
                format!("{:?} is not an ElastiCache node type (cache.t4g.small)", self.redis.node_type),
            );
        }
        if !(1..=5).contains(&self.redis.replicas) {
            fault(
                "redis.replicas",
                format!("1 to 5 replicas (multi-AZ failover needs one), not {}", self.redis.replicas),
            );
        }
        if !(128..=10_240).contains(&self.lambda.memory_mb) {
            fault("lambda.memory_mb", format!("Lambda memory is 128 to 10240 MB, not {}", self.lambda.memory_mb));
        }
        if !(1..=900).contains(&self.lambda.timeout_s) {
            fault("lambda.timeout_s", format!("Lambda timeout is 1 to 900 s, not {}", self.lambda.timeout_s));
        }
        if self.lambda.reserved_concurrency == Some(0) {
            fault("lambda.reserved_concurrency", "0 would stop the workers from ever running; omit it for none".into());
        }
        for (i, b) in self.extra_dataset_buckets.iter().enumerate() {
            if let Some(m) = bucket_name_fault(b) {
                fault(&format!("extra_dataset_buckets[{i}]"), m);
            }
        }
        if !RETENTION_DAYS.contains(&self.log_retention_days) {
            fault(
                "log_retention_days",
                format!("CloudWatch keeps logs for one of {RETENTION_DAYS:?} days, not {}", self.log_retention_days),
            );
        }
        for (k, v) in &self.tags {
            if k.is_empty() || k.len() > 128 || k.starts_with("aws:") || v.len() > 256 {
                fault(
                    &format!("tags.{k}"),
                    "a tag key is 1-128 characters, not 'aws:...', its value at most 256".into(),
                );
            }
        }
        out
    }

    /// The stack template's parameters for this environment (names as in
    /// `infra/templates/frocket.yaml`): `artifact_key` is the uploaded worker bundle,
    /// `api_artifact_key` the API server's (none: no API function).
    pub fn parameters(
        &self,
        env: &str,
        artifact_bucket: &str,
        artifact_key: &str,
        api_artifact_key: Option<&str>,
    ) -> Vec<(String, String)> {
        let p = |k: &str, v: String| (k.to_string(), v);
        vec![
            p("EnvName", env.to_string()),
            p("AvailabilityZoneA", self.availability_zones[0].clone()),
            p("AvailabilityZoneB", self.availability_zones[1].clone()),
            p("VpcCidr", self.vpc_cidr.clone()),
            p("PrivateSubnetACidr", self.private_subnet_cidrs[0].clone()),
            p("PrivateSubnetBCidr", self.private_subnet_cidrs[1].clone()),
            p("RedisNodeType", self.redis.node_type.clone()),
            p("RedisNodes", (self.redis.replicas + 1).to_string()),
            p("WorkerMemoryMb", self.lambda.memory_mb.to_string()),
            p("WorkerTimeoutS", self.lambda.timeout_s.to_string()),
            p("WorkerArchitecture", self.lambda.architecture.as_str().to_string()),
            p("WorkerReservedConcurrency", self.lambda.reserved_concurrency.unwrap_or(0).to_string()),
            p(
                "ExtraDatasetObjectArns",
                self.extra_dataset_buckets.iter().map(|b| format!("arn:aws:s3:::{b}/*")).collect::<Vec<_>>().join(","),
            ),
            p("LogRetentionDays", self.log_retention_days.to_string()),
            p("ArtifactBucket", artifact_bucket.to_string()),
            p("ArtifactKey", artifact_key.to_string()),
            p("ApiArtifactKey", api_artifact_key.unwrap_or_default().to_string()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
region = "eu-west-1"
availability_zones = ["eu-west-1a", "eu-west-1b"]
vpc_cidr = "10.42.0.0/16"
private_subnet_cidrs = ["10.42.1.0/24", "10.42.2.0/24"]
[redis]
node_type = "cache.t4g.small"
replicas = 1
[lambda]
memory_mb = 1769
timeout_s = 30
"#;

    #[test]
    fn a_good_environment_parses_with_defaults() {
        let e = EnvSpec::parse(GOOD, "good.toml").unwrap();
        assert_eq!(e.lambda.architecture, Architecture::Arm64);
        assert_eq!(e.log_retention_days, 30);
        let params = e.parameters("prod", "art", "bootstrap-abc.zip", None);
        assert!(params.contains(&("WorkerArchitecture".into(), "arm64".into())));
        assert!(params.contains(&("WorkerReservedConcurrency".into(), "0".into())));
        assert!(params.contains(&("RedisNodes".into(), "2".into())));
    }

    #[test]
    fn every_fault_is_reported_with_its_path() {
        let bad = "log_retention_days = 10\nextra_dataset_buckets = [\"Bad_Bucket\"]\n".to_string()
            + &GOOD
                .replace("eu-west-1b\"]", "us-east-1b\", \"eu-west-1a\"]")
                .replace("10.42.2.0/24", "10.43.1.0/25")
                .replace("replicas = 1", "replicas = 0")
                .replace("timeout_s = 30", "timeout_s = 1000\nreserved_concurrency = 0");
        let Err(EnvError::Invalid { faults, .. }) = EnvSpec::parse(&bad, "bad.toml") else { panic!("invalid") };
        let paths: Vec<&str> = faults.iter().map(|f| f.path.as_str()).collect();
        for p in [
            "availability_zones",
            "availability_zones[1]",
            "availability_zones[2]",
            "private_subnet_cidrs",
            "private_subnet_cidrs[1]",
            "redis.replicas",
            "lambda.timeout_s",
            "lambda.reserved_concurrency",
            "extra_dataset_buckets[0]",
            "log_retention_days",
        ] {
            assert!(paths.contains(&p), "{p} missing from {paths:?}");
        }
        // Unknown keys and wrong types are parse errors that name the key.
        let e =
            EnvSpec::parse(&GOOD.replace("[redis]", "colour = \"red\"\n[redis]"), "x.toml").unwrap_err().to_string();
        assert!(e.contains("colour"), "{e}");
        let e = EnvSpec::parse(&GOOD.replace("replicas = 1", "replicas = \"one\""), "x.toml").unwrap_err().to_string();
        assert!(e.contains("x.toml"), "{e}");
    }

    #[test]
    fn cidr_arithmetic() {
        let vpc = Cidr::parse("10.0.0.0/16").unwrap();
        assert!(vpc.contains(&Cidr::parse("10.0.255.0/24").unwrap()));
        assert!(!vpc.contains(&Cidr::parse("10.1.0.0/24").unwrap()));
        assert!(Cidr::parse("10.0.0.0/24").unwrap().overlaps(&Cidr::parse("10.0.0.128/25").unwrap()));
        assert!(!Cidr::parse("10.0.0.0/25").unwrap().overlaps(&Cidr::parse("10.0.0.128/25").unwrap()));
        assert!(Cidr::parse("10.0.0.1/24").unwrap_err().contains("host bits"));
        assert!(Cidr::parse("10.0.0.0/33").is_err() && Cidr::parse("nope").is_err());
    }

    #[test]
    fn the_repository_environments_are_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("envs");
        let mut n = 0;
        for f in std::fs::read_dir(&dir).unwrap() {
            let p = f.unwrap().path();
            if p.extension().is_some_and(|e| e == "toml") {
                EnvSpec::load(&p).unwrap_or_else(|e| panic!("{e}"));
                n += 1;
            }
        }
        assert!(n >= 2, "expected the example environments");
    }
}
