//! AWS SDK configuration shared by every AWS client of the project (S3 here, Lambda in the
//! invoker): an explicit region (configured, or `us-east-1`, so that no instance metadata is
//! probed), static credentials when given (emulators, tests) or the standard chain, and the SDK's
//! own retries on or off.

/// The region used when none is configured.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Loads the SDK configuration. `sdk_retries: false` leaves retrying to the caller.
pub async fn sdk_config(
    region: Option<&str>,
    credentials: Option<&(String, String)>,
    sdk_retries: bool,
) -> aws_config::SdkConfig {
    let region = region.unwrap_or(DEFAULT_REGION).to_string();
    let mut loader =
        aws_config::defaults(aws_config::BehaviorVersion::latest()).region(aws_config::Region::new(region));
    if let Some((id, secret)) = credentials {
        loader = loader.credentials_provider(aws_sdk_s3::config::Credentials::new(
            id.clone(),
            secret.clone(),
            None,
            None,
            "frocket-config",
        ));
    }
    if !sdk_retries {
        loader = loader.retry_config(aws_config::retry::RetryConfig::disabled());
    }
    loader.load().await
}
