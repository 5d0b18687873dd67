//! Secrets the deployment keeps in AWS Secrets Manager — the Redis AUTH token of the stack
//! (docs/deploy.md) — read once at start-up, never logged, and put into the Redis URL.

use crate::StorageError;

/// The secret string of `secret_id` (name or ARN). Not found or not allowed are permanent;
/// anything else (network, throttling) is transient.
pub async fn secret_string(sdk: &aws_config::SdkConfig, secret_id: &str) -> Result<String, StorageError> {
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let out = client.get_secret_value().secret_id(secret_id).send().await.map_err(|e| {
        let service = e.as_service_error();
        let what = format!("read secret {secret_id}");
        match service {
            Some(s) if s.is_resource_not_found_exception() => StorageError::NotFound(what),
            Some(s) if s.meta().code() == Some("AccessDeniedException") => StorageError::AccessDenied(what),
            _ => StorageError::Transient(format!("{what}: {}", aws_sdk_secretsmanager::error::DisplayErrorContext(&e))),
        }
    })?;
    out.secret_string()
        .map(str::to_string)
        .ok_or_else(|| StorageError::Other(format!("secret {secret_id} has no string value")))
}

/// `url` with `password` as its AUTH password (percent-encoded), replacing any it had.
pub fn with_redis_password(url: &str, password: &str) -> Result<String, StorageError> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| StorageError::InvalidPath(format!("not a Redis URL: {}", crate::redis::redact(url))))?;
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let mut enc = String::new();
    for b in password.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            enc.push(b as char);
        } else {
            enc.push_str(&format!("%{b:02X}"));
        }
    }
    Ok(format!("{scheme}://:{enc}@{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_goes_into_the_url_encoded() {
        assert_eq!(with_redis_password("rediss://r.example:6379/0", "abc").unwrap(), "rediss://:abc@r.example:6379/0");
        assert_eq!(with_redis_password("redis://:old@h:1/2", "a b/c").unwrap(), "redis://:a%20b%2Fc@h:1/2");
        assert!(with_redis_password("nonsense", "x").is_err());
    }
}
