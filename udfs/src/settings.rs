//! Pulse's session settings, `SET pulse.…`:
//! - `pulse.as_of`: the as-of time `T` of the answer (RFC 3339, kept to the
//!   nanosecond); `''` unpins it, and `T` is the query's start;
//! - `pulse.offsets`: a cut to replay, the offsets of every partition of a
//!   topic, as `topic=partition:start-end,…[;topic=…]` (or
//!   `partition:end`); a Kafka scan of a pinned topic reads up to these end
//!   offsets instead of the high watermarks, and fails when the log no
//!   longer holds the start, so an answer can be computed again, exactly,
//!   after more orders arrive. `''` unpins it;
//! - `pulse.pack_keys`: whether an aggregation grouped by one text column
//!   groups by the text's number ([`crate::PackKeys`]); `true` by default,
//!   `false` for keys that are mostly longer than 15 bytes (UUIDs), which
//!   are hashed and kept beside their number.
//!
//! What must stay true: a value that cannot be used is refused when it is
//! set, with what would be accepted, never at the first query.

use std::any::Any;
use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use datafusion::common::config::{ConfigEntry, ConfigExtension, ExtensionOptions};
use datafusion::common::{Result, plan_err};

use crate::rfc3339::parse_nanos;

/// The offsets of one partition of a pinned cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinnedRange {
    /// The first offset the log held when the cut was read, if known.
    pub start: Option<i64>,
    /// One past the last offset of the cut.
    pub end: i64,
}

/// The pinned cut of each partition of each pinned topic.
pub type PinnedOffsets = BTreeMap<String, BTreeMap<i32, PinnedRange>>;

/// Pulse's session settings (`SET pulse.…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PulseOptions {
    /// The pinned as-of time in nanoseconds since the epoch, if any.
    pub as_of_ns: Option<i64>,
    /// The pinned cut, per topic.
    pub offsets: PinnedOffsets,
    /// Whether [`crate::PackKeys`] rewrites aggregations.
    pub pack_keys: bool,
}

impl Default for PulseOptions {
    fn default() -> Self {
        Self {
            as_of_ns: None,
            offsets: PinnedOffsets::new(),
            pack_keys: true,
        }
    }
}

impl PulseOptions {
    /// The as-of setting's key, below the `pulse.` prefix.
    pub const AS_OF: &'static str = "as_of";
    /// The pinned-offsets setting's key, below the `pulse.` prefix.
    pub const OFFSETS: &'static str = "offsets";
    /// The key-packing setting's key, below the `pulse.` prefix.
    pub const PACK_KEYS: &'static str = "pack_keys";

    /// `T` pinned to a time given as RFC 3339 text ([`crate::rfc3339`],
    /// kept to the nanosecond); empty or `now` unpins it.
    pub fn parse_as_of(value: &str) -> Result<Option<i64>> {
        let v = value.trim();
        if v.is_empty() || v.eq_ignore_ascii_case("now") {
            return Ok(None);
        }
        match parse_nanos(v) {
            Ok(ns) => Ok(Some(ns)),
            Err(e) => plan_err!(
                "pulse.as_of must be an RFC 3339 time such as 2026-11-20T00:00:00Z, or '' for the query's \
                 start, not '{value}': {e}"
            ),
        }
    }

    /// A cut as `topic=partition:start-end,…[;topic=…]` (or
    /// `partition:end`); empty unpins.
    pub fn parse_offsets(value: &str) -> Result<PinnedOffsets> {
        let mut out = PinnedOffsets::new();
        for topic_part in value.split(';').map(str::trim).filter(|t| !t.is_empty()) {
            let bad = |why: &str| {
                plan_err!(
                    "pulse.offsets '{value}': {why}; give topic=partition:start-end,… or topic=partition:end,… \
                     (e.g. orders=0:0-1200,1:0-1180), several topics separated by ';', or '' to unpin"
                )
            };
            let Some((topic, list)) = topic_part.split_once('=') else {
                return bad(&format!("'{topic_part}' names no topic"));
            };
            let topic = topic.trim();
            if topic.is_empty() {
                return bad("a topic name is empty");
            }
            let mut ends = BTreeMap::new();
            for pair in list.split(',').map(str::trim) {
                let number = |t: &str| t.trim().parse::<i64>().ok().filter(|n| *n >= 0);
                let parsed = pair.split_once(':').and_then(|(p, range)| {
                    let p = i32::try_from(number(p)?).ok()?;
                    let (start, end) = match range.split_once('-') {
                        Some((s, e)) => (Some(number(s)?), number(e)?),
                        None => (None, number(range)?),
                    };
                    (start.is_none_or(|s| s <= end)).then_some((p, PinnedRange { start, end }))
                });
                match parsed {
                    Some((p, range)) => {
                        if ends.insert(p, range).is_some() {
                            return bad(&format!("partition {p} of '{topic}' is given twice"));
                        }
                    }
                    None => return bad(&format!("'{pair}' is not partition:start-end")),
                }
            }
            if out.insert(topic.to_string(), ends).is_some() {
                return bad(&format!("topic '{topic}' is given twice"));
            }
        }
        Ok(out)
    }

    /// `offsets` written as [`Self::parse_offsets`] reads them.
    pub fn format_offsets(offsets: &PinnedOffsets) -> String {
        offsets
            .iter()
            .map(|(topic, ends)| {
                let list: Vec<String> = ends
                    .iter()
                    .map(|(p, r)| match r.start {
                        Some(s) => format!("{p}:{s}-{}", r.end),
                        None => format!("{p}:{}", r.end),
                    })
                    .collect();
                format!("{topic}={}", list.join(","))
            })
            .collect::<Vec<_>>()
            .join(";")
    }
}

impl ConfigExtension for PulseOptions {
    const PREFIX: &'static str = "pulse";
}

impl ExtensionOptions for PulseOptions {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn cloned(&self) -> Box<dyn ExtensionOptions> {
        Box::new(self.clone())
    }

    fn set(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            Self::AS_OF => {
                self.as_of_ns = Self::parse_as_of(value)?;
                Ok(())
            }
            Self::OFFSETS => {
                self.offsets = Self::parse_offsets(value)?;
                Ok(())
            }
            Self::PACK_KEYS => {
                self.pack_keys = match value.trim().to_ascii_lowercase().as_str() {
                    "true" => true,
                    "false" => false,
                    _ => return plan_err!("pulse.pack_keys must be true or false, not '{value}'"),
                };
                Ok(())
            }
            other => plan_err!(
                "unknown setting 'pulse.{other}'; Pulse has 'pulse.as_of', 'pulse.offsets' and 'pulse.pack_keys'"
            ),
        }
    }

    fn entries(&self) -> Vec<ConfigEntry> {
        vec![
            ConfigEntry {
                key: format!("{}.{}", Self::PREFIX, Self::AS_OF),
                value: self
                    .as_of_ns
                    .map(|ns| DateTime::<Utc>::from_timestamp_nanos(ns).to_rfc3339_opts(SecondsFormat::AutoSi, true)),
                description: "The as-of time T of the answer (RFC 3339); unset, T is the query's start",
            },
            ConfigEntry {
                key: format!("{}.{}", Self::PREFIX, Self::OFFSETS),
                value: (!self.offsets.is_empty()).then(|| Self::format_offsets(&self.offsets)),
                description: "A cut to replay: the end offset of each partition, topic=partition:offset,…",
            },
            ConfigEntry {
                key: format!("{}.{}", Self::PREFIX, Self::PACK_KEYS),
                value: Some(self.pack_keys.to_string()),
                description: "Group by one text column through the text's number (false for mostly long keys)",
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_of_parsing() {
        assert_eq!(
            PulseOptions::parse_as_of("1970-01-01T00:00:01Z").unwrap(),
            Some(1_000_000_000)
        );
        assert_eq!(
            PulseOptions::parse_as_of("1970-01-01T01:00:01+01:00").unwrap(),
            Some(1_000_000_000)
        );
        // kept to the nanosecond, as order times are
        assert_eq!(
            PulseOptions::parse_as_of("1970-01-01T00:00:00.0000005Z").unwrap(),
            Some(500)
        );
        assert_eq!(PulseOptions::parse_as_of("").unwrap(), None);
        assert_eq!(PulseOptions::parse_as_of("now").unwrap(), None);
        let err = PulseOptions::parse_as_of("yesterday").unwrap_err().to_string();
        assert!(err.contains("'yesterday'") && err.contains("RFC 3339"), "{err}");
    }

    #[test]
    fn offsets_round_trip_and_bad_ones_say_the_form() {
        let spec = "orders=0:10-1200,1:1180;payments=0:0-5";
        let parsed = PulseOptions::parse_offsets(spec).unwrap();
        assert_eq!(parsed["orders"][&1], PinnedRange { start: None, end: 1180 });
        assert_eq!(
            parsed["orders"][&0],
            PinnedRange {
                start: Some(10),
                end: 1200
            }
        );
        assert_eq!(PulseOptions::format_offsets(&parsed), spec);
        assert!(PulseOptions::parse_offsets(" ").unwrap().is_empty());
        for bad in [
            "orders",
            "orders=0",
            "orders=0:x",
            "orders=0:1,0:2",
            "=0:1",
            "orders=-1:5",
            "orders=0:9-5",
        ] {
            let err = PulseOptions::parse_offsets(bad).unwrap_err().to_string();
            assert!(err.contains("topic=partition:start-end"), "{bad}: {err}");
        }
    }

    #[test]
    fn unknown_settings_are_named() {
        let err = PulseOptions::default().set("asof", "x").unwrap_err().to_string();
        assert!(err.contains("'pulse.asof'"), "{err}");
    }

    #[test]
    fn pack_keys_is_on_by_default_and_takes_a_boolean() {
        let mut options = PulseOptions::default();
        assert!(options.pack_keys);
        options.set(PulseOptions::PACK_KEYS, "FALSE").unwrap();
        assert!(!options.pack_keys);
        let err = options.set(PulseOptions::PACK_KEYS, "off").unwrap_err().to_string();
        assert!(err.contains("true or false") && err.contains("'off'"), "{err}");
    }
}
