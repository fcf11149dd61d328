//! The malformed-message policy: what a table does with a message that is
//! not a well-formed row of its schema.
//!
//! What must stay true: whichever policy, no malformed message is lost
//! without a trace: it is an error naming where it is, a count in the scan
//! metrics, or a row whose `_error` says why.

use std::fmt;
use std::str::FromStr;

/// What happens to a message that is not valid JSON, misses a required
/// field, or has a value of the wrong type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "distributed", derive(serde::Serialize, serde::Deserialize))]
pub enum MalformedPolicy {
    /// Fail the query with an error naming where the message is (topic,
    /// partition and offset; or file, line and byte).
    #[default]
    Fail,
    /// Count the message (metric `malformed_skipped`) and leave it out.
    Skip,
    /// Keep a row with NULL data columns and the reason in `_error`.
    DeadLetter,
}

impl MalformedPolicy {
    /// The policy's name in options: `fail`, `skip` or `dead_letter`.
    pub fn name(self) -> &'static str {
        match self {
            MalformedPolicy::Fail => "fail",
            MalformedPolicy::Skip => "skip",
            MalformedPolicy::DeadLetter => "dead_letter",
        }
    }
}

impl fmt::Display for MalformedPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for MalformedPolicy {
    type Err = String;

    /// `fail`, `skip` or `dead_letter`, in any case; the error says which
    /// are accepted.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "fail" => Ok(MalformedPolicy::Fail),
            "skip" => Ok(MalformedPolicy::Skip),
            "dead_letter" => Ok(MalformedPolicy::DeadLetter),
            other => Err(format!("'{other}'; use fail, skip or dead_letter")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_bad_names_list_the_accepted_ones() {
        for p in [
            MalformedPolicy::Fail,
            MalformedPolicy::Skip,
            MalformedPolicy::DeadLetter,
        ] {
            assert_eq!(p.name().parse::<MalformedPolicy>(), Ok(p));
        }
        assert_eq!(
            " Dead_Letter ".parse::<MalformedPolicy>(),
            Ok(MalformedPolicy::DeadLetter)
        );
        let err = "ignore".parse::<MalformedPolicy>().unwrap_err();
        assert!(err.contains("'ignore'") && err.contains("dead_letter"), "{err}");
    }
}
