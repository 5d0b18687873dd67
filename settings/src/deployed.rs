//! A deployed environment as this machine knows it: `infra/envs/<env>.outputs.json`, written
//! by `cargo xtask deploy --env <env>` (the `infra` crate) and read by `frocket --env <env>` and
//! `cargo xtask query | status | dataprep --env`. Git-ignored: it names one account's resources.
//!
//! The file is the stack's outputs plus where they came from (region, stack, account); the
//! keys of `outputs` are the template's output names (infra/templates/frocket.yaml).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where `<env>.outputs.json` files live: `FROCKET_ENVS_DIR`, else `infra/envs` under the
/// current directory.
pub fn envs_dir() -> PathBuf {
    std::env::var_os("FROCKET_ENVS_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("infra/envs"))
}

/// The outputs file of an environment.
pub fn outputs_path(dir: &Path, env: &str) -> PathBuf {
    dir.join(format!("{env}.outputs.json"))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeployedEnv {
    pub env: String,
    pub region: String,
    pub account: String,
    pub stack_name: String,
    pub stack_id: String,
    /// The stack's outputs by name.
    pub outputs: BTreeMap<String, String>,
    /// Unix seconds of the deploy that wrote the file.
    pub deployed_at: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum DeployedEnvError {
    #[error("environment {env:?} is not deployed from here: {path} is missing (run `cargo xtask deploy --env {env}`)")]
    NotDeployed { env: String, path: String },
    #[error("read {path}: {message}")]
    Unreadable { path: String, message: String },
    #[error("{path} has no output {output} (deployed with an older template? run `cargo xtask deploy --env {env}`)")]
    MissingOutput { env: String, path: String, output: String },
}

impl DeployedEnv {
    /// Reads `<dir>/<env>.outputs.json`.
    pub fn load(dir: &Path, env: &str) -> Result<DeployedEnv, DeployedEnvError> {
        let path = outputs_path(dir, env);
        let shown = path.display().to_string();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(DeployedEnvError::NotDeployed { env: env.into(), path: shown });
            }
            Err(e) => return Err(DeployedEnvError::Unreadable { path: shown, message: e.to_string() }),
        };
        serde_json::from_str(&text).map_err(|e| DeployedEnvError::Unreadable { path: shown, message: e.to_string() })
    }

    /// Writes it to `<dir>/<env>.outputs.json` (atomically).
    pub fn save(&self, dir: &Path) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        let path = outputs_path(dir, &self.env);
        let text = serde_json::to_string_pretty(self).expect("plain data serializes");
        storage::embedded::write_atomic(&path, format!("{text}\n").as_bytes())
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(path)
    }

    /// One output, or an error naming the file.
    pub fn output(&self, dir: &Path, name: &str) -> Result<&str, DeployedEnvError> {
        self.outputs.get(name).map(String::as_str).ok_or_else(|| DeployedEnvError::MissingOutput {
            env: self.env.clone(),
            path: outputs_path(dir, &self.env).display().to_string(),
            output: name.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let e = DeployedEnv::load(dir.path(), "dev").unwrap_err().to_string();
        assert!(e.contains("not deployed") && e.contains("cargo xtask deploy --env dev"), "{e}");
        let env = DeployedEnv {
            env: "dev".into(),
            region: "eu-west-1".into(),
            account: "123456789012".into(),
            stack_name: "frocket-dev".into(),
            stack_id: "arn:stack".into(),
            outputs: [("ApiFunctionName".to_string(), "frocket-dev-api".to_string())].into(),
            deployed_at: 1,
        };
        let path = env.save(dir.path()).unwrap();
        assert_eq!(path, dir.path().join("dev.outputs.json"));
        let back = DeployedEnv::load(dir.path(), "dev").unwrap();
        assert_eq!(back, env);
        assert_eq!(back.output(dir.path(), "ApiFunctionName").unwrap(), "frocket-dev-api");
        let e = back.output(dir.path(), "ApiUrl").unwrap_err().to_string();
        assert!(e.contains("no output ApiUrl"), "{e}");
        std::fs::write(dir.path().join("bad.outputs.json"), "{").unwrap();
        assert!(DeployedEnv::load(dir.path(), "bad").unwrap_err().to_string().contains("bad.outputs.json"));
    }
}
