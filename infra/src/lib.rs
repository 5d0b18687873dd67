//! Deployment as a product (docs/deploy.md): the one CloudFormation template
//! (`templates/frocket.yaml`: VPC with two private subnets, S3 gateway endpoint, ElastiCache
//! Redis with TLS and an AUTH token in Secrets Manager, the dataset bucket, least-privilege
//! roles, the worker Lambda with no async retries) and the environments it is deployed as
//! (`envs/<env>.toml`), typed and validated before anything talks to AWS.
//!
//! `deploy` holds the AWS side (change sets, events, status, destroy) that the `frocket-infra`
//! binary runs for `cargo xtask deploy | status | destroy`; `bundle` packages the functions'
//! code deterministically under content-addressed keys.

pub mod bundle;
pub mod deploy;
pub mod env;

pub use env::{EnvError, EnvFault, EnvSpec};

/// The stack template, as deployed.
pub const TEMPLATE: &str = include_str!("../templates/frocket.yaml");

/// Path of the template in the repository (for linters).
pub fn template_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/frocket.yaml")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every parameter the environments fill is declared by the template, and every template
    /// parameter without a default is filled.
    #[test]
    fn parameters_match_the_template() {
        let spec = EnvSpec::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("envs/prod.toml")).unwrap();
        let params = spec.parameters("prod", "bucket", "key", Some("api-key"));
        let section = TEMPLATE.split("\nParameters:\n").nth(1).unwrap().split("\nConditions:\n").next().unwrap();
        let declared: Vec<&str> = section
            .lines()
            .filter(|l| l.starts_with("  ") && !l.starts_with("   ") && l.trim_end().ends_with(':'))
            .map(|l| l.trim().trim_end_matches(':'))
            .collect();
        for (k, _) in &params {
            assert!(declared.contains(&k.as_str()), "{k} is not a template parameter");
        }
        assert_eq!(declared.len(), params.len(), "declared {declared:?}");
    }
}
