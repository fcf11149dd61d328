//! Checking a time cut against the messages it read.
//!
//! A timestamp seek ([`super::offsets`]) assumes that message timestamps
//! are out of order by at most the lateness margin, and that an order's
//! event time is within the margin of its message time. A backfill
//! produced out of time order, a producer with a wrong clock, or one
//! message stamped weeks ahead breaks that, and a cut placed on it would
//! leave out messages that match. So every scan of a cut partition watches
//! the messages it reads (the cut's range and a guard stretch past each
//! side): a message that is behind the latest time seen before it by more
//! than the margin, or whose event time and message time are further apart
//! than the margin, contradicts the cut. When the last range of that
//! partition is done, a contradicted cut reads the rest of the partition
//! ([`PartitionCut::rest`]) as well, and says so in a warning and in the
//! scan's metrics.
//!
//! What must stay true: the rest is read at most once per execution, by
//! the reader that finishes the partition's last range, so no row is read
//! twice; a check never blocks a reader (no reader waits for another).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use datafusion::execution::TaskContext;

use super::offsets::{OffsetRange, PartitionCut};

/// What contradicted a cut, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Contradiction {
    /// The message at `offset` is `behind_ms` older than a message before
    /// it in the partition.
    Disorder { offset: i64, behind_ms: i64 },
    /// The message at `offset` has an event time `skew_ms` away from its
    /// message time.
    Skew { offset: i64, skew_ms: i64 },
}

impl fmt::Display for Contradiction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Contradiction::Disorder { offset, behind_ms } => write!(
                f,
                "the message at offset {offset} is {} older than one before it",
                human_ms(*behind_ms)
            ),
            Contradiction::Skew { offset, skew_ms } => write!(
                f,
                "the message at offset {offset} has an event time {} from its message time",
                human_ms(*skew_ms)
            ),
        }
    }
}

/// A duration in milliseconds, in the largest whole unit that fits.
fn human_ms(ms: i64) -> String {
    let ms = ms.unsigned_abs();
    match ms {
        m if m >= 86_400_000 => format!("{:.1} days", m as f64 / 86_400_000.0),
        m if m >= 3_600_000 => format!("{:.1} hours", m as f64 / 3_600_000.0),
        m if m >= 60_000 => format!("{:.1} minutes", m as f64 / 60_000.0),
        m => format!("{m} ms"),
    }
}

/// The check of one partition's cut in one execution of a scan.
#[derive(Debug)]
pub(crate) struct CutCheck {
    cut: PartitionCut,
    margin_ms: i64,
    /// Ranges of the cut's first read not yet finished.
    pending: AtomicUsize,
    contradicted: AtomicBool,
    first_contradiction: Mutex<Option<Contradiction>>,
}

impl CutCheck {
    /// A check of `cut`, whose first read is split into `ranges` ranges.
    pub fn new(cut: PartitionCut, margin_ms: i64, ranges: usize) -> Self {
        Self {
            cut,
            margin_ms,
            pending: AtomicUsize::new(ranges),
            contradicted: AtomicBool::new(false),
            first_contradiction: Mutex::new(None),
        }
    }

    /// The lateness margin the cut assumed, in milliseconds.
    pub fn margin_ms(&self) -> i64 {
        self.margin_ms
    }

    /// True once any reader found a contradiction.
    pub fn is_contradicted(&self) -> bool {
        self.contradicted.load(Ordering::Relaxed)
    }

    /// Records a contradiction (the first one is kept for the report).
    pub fn contradict(&self, what: Contradiction) {
        if !self.contradicted.swap(true, Ordering::AcqRel)
            && let Ok(mut first) = self.first_contradiction.lock()
        {
            first.get_or_insert(what);
        }
    }

    /// Marks one range of the first read as done. The reader that finishes
    /// the last one gets the rest of the partition to read, if the cut was
    /// contradicted, with the contradiction to report.
    pub fn finish_range(&self) -> Option<(Contradiction, Vec<OffsetRange>)> {
        if self.pending.fetch_sub(1, Ordering::AcqRel) != 1 || !self.is_contradicted() {
            return None;
        }
        let what = self.first_contradiction.lock().ok().and_then(|g| *g)?;
        Some((what, self.cut.rest()))
    }

    /// The cut.
    pub fn cut(&self) -> &PartitionCut {
        &self.cut
    }
}

/// Watches one range's message times in offset order.
#[derive(Debug, Default)]
pub(crate) struct OrderWatch {
    latest_ms: Option<i64>,
}

impl OrderWatch {
    /// Sees the message at `offset` with message time `ts_ms`; returns a
    /// contradiction when it is behind the latest time seen by more than
    /// `margin_ms`.
    pub fn see(&mut self, offset: i64, ts_ms: i64, margin_ms: i64) -> Option<Contradiction> {
        let latest = self.latest_ms.get_or_insert(ts_ms);
        let behind = latest.saturating_sub(ts_ms);
        *latest = (*latest).max(ts_ms);
        (behind > margin_ms).then_some(Contradiction::Disorder {
            offset,
            behind_ms: behind,
        })
    }
}

/// The checks of one execution of a scan, one per cut partition.
pub(crate) type Checks = HashMap<i32, Arc<CutCheck>>;

/// One execution: its task context, the output partitions it has run, and
/// its checks.
#[derive(Debug)]
struct Run {
    context: Weak<TaskContext>,
    started: Vec<bool>,
    checks: Arc<Checks>,
}

/// The executions of one plan. The output partitions of one execution are
/// run with one task context; each `execute(partition)` joins the
/// execution of its context that has not yet run that partition, so a plan
/// executed twice, even at once, checks (and widens) each execution on its
/// own.
#[derive(Debug, Default)]
pub(crate) struct Executions {
    runs: Mutex<Vec<Run>>,
}

impl Executions {
    /// The checks for output partition `partition` of `outputs`, run with
    /// `context`, made by `make` for a new execution.
    pub fn checks_for(
        &self,
        context: &Arc<TaskContext>,
        partition: usize,
        outputs: usize,
        make: impl FnOnce() -> Checks,
    ) -> Arc<Checks> {
        let Ok(mut runs) = self.runs.lock() else {
            return Arc::new(make());
        };
        // an execution whose context is gone, or that every output
        // partition has joined, takes no one else
        runs.retain(|r| r.context.strong_count() > 0 && !r.started.iter().all(|s| *s));
        let ours = |r: &Run| r.context.upgrade().is_some_and(|c| Arc::ptr_eq(&c, context));
        if let Some(run) = runs
            .iter_mut()
            .find(|r| ours(r) && !r.started.get(partition).copied().unwrap_or(true))
        {
            run.started[partition] = true;
            return Arc::clone(&run.checks);
        }
        let mut started = vec![false; outputs.max(partition + 1)];
        started[partition] = true;
        let checks = Arc::new(make());
        runs.push(Run {
            context: Arc::downgrade(context),
            started,
            checks: Arc::clone(&checks),
        });
        checks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut() -> PartitionCut {
        let r = |start, end| OffsetRange {
            partition: 3,
            start,
            end,
        };
        PartitionCut {
            partition: 3,
            limit: r(0, 100),
            first: r(40, 60),
        }
    }

    #[test]
    fn disorder_beyond_the_margin_is_seen_and_within_it_is_not() {
        let mut w = OrderWatch::default();
        assert_eq!(w.see(0, 1_000, 50), None);
        assert_eq!(w.see(1, 960, 50), None, "40 ms behind is within the margin");
        assert_eq!(w.see(2, 2_000, 50), None);
        assert_eq!(
            w.see(3, 1_000, 50),
            Some(Contradiction::Disorder {
                offset: 3,
                behind_ms: 1_000
            })
        );
    }

    #[test]
    fn the_last_reader_of_a_contradicted_cut_reads_the_rest_once() {
        let check = CutCheck::new(cut(), 50, 2);
        check.contradict(Contradiction::Skew {
            offset: 45,
            skew_ms: 86_400_000 * 30,
        });
        check.contradict(Contradiction::Disorder {
            offset: 50,
            behind_ms: 1,
        });
        assert_eq!(check.finish_range(), None, "one range is still being read");
        let (what, rest) = check.finish_range().unwrap();
        assert_eq!(
            what,
            Contradiction::Skew {
                offset: 45,
                skew_ms: 86_400_000 * 30
            }
        );
        assert_eq!(rest, cut().rest());
        assert!(what.to_string().contains("30.0 days"), "{what}");
        // an uncontradicted cut reads nothing more
        let calm = CutCheck::new(cut(), 50, 1);
        assert_eq!(calm.finish_range(), None);
    }

    #[test]
    fn each_execution_gets_its_own_checks_even_interleaved() {
        let runs = Executions::default();
        let make = || Checks::from([(3, Arc::new(CutCheck::new(cut(), 50, 2)))]);
        let (a, b) = (Arc::new(TaskContext::default()), Arc::new(TaskContext::default()));
        // two executions at once: a0, b0, b1, a1
        let a0 = runs.checks_for(&a, 0, 2, make);
        let b0 = runs.checks_for(&b, 0, 2, make);
        let b1 = runs.checks_for(&b, 1, 2, make);
        let a1 = runs.checks_for(&a, 1, 2, make);
        assert!(Arc::ptr_eq(&a0, &a1) && Arc::ptr_eq(&b0, &b1));
        assert!(!Arc::ptr_eq(&a0, &b0));
        // the same context executing the plan again starts afresh
        let again = runs.checks_for(&a, 0, 2, make);
        assert!(!Arc::ptr_eq(&a0, &again));
    }
}
