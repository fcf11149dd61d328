//! The Kafka table's configuration: a typed [`KafkaTableConfig`] with `with_*`
//! builders, and the parser for `CREATE EXTERNAL TABLE … OPTIONS (…)`.
//!
//! What must stay true: every option a table accepts is listed in
//! [`ACCEPTED_OPTIONS`], an unknown `kafka.*` key is an error naming it and
//! that list, and a `kafka.client.*` key is handed to librdkafka unchanged
//! (librdkafka then validates it when the table is created).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::datatypes::SchemaRef;

use crate::error::{PulseError, Result};
use crate::messages::MalformedPolicy;

/// The table options Pulse accepts, as shown in the unknown-option error.
pub const ACCEPTED_OPTIONS: &[&str] = &[
    "kafka.format",
    "kafka.event_time_column",
    "kafka.lateness",
    "kafka.malformed",
    "kafka.on_data_loss",
    "kafka.max_messages_per_split",
    "kafka.timeout",
    "kafka.timestamp_lookup",
    "kafka.pushdown",
    "kafka.cut_guard",
    "kafka.cut_upper",
    "kafka.client.<librdkafka property>",
];

/// Prefix of the options passed through to librdkafka.
pub const CLIENT_PREFIX: &str = "kafka.client.";

/// What happens when offsets of the query's snapshot were deleted by
/// retention before they were read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "distributed", derive(serde::Serialize, serde::Deserialize))]
pub enum DataLossPolicy {
    /// Fail the query, naming the lost range.
    #[default]
    Fail,
    /// Log a warning naming the lost range, count it (metric
    /// `offsets_lost`), and read what is left.
    Warn,
}

/// How a timestamp bound becomes an offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "distributed", derive(serde::Serialize, serde::Deserialize))]
pub enum TimestampLookup {
    /// Ask the broker (`offsets_for_times`), check its answer against the
    /// messages on either side, and search the log when the answer is wrong.
    #[default]
    Auto,
    /// Trust the broker's answer.
    Broker,
    /// Always search the log by fetching single messages.
    Search,
}

/// Everything needed to read one topic as a table.
#[derive(Clone)]
#[cfg_attr(feature = "distributed", derive(serde::Serialize, serde::Deserialize))]
pub struct KafkaTableConfig {
    pub(crate) brokers: String,
    pub(crate) topic: String,
    pub(crate) schema: Option<SchemaRef>,
    pub(crate) event_time_column: EventTimeColumn,
    pub(crate) lateness: Duration,
    pub(crate) malformed: MalformedPolicy,
    pub(crate) on_data_loss: DataLossPolicy,
    /// `None`: split only as needed to give every core a range.
    pub(crate) max_messages_per_split: Option<u64>,
    pub(crate) timeout: Duration,
    pub(crate) timestamp_lookup: TimestampLookup,
    pub(crate) pushdown: bool,
    /// Messages read past each time cut to check the ordering there.
    pub(crate) cut_guard: u64,
    /// Whether an upper time bound cuts the end of a partition.
    pub(crate) cut_upper: bool,
    pub(crate) client: BTreeMap<String, String>,
}

/// Which data column, if any, holds event time.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "distributed", derive(serde::Serialize, serde::Deserialize))]
pub(crate) enum EventTimeColumn {
    /// `timestamp` when the schema has a timestamp column of that name.
    Default,
    /// A named column.
    Named(String),
    /// No event-time pushdown.
    None,
}

impl fmt::Debug for KafkaTableConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Client properties may hold secrets (sasl.password, ssl.key.password).
        let client_keys: Vec<&String> = self.client.keys().collect();
        f.debug_struct("KafkaTableConfig")
            .field("brokers", &self.brokers)
            .field("topic", &self.topic)
            .field("event_time_column", &self.event_time_column)
            .field("lateness", &self.lateness)
            .field("malformed", &self.malformed)
            .field("on_data_loss", &self.on_data_loss)
            .field("max_messages_per_split", &self.max_messages_per_split)
            .field("timeout", &self.timeout)
            .field("timestamp_lookup", &self.timestamp_lookup)
            .field("pushdown", &self.pushdown)
            .field("cut_guard", &self.cut_guard)
            .field("cut_upper", &self.cut_upper)
            .field("client_properties", &client_keys)
            .finish()
    }
}

impl KafkaTableConfig {
    /// Default lateness margin between event time and message timestamp.
    pub const DEFAULT_LATENESS: Duration = Duration::from_secs(3600);
    /// Default bound on metadata requests and on a read that makes no progress.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default number of messages read past each time cut.
    pub const DEFAULT_CUT_GUARD: u64 = 100;

    /// A table over `topic` on the comma-separated bootstrap `brokers`, with
    /// the default orders schema and default options.
    pub fn new(brokers: impl Into<String>, topic: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            topic: topic.into(),
            schema: None,
            event_time_column: EventTimeColumn::Default,
            lateness: Self::DEFAULT_LATENESS,
            malformed: MalformedPolicy::default(),
            on_data_loss: DataLossPolicy::default(),
            max_messages_per_split: None,
            timeout: Self::DEFAULT_TIMEOUT,
            timestamp_lookup: TimestampLookup::default(),
            pushdown: true,
            cut_guard: Self::DEFAULT_CUT_GUARD,
            cut_upper: false,
            client: BTreeMap::new(),
        }
    }

    /// Parses `kafka://host:port[,host:port…]/topic`.
    pub fn from_location(location: &str) -> Result<Self> {
        let invalid = |reason: &str| PulseError::InvalidLocation {
            location: location.to_string(),
            reason: format!("{reason}; expected kafka://host:port[,host:port…]/topic"),
        };
        let rest = location
            .strip_prefix("kafka://")
            .ok_or_else(|| invalid("the scheme must be kafka://"))?;
        let (brokers, topic) = rest
            .split_once('/')
            .ok_or_else(|| invalid("no topic after the brokers"))?;
        let topic = topic.trim_end_matches('/');
        if brokers.is_empty() || brokers.split(',').any(|b| b.trim().is_empty()) {
            return Err(invalid("a broker address is empty"));
        }
        if topic.is_empty() || topic.contains('/') {
            return Err(invalid("the topic must be one non-empty path segment"));
        }
        Ok(Self::new(brokers, topic))
    }

    /// Applies `OPTIONS (…)` from `CREATE EXTERNAL TABLE`.
    pub fn with_options(mut self, options: &HashMap<String, String>) -> Result<Self> {
        // Sorted so that the first bad key reported is deterministic.
        let options: BTreeMap<&String, &String> = options.iter().collect();
        for (key, value) in options {
            self = self.with_option(key, value)?;
        }
        Ok(self)
    }

    fn with_option(self, key: &str, value: &str) -> Result<Self> {
        let invalid = |reason: String| PulseError::InvalidOption {
            key: key.to_string(),
            reason,
        };
        let lower = key.to_ascii_lowercase();
        if let Some(property) = lower.strip_prefix(CLIENT_PREFIX) {
            if property.is_empty() {
                return Err(invalid("name a librdkafka property after 'kafka.client.'".into()));
            }
            return Ok(self.with_client_property(property, value));
        }
        let v = value.trim();
        Ok(match lower.as_str() {
            "kafka.format" => match v.to_ascii_lowercase().as_str() {
                "json" => self,
                other => return Err(invalid(format!("format '{other}' is not supported; use 'json'"))),
            },
            "kafka.event_time_column" => match v.to_ascii_lowercase().as_str() {
                "" | "none" => self.without_event_time_column(),
                _ => self.with_event_time_column(v),
            },
            "kafka.lateness" => self.with_lateness(parse_duration(v).map_err(invalid)?),
            "kafka.malformed" => self.with_malformed_policy(v.parse().map_err(invalid)?),
            "kafka.on_data_loss" => self.with_data_loss_policy(match v.to_ascii_lowercase().as_str() {
                "fail" => DataLossPolicy::Fail,
                "warn" => DataLossPolicy::Warn,
                other => return Err(invalid(format!("'{other}'; use fail or warn"))),
            }),
            "kafka.max_messages_per_split" => match v.parse::<u64>() {
                Ok(n) if n > 0 => self.with_max_messages_per_split(n),
                _ => return Err(invalid(format!("'{v}'; use a positive whole number"))),
            },
            "kafka.timeout" => match parse_duration(v).map_err(invalid)? {
                d if d.is_zero() => return Err(invalid("the timeout must be above zero".into())),
                d => self.with_timeout(d),
            },
            "kafka.timestamp_lookup" => self.with_timestamp_lookup(match v.to_ascii_lowercase().as_str() {
                "auto" => TimestampLookup::Auto,
                "broker" => TimestampLookup::Broker,
                "search" => TimestampLookup::Search,
                other => return Err(invalid(format!("'{other}'; use auto, broker or search"))),
            }),
            "kafka.pushdown" => self.with_pushdown(match v.to_ascii_lowercase().as_str() {
                "true" | "on" => true,
                "false" | "off" => false,
                other => return Err(invalid(format!("'{other}'; use true or false"))),
            }),
            "kafka.cut_upper" => self.with_cut_upper(match v.to_ascii_lowercase().as_str() {
                "true" | "on" => true,
                "false" | "off" => false,
                other => return Err(invalid(format!("'{other}'; use true or false"))),
            }),
            "kafka.cut_guard" => match v.parse::<u64>() {
                Ok(n) => self.with_cut_guard(n),
                _ => return Err(invalid(format!("'{v}'; use a whole number of messages, e.g. 1000"))),
            },
            _ => {
                return Err(PulseError::UnknownOption {
                    key: key.to_string(),
                    accepted: ACCEPTED_OPTIONS.join(", "),
                });
            }
        })
    }

    /// The data columns (without the metadata columns). Without one, the
    /// table uses [`orders_schema`](crate::messages::orders_schema).
    pub fn with_schema(mut self, schema: SchemaRef) -> Self {
        self.schema = Some(schema);
        self
    }

    /// The timestamp column whose filters become offsets (widened by the
    /// lateness margin). Defaults to `timestamp` when the schema has it.
    pub fn with_event_time_column(mut self, column: impl Into<String>) -> Self {
        self.event_time_column = EventTimeColumn::Named(column.into());
        self
    }

    /// Turns event-time pushdown off.
    pub fn without_event_time_column(mut self) -> Self {
        self.event_time_column = EventTimeColumn::None;
        self
    }

    /// The most that a message's timestamp may differ from its event time,
    /// and that message timestamps may be out of order.
    pub fn with_lateness(mut self, lateness: Duration) -> Self {
        self.lateness = lateness;
        self
    }

    /// What to do with a malformed message.
    pub fn with_malformed_policy(mut self, policy: MalformedPolicy) -> Self {
        self.malformed = policy;
        self
    }

    /// What to do when retention deletes offsets before they are read.
    pub fn with_data_loss_policy(mut self, policy: DataLossPolicy) -> Self {
        self.on_data_loss = policy;
        self
    }

    /// A partition range with more messages than this is split into
    /// several ranges. By default a partition is split only while the scan
    /// has fewer ranges than `target_partitions`.
    pub fn with_max_messages_per_split(mut self, n: u64) -> Self {
        self.max_messages_per_split = Some(n.max(1));
        self
    }

    /// Bound on metadata requests, offset lookups, and reads that make no progress.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How timestamp bounds become offsets.
    pub fn with_timestamp_lookup(mut self, lookup: TimestampLookup) -> Self {
        self.timestamp_lookup = lookup;
        self
    }

    /// Turns filter pushdown on or off (off reads the whole snapshot).
    pub fn with_pushdown(mut self, pushdown: bool) -> Self {
        self.pushdown = pushdown;
        self
    }

    /// Messages read past each side of a time cut (default 100), so that
    /// the scan checks the ordering its seeks assumed where they cut. 0
    /// reads exactly the seek's range; the messages in it are still checked.
    pub fn with_cut_guard(mut self, messages: u64) -> Self {
        self.cut_guard = messages;
        self
    }

    /// Whether an upper time bound (`timestamp < t`) cuts the end of a
    /// partition (default false: read to the snapshot's end). A cut end
    /// assumes that no message after it is stamped back into the window by
    /// more than the lateness margin; the scan checks that on what it reads
    /// (the range and the guard past it), not on what it skips. Worth it for
    /// windows far in a topic's past, on topics produced in time order.
    pub fn with_cut_upper(mut self, cut: bool) -> Self {
        self.cut_upper = cut;
        self
    }

    /// Any librdkafka client property, e.g. `security.protocol`.
    pub fn with_client_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.client.insert(key.into(), value.into());
        self
    }

    /// The bootstrap servers.
    pub fn brokers(&self) -> &str {
        &self.brokers
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The malformed-message policy.
    pub fn malformed_policy(&self) -> MalformedPolicy {
        self.malformed
    }

    pub(crate) fn into_arc(self) -> Arc<Self> {
        Arc::new(self)
    }
}

/// Whether a librdkafka property holds a secret (a password, a key, a
/// token): such properties stay in the process that was given them and
/// never travel in a plan to a cluster.
pub fn is_secret_client_property(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "password",
        "secret",
        ".pem",
        "oauthbearer.config",
        "private.key",
        "ssl.key.location",
    ]
    .iter()
    .any(|s| key.contains(s))
}

#[cfg(feature = "distributed")]
impl KafkaTableConfig {
    /// This configuration without its secret client properties, to ship.
    pub(crate) fn without_secrets(&self) -> Self {
        let mut shipped = self.clone();
        shipped.client.retain(|k, _| !is_secret_client_property(k));
        shipped
    }

    /// This configuration with `properties` (a cluster process's own, its
    /// secrets among them) added over the ones it has.
    pub(crate) fn with_client_properties(mut self, properties: &BTreeMap<String, String>) -> Self {
        self.client
            .extend(properties.iter().map(|(k, v)| (k.clone(), v.clone())));
        self
    }
}

/// Parses a duration such as `500ms`, `90s`, `15m`, `1h`, `2d`, or `0`.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let t = text.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration; use e.g. 500ms, 90s, 15m, 1h or 2d"))?;
    let ms = match unit.trim() {
        "ms" => n,
        "s" => n * 1_000,
        "m" | "min" => n * 60_000,
        "h" => n * 3_600_000,
        "d" => n * 86_400_000,
        _ => return Err(format!("'{text}' has no known unit; use ms, s, m, h or d")),
    };
    Ok(Duration::from_millis(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn location_names_brokers_and_topic() {
        let c = KafkaTableConfig::from_location("kafka://a:9092,b:9093/orders").unwrap();
        assert_eq!(c.brokers(), "a:9092,b:9093");
        assert_eq!(c.topic(), "orders");
        for bad in [
            "http://a:1/orders",
            "kafka://a:1",
            "kafka://a:1/",
            "kafka:///t",
            "kafka://a:1/x/y",
        ] {
            let err = KafkaTableConfig::from_location(bad).unwrap_err().to_string();
            assert!(err.contains(bad) && err.contains("kafka://host:port"), "{err}");
        }
    }

    #[test]
    fn options_set_every_field() {
        let c = KafkaTableConfig::new("b:1", "t")
            .with_options(&opts(&[
                ("kafka.format", "JSON"),
                ("kafka.event_time_column", "ts"),
                ("kafka.lateness", "15m"),
                ("kafka.malformed", "dead_letter"),
                ("kafka.on_data_loss", "warn"),
                ("kafka.max_messages_per_split", "500"),
                ("kafka.timeout", "2s"),
                ("kafka.timestamp_lookup", "search"),
                ("kafka.pushdown", "false"),
                ("kafka.cut_guard", "50"),
                ("kafka.cut_upper", "true"),
                ("kafka.client.security.protocol", "SASL_SSL"),
            ]))
            .unwrap();
        assert_eq!(c.event_time_column, EventTimeColumn::Named("ts".into()));
        assert_eq!(c.lateness, Duration::from_secs(900));
        assert_eq!(c.malformed, MalformedPolicy::DeadLetter);
        assert_eq!(c.on_data_loss, DataLossPolicy::Warn);
        assert_eq!(c.max_messages_per_split, Some(500));
        assert_eq!(c.timeout, Duration::from_secs(2));
        assert_eq!(c.timestamp_lookup, TimestampLookup::Search);
        assert!(!c.pushdown);
        assert_eq!(c.cut_guard, 50);
        assert!(c.cut_upper);
        assert_eq!(c.client.get("security.protocol").map(String::as_str), Some("SASL_SSL"));
        let none = KafkaTableConfig::new("b:1", "t")
            .with_options(&opts(&[("kafka.event_time_column", "none")]))
            .unwrap();
        assert_eq!(none.event_time_column, EventTimeColumn::None);
    }

    #[test]
    fn unknown_option_names_key_and_accepted_list() {
        let err = KafkaTableConfig::new("b:1", "t")
            .with_options(&opts(&[("kafka.latenes", "1h")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("'kafka.latenes'"), "{err}");
        assert!(
            err.contains("kafka.lateness") && err.contains("kafka.client.<librdkafka property>"),
            "{err}"
        );
        let err = KafkaTableConfig::new("b:1", "t")
            .with_options(&opts(&[("format.delimiter", ",")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("'format.delimiter'"), "{err}");
    }

    #[test]
    fn bad_values_name_the_key() {
        for (k, v) in [
            ("kafka.malformed", "ignore"),
            ("kafka.lateness", "an hour"),
            ("kafka.lateness", "5 weeks"),
            ("kafka.max_messages_per_split", "0"),
            ("kafka.timeout", "0"),
            ("kafka.format", "avro"),
            ("kafka.pushdown", "maybe"),
            ("kafka.cut_guard", "-1"),
            ("kafka.cut_upper", "sometimes"),
            ("kafka.client.", "x"),
        ] {
            let err = KafkaTableConfig::new("b:1", "t")
                .with_options(&opts(&[(k, v)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains(&format!("'{k}'")), "{k}={v}: {err}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("-1h").is_err());
    }

    #[test]
    fn debug_hides_client_secrets() {
        let c = KafkaTableConfig::new("b:1", "t").with_client_property("sasl.password", "hunter2");
        let shown = format!("{c:?}");
        assert!(shown.contains("sasl.password") && !shown.contains("hunter2"), "{shown}");
    }
}
