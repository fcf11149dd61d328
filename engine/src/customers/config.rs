//! The customers table's configuration and its `OPTIONS` parser.
//!
//! What must stay true: every accepted option is in [`ACCEPTED_OPTIONS`];
//! anything else is an error naming the key and that list; `aws.*` keys are
//! S3 settings, checked when the store is built.

use std::collections::{BTreeMap, HashMap};

use crate::error::{PulseError, Result};
use crate::storage::AWS_PREFIX;

/// The options a customers table accepts.
pub const ACCEPTED_OPTIONS: &[&str] = &["customers.view", "aws.<S3 setting>"];

/// Which rows the table shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "distributed", derive(serde::Serialize, serde::Deserialize))]
pub enum CustomersView {
    /// One row per customer, as of the newest batch that has it.
    #[default]
    Latest,
    /// Every batch's version of every customer, with `valid_from` and `valid_to`.
    History,
}

/// Everything needed to read customer batches as a table.
#[derive(Clone, Debug)]
pub struct CustomerBatchesConfig {
    pub(crate) location: String,
    pub(crate) view: CustomersView,
    pub(crate) aws: BTreeMap<String, String>,
}

impl CustomerBatchesConfig {
    /// Batches under `location`: `s3://bucket/prefix/`, a local folder, or a
    /// `file://` URL.
    pub fn new(location: impl Into<String>) -> Self {
        Self {
            location: location.into(),
            view: CustomersView::default(),
            aws: BTreeMap::new(),
        }
    }

    /// Which rows the table shows.
    pub fn with_view(mut self, view: CustomersView) -> Self {
        self.view = view;
        self
    }

    /// An S3 setting such as `endpoint`, `region` or `allow_http`, over the
    /// `AWS_*` environment.
    pub fn with_aws(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.aws.insert(key.into(), value.into());
        self
    }

    /// The location.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Applies `OPTIONS (…)` from `CREATE EXTERNAL TABLE`.
    pub fn with_options(mut self, options: &HashMap<String, String>) -> Result<Self> {
        let options: BTreeMap<&String, &String> = options.iter().collect();
        for (key, value) in options {
            let lower = key.to_ascii_lowercase();
            if let Some(setting) = lower.strip_prefix(AWS_PREFIX) {
                self = self.with_aws(setting, value.as_str());
                continue;
            }
            match lower.as_str() {
                "customers.view" => {
                    self.view = match value.trim().to_ascii_lowercase().as_str() {
                        "latest" => CustomersView::Latest,
                        "history" => CustomersView::History,
                        other => {
                            return Err(PulseError::InvalidOption {
                                key: key.clone(),
                                reason: format!("'{other}'; use latest or history"),
                            });
                        }
                    }
                }
                _ => {
                    return Err(PulseError::UnknownOption {
                        key: key.clone(),
                        accepted: ACCEPTED_OPTIONS.join(", "),
                    });
                }
            }
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options() {
        let opts: HashMap<String, String> = [("customers.view", "History"), ("aws.endpoint", "http://x:9000")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let c = CustomerBatchesConfig::new("s3://b/p/").with_options(&opts).unwrap();
        assert_eq!(c.view, CustomersView::History);
        assert_eq!(c.aws.get("endpoint").map(String::as_str), Some("http://x:9000"));
        let bad: HashMap<String, String> = [("customer.view".to_string(), "latest".to_string())].into();
        let err = CustomerBatchesConfig::new("x")
            .with_options(&bad)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("'customer.view'") && err.contains("customers.view"),
            "{err}"
        );
        let bad: HashMap<String, String> = [("customers.view".to_string(), "all".to_string())].into();
        let err = CustomerBatchesConfig::new("x")
            .with_options(&bad)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("'customers.view'") && err.contains("latest or history"),
            "{err}"
        );
    }
}
