//! Where a table's objects live: a local folder, a `file://` URL, or an
//! `s3://bucket/prefix/` on S3 or an S3-compatible server such as MinIO.
//!
//! S3 settings come from the `AWS_*` environment variables (`AWS_ENDPOINT_URL`,
//! `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_ALLOW_HTTP`, …) and from `aws.*` table options, which win. A store
//! that the session already has for the bucket is reused when the table
//! gives no `aws.*` option, so a store registered from Rust is kept.
//!
//! A location remembers the `aws.*` options that may travel
//! ([`SHAREABLE_AWS_OPTIONS`]: where the store is, never a credential), so
//! a cluster process can open it again with its own credentials.
//!
//! What must stay true: every request is bounded in time (a missing bucket
//! or a server that does not answer is an error, never a hang), and every
//! error names the location. An `s3://` or `file://` location is a URL,
//! whose path is percent-decoded once (`s3://b/my%20folder/` is the folder
//! `my folder`); a plain local path is taken as written.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::RuntimeEnv;
use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path;
use object_store::{BackoffConfig, RetryConfig};
use url::Url;

use crate::error::{PulseError, Result};

/// Prefix of the table options that configure S3.
pub const AWS_PREFIX: &str = "aws.";

/// The `aws.*` options that may leave the process that was given them
/// ([`Location::options`]): where the store is and how to reach it, never
/// a credential or a key (an allowlist, so a new secret option stays home).
pub const SHAREABLE_AWS_OPTIONS: &[&str] = &[
    "endpoint",
    "endpoint_url",
    "region",
    "default_region",
    "allow_http",
    "virtual_hosted_style_request",
    "skip_signature",
    "unsigned_payload",
    "checksum_algorithm",
    "s3_express",
    "request_payer",
];

/// A resolved location: the store, and the prefix within it.
#[derive(Debug, Clone)]
pub struct Location {
    /// The location as the user wrote it, for error messages.
    pub display: String,
    /// The store's URL (`s3://bucket/`, `file:///`).
    pub store_url: ObjectStoreUrl,
    /// The store.
    pub store: Arc<dyn ObjectStore>,
    /// The prefix within the store; objects are listed below it.
    pub prefix: Path,
    /// The `aws.*` options it was opened with that may travel
    /// ([`SHAREABLE_AWS_OPTIONS`]).
    pub options: BTreeMap<String, String>,
    /// A local folder's absolute `file://` URL.
    pub folder_url: Option<String>,
}

impl Location {
    /// The full URL of an object in this store, for error messages.
    pub fn url_of(&self, path: &Path) -> String {
        format!("{}{}", self.store_url.as_str(), path)
    }

    /// The location as it travels to another process ([`reopen`]): an S3
    /// location as written, a local folder as its absolute `file://` URL
    /// (the same folder if the processes share a file system), whatever
    /// directory that process runs in.
    pub fn shared(&self) -> SharedLocation {
        SharedLocation {
            url: self.folder_url.clone().unwrap_or_else(|| self.display.clone()),
            display: self.display.clone(),
            options: self.options.clone(),
        }
    }
}

/// Resolves `location` with `aws.*` options, registering a newly built S3
/// store in `runtime` so later queries reuse it.
pub fn resolve(runtime: &RuntimeEnv, location: &str, aws: &BTreeMap<String, String>) -> Result<Location> {
    let invalid = |reason: String| PulseError::InvalidLocation {
        location: location.to_string(),
        reason,
    };
    if let Some(rest) = location.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(invalid("no bucket; expected s3://bucket/prefix/".into()));
        }
        let url = Url::parse(&format!("s3://{bucket}/")).map_err(|e| invalid(e.to_string()))?;
        let store_url = ObjectStoreUrl::parse(url.as_str()).map_err(|e| invalid(e.to_string()))?;
        let store = match runtime.object_store(&store_url) {
            Ok(store) if aws.is_empty() => store,
            _ => {
                let store = s3_store(bucket, aws)?;
                runtime.register_object_store(&url, Arc::clone(&store));
                store
            }
        };
        // a URL: its path is percent-decoded once, as DataFusion reads one
        let prefix = percent_decode(prefix.trim_end_matches('/')).map_err(invalid)?;
        let prefix = Path::parse(&prefix).map_err(|e| invalid(e.to_string()))?;
        return Ok(Location {
            display: location.to_string(),
            store_url,
            store,
            prefix,
            folder_url: None,
            options: aws
                .iter()
                .filter(|(k, _)| SHAREABLE_AWS_OPTIONS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        });
    }
    if !aws.is_empty() {
        return Err(invalid("'aws.*' options apply only to s3:// locations".into()));
    }
    let path = match location.strip_prefix("file://") {
        Some(p) => std::path::PathBuf::from(percent_decode(p).map_err(invalid)?),
        None if location.contains("://") => {
            return Err(invalid("use a local path, file:///path or s3://bucket/prefix/".into()));
        }
        None => std::path::PathBuf::from(location),
    };
    let absolute = std::fs::canonicalize(&path).map_err(|e| invalid(format!("the folder cannot be read: {e}")))?;
    if !absolute.is_dir() {
        return Err(invalid("not a folder".into()));
    }
    let prefix = Path::from_filesystem_path(&absolute).map_err(|e| invalid(e.to_string()))?;
    Ok(Location {
        display: location.to_string(),
        store_url: ObjectStoreUrl::local_filesystem(),
        store: Arc::new(object_store::local::LocalFileSystem::new()),
        prefix,
        options: BTreeMap::new(),
        folder_url: Url::from_directory_path(&absolute).ok().map(String::from),
    })
}

/// A location as it travels to another process: where it is (an `s3://`
/// URL, or a local folder's absolute `file://` URL), how the user wrote
/// it (for errors), and its shareable options.
#[derive(Debug, Clone)]
#[cfg_attr(feature = "distributed", derive(serde::Serialize, serde::Deserialize))]
pub struct SharedLocation {
    /// Where it is, for any process on the same storage.
    pub url: String,
    /// As the user wrote it.
    pub display: String,
    /// Its [`SHAREABLE_AWS_OPTIONS`].
    pub options: BTreeMap<String, String>,
}

/// Opens a location that another process resolved ([`Location::shared`]):
/// with its shareable options and this process's `AWS_*` environment for
/// the rest (its credentials); without options, a store this process has
/// for the bucket, or one from its environment.
pub fn reopen(runtime: &RuntimeEnv, shared: &SharedLocation) -> Result<Location> {
    let mut opened = resolve(runtime, &shared.url, &shared.options)?;
    opened.display = shared.display.clone();
    opened.options = shared.options.clone();
    Ok(opened)
}

/// A URL's path, percent-decoded once.
fn percent_decode(path: &str) -> std::result::Result<String, String> {
    percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .map(|p| p.into_owned())
        .map_err(|_| "the path is not UTF-8 once percent-decoded".to_string())
}

/// An S3 store for `bucket`: the environment, then the options; requests
/// time out and retries stop within a bounded time.
pub(crate) fn s3_store(bucket: &str, aws: &BTreeMap<String, String>) -> Result<Arc<dyn ObjectStore>> {
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_config(
            AmazonS3ConfigKey::Client(object_store::ClientConfigKey::ConnectTimeout),
            "5s",
        )
        .with_config(AmazonS3ConfigKey::Client(object_store::ClientConfigKey::Timeout), "60s")
        .with_retry(RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: 3,
            retry_timeout: Duration::from_secs(30),
        });
    for (key, value) in aws {
        let config_key = AmazonS3ConfigKey::from_str(&format!("aws_{key}")).map_err(|_| PulseError::InvalidOption {
            key: format!("{AWS_PREFIX}{key}"),
            reason: "not an S3 setting; use e.g. aws.endpoint, aws.region, aws.access_key_id, \
                     aws.secret_access_key, aws.session_token, aws.allow_http"
                .into(),
        })?;
        builder = builder.with_config(config_key, value);
    }
    let store = builder.build().map_err(|e| PulseError::InvalidLocation {
        location: format!("s3://{bucket}/"),
        reason: format!("cannot configure S3: {e}"),
    })?;
    Ok(Arc::new(store))
}
