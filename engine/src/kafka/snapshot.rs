//! One cut per statement, and cuts that can be printed and replayed.
//!
//! A statement may read a topic several times (the `data_quality` view
//! reads `orders` in five places). Each scan asks for the statement's
//! [`Cut`]: the first one fixes every partition's watermarks, and the others
//! of the same statement (same session, same planning instant) get the same
//! cut, so every read of the topic in one statement ends at the same offsets.
//!
//! A cut is recorded in the session's [`CutLog`], which `pulse_cut()` and
//! `pulse answer` print as a `pulse.offsets` value; setting `pulse.offsets`
//! to it pins the cut: scans read up to its end offsets instead of the high
//! watermarks, so the same statement gives the same answer after more
//! orders arrive.
//!
//! What must stay true: two scans of one statement never read different
//! cuts, even when planned concurrently; a pinned cut that the log can no
//! longer serve exactly (an end past the high watermark, a start the log
//! has deleted, a partition the topic lacks) is an error naming the
//! partition and offsets, or under `kafka.on_data_loss=warn` a warning.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use datafusion::catalog::Session;
use pulse_udfs::PulseOptions;
use pulse_udfs::settings::{PinnedOffsets, PinnedRange};

use super::config::{DataLossPolicy, KafkaTableConfig};
use super::offsets::Watermarks;
use crate::error::{PulseError, Result};

/// The offsets of every partition of one topic that a statement reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// The topic.
    pub topic: String,
    /// Each partition and its watermarks at the cut, by partition.
    pub partitions: Vec<(i32, Watermarks)>,
    /// True when the cut came from `pulse.offsets` rather than the broker.
    pub pinned: bool,
}

impl Cut {
    /// The cut as a `pulse.offsets` value: `topic=partition:start-end,…`.
    pub fn spec(&self) -> String {
        let ranges: BTreeMap<i32, PinnedRange> = self
            .partitions
            .iter()
            .map(|(p, wm)| {
                (
                    *p,
                    PinnedRange {
                        start: Some(wm.low),
                        end: wm.high,
                    },
                )
            })
            .collect();
        PulseOptions::format_offsets(&PinnedOffsets::from([(self.topic.clone(), ranges)]))
    }
}

/// A statement: its session and the instant its planning began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Statement {
    session: String,
    started_ns: i64,
}

impl Statement {
    /// The statement `state` is planning, when DataFusion says when it
    /// started (it does for every query it plans).
    pub fn of(state: &dyn Session) -> Option<Self> {
        let started = state.execution_props().query_execution_start_time?;
        Some(Self {
            session: state.session_id().to_string(),
            started_ns: started.timestamp_nanos_opt()?,
        })
    }
}

/// How long a statement's cut is remembered after its planning began: far
/// longer than planning takes (its scans ask for the cut while planning).
const REMEMBERED_NS: i64 = 10 * 60 * 1_000_000_000;

/// The most statements remembered at once, whatever their age.
const REMEMBERED_MAX: usize = 4096;

/// The cuts of a table's recent statements (or anything else a statement
/// must see once: the lake's snapshot).
#[derive(Debug)]
pub(crate) struct StatementCuts<T = Cut> {
    recent: tokio::sync::Mutex<VecDeque<(Statement, Arc<T>)>>,
}

impl<T> Default for StatementCuts<T> {
    fn default() -> Self {
        Self {
            recent: tokio::sync::Mutex::new(VecDeque::new()),
        }
    }
}

impl<T> StatementCuts<T> {
    /// The cut of `statement`, fixing it with `fetch` if it is the
    /// statement's first scan. Scans of one statement wait for each other
    /// here, so concurrent planning cannot fetch two cuts.
    /// `fetch` is not polled when the statement has its cut already.
    pub async fn get_or_fetch(
        &self,
        statement: Option<Statement>,
        fetch: impl Future<Output = Result<T>>,
    ) -> Result<Arc<T>> {
        let Some(statement) = statement else {
            return Ok(Arc::new(fetch.await?));
        };
        let mut recent = self.recent.lock().await;
        if let Some((_, cut)) = recent.iter().find(|(s, _)| *s == statement) {
            return Ok(Arc::clone(cut));
        }
        let cut = Arc::new(fetch.await?);
        let horizon = statement.started_ns.saturating_sub(REMEMBERED_NS);
        recent.retain(|(s, _)| s.started_ns >= horizon);
        recent.push_back((statement, Arc::clone(&cut)));
        if recent.len() > REMEMBERED_MAX {
            recent.pop_front();
        }
        Ok(cut)
    }
}

/// The cut a session's statements last read of each topic: what
/// `pulse_cut()` shows and `pulse answer` prints. Sessions built by
/// [`crate::session`] carry one as a config extension.
#[derive(Debug, Default)]
pub struct CutLog {
    last: Mutex<BTreeMap<String, Arc<Cut>>>,
}

impl CutLog {
    /// Records that a statement read `cut`.
    pub fn record(&self, cut: &Arc<Cut>) {
        if let Ok(mut last) = self.last.lock() {
            last.insert(cut.topic.clone(), Arc::clone(cut));
        }
    }

    /// The last cut read of every topic, by topic.
    pub fn cuts(&self) -> Vec<Arc<Cut>> {
        self.last
            .lock()
            .map(|l| l.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Every topic's last cut as one `pulse.offsets` value.
    pub fn spec(&self) -> String {
        self.cuts().iter().map(|c| c.spec()).collect::<Vec<_>>().join(";")
    }
}

/// The cut `pinned` names for `cfg`'s topic, checked against the topic's
/// partitions and their watermarks now (`current`).
pub(crate) fn pinned_cut(
    cfg: &KafkaTableConfig,
    pinned: &BTreeMap<i32, PinnedRange>,
    current: &[(i32, Watermarks)],
) -> Result<Cut> {
    let fail = |partition: i32, message: String| PulseError::KafkaPartition {
        topic: cfg.topic.clone(),
        partition,
        message: format!("{message} (pulse.offsets pins this cut; '' unpins it)"),
    };
    let mut partitions = Vec::new();
    for (&partition, range) in pinned {
        let Some((_, now)) = current.iter().find(|(p, _)| *p == partition) else {
            return Err(fail(partition, "the topic has no such partition".into()));
        };
        if range.end > now.high {
            return Err(fail(
                partition,
                format!(
                    "the pinned end offset {} is past the log's end {}: the cut was read from another topic?",
                    range.end, now.high
                ),
            ));
        }
        let start = range.start.unwrap_or(now.low);
        if now.low > start {
            let lost = format!(
                "offsets {start}..{} of the pinned cut were deleted by retention since it was read",
                now.low.min(range.end)
            );
            match cfg.on_data_loss {
                DataLossPolicy::Fail => {
                    return Err(fail(
                        partition,
                        format!(
                            "{lost}; the answer cannot be replayed exactly (set 'kafka.on_data_loss' to 'warn' to read what is left)"
                        ),
                    ));
                }
                DataLossPolicy::Warn => log::warn!("Kafka topic '{}' partition {partition}: {lost}", cfg.topic),
            }
        }
        partitions.push((
            partition,
            Watermarks {
                low: now.low.max(start).min(range.end),
                high: range.end,
            },
        ));
    }
    Ok(Cut {
        topic: cfg.topic.clone(),
        partitions,
        pinned: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wm(low: i64, high: i64) -> Watermarks {
        Watermarks { low, high }
    }

    #[test]
    fn a_cut_prints_as_a_setting_that_pins_it_again() {
        let cut = Cut {
            topic: "orders".into(),
            partitions: vec![(0, wm(0, 120)), (1, wm(5, 118))],
            pinned: false,
        };
        assert_eq!(cut.spec(), "orders=0:0-120,1:5-118");
        let pinned = PulseOptions::parse_offsets(&cut.spec()).unwrap();
        let cfg = KafkaTableConfig::new("b:1", "orders");
        let now = [(0, wm(0, 300)), (1, wm(5, 200)), (2, wm(0, 9))];
        let again = pinned_cut(&cfg, &pinned["orders"], &now).unwrap();
        assert_eq!(again.partitions, cut.partitions, "a partition added since is not read");
    }

    #[test]
    fn a_cut_the_log_cannot_serve_is_named() {
        let cfg = KafkaTableConfig::new("b:1", "orders");
        let pin = |spec: &str| PulseOptions::parse_offsets(spec).unwrap().remove("orders").unwrap();
        let now = [(0, wm(50, 300))];
        let err = pinned_cut(&cfg, &pin("orders=0:400"), &now).unwrap_err().to_string();
        assert!(
            err.contains("partition 0") && err.contains("400 is past the log's end 300"),
            "{err}"
        );
        let err = pinned_cut(&cfg, &pin("orders=1:4"), &now).unwrap_err().to_string();
        assert!(
            err.contains("partition 1") && err.contains("no such partition"),
            "{err}"
        );
        let err = pinned_cut(&cfg, &pin("orders=0:0-120"), &now).unwrap_err().to_string();
        assert!(err.contains("offsets 0..50 of the pinned cut were deleted"), "{err}");
        let warn = cfg.with_data_loss_policy(DataLossPolicy::Warn);
        let cut = pinned_cut(&warn, &pin("orders=0:0-120"), &now).unwrap();
        assert_eq!(cut.partitions, [(0, wm(50, 120))]);
    }
}
