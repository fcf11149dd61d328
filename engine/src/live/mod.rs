//! Live sessions: views kept up to date by what is new, instead of
//! computed again over the whole window by every query.
//!
//! A session that lives on (`pulse serve`, `--watch`, the shell) already
//! reads the topic through the decoded-log cache ([`crate::kafka::cache`]),
//! so a query fetches and decodes only new offsets; but it still runs the
//! views over every cached row. Here, the part of the answer that grows
//! with the window, each customer's sums of its deduplicated orders
//! (`customer_window_sums`), is *maintained*: state that a query moves to
//! its cut and `T` by the new messages and the orders the window's edges
//! crossed ([`window_sums`]), served as the view's table
//! ([`MaintainedWindowSums`], put in the view's place by
//! [`crate::views::load_views_maintained`]). The other part a query of the
//! answer runs, each customer's industries (`customer_industries`), reads
//! only the customer batches, which change far less often than the answer
//! is asked for: it is held while the batches are the same
//! ([`BatchKeyedView`]). `SELECT * FROM pulse_live` shows what is kept
//! ([`LiveTable`]); [`LiveViews`] sets a session up with all of it.
//!
//! What must stay true: a maintained view's rows are the SQL view's rows at
//! the same `T` and cut; the SQL file stays the definition, the state is
//! how a live session computes it, and the test suite compares the two
//! while orders, duplicates, late and malformed messages and new
//! partitions arrive and `T` moves.

pub mod batch_keyed;
pub mod maintained;
pub mod status;
pub mod window_sums;

pub use batch_keyed::BatchKeyedView;
pub use maintained::{Holding, MaintainedWindowSums, Refresh};
pub use status::LiveTable;
pub use window_sums::WindowSums;

use std::sync::Arc;

use datafusion::catalog::TableProvider;
use datafusion::error::Result as DFResult;

use crate::customers::CustomersTable;
use crate::kafka::KafkaTable;
use crate::views::Maintainer;

/// What a live session over the topic `orders` keeps for its views.
#[derive(Debug)]
pub struct LiveViews {
    sums: Arc<MaintainedWindowSums>,
    customers: Option<Arc<CustomersTable>>,
}

impl LiveViews {
    /// The views over `orders` (the session's `orders` table) and, if
    /// given, `customers` (its `customers` table).
    pub fn new(orders: Arc<KafkaTable>, customers: Option<Arc<CustomersTable>>) -> DFResult<Self> {
        Ok(Self {
            sums: Arc::new(MaintainedWindowSums::new(orders)?),
            customers,
        })
    }

    /// The views served from kept state, for
    /// [`crate::views::load_views_maintained`].
    pub fn maintainers(&self) -> Vec<(&'static str, Maintainer)> {
        let sums: Arc<dyn TableProvider> = Arc::clone(&self.sums) as _;
        let mut views: Vec<(&'static str, Maintainer)> = vec![(maintained::VIEW, Arc::new(move |_| Arc::clone(&sums)))];
        if let Some(customers) = &self.customers {
            let customers = Arc::clone(customers);
            views.push((
                "customer_industries_v1",
                Arc::new(move |view| Arc::new(BatchKeyedView::new(view, Arc::clone(&customers)))),
            ));
        }
        views
    }

    /// The table `pulse_live`.
    pub fn status(&self) -> Arc<dyn TableProvider> {
        Arc::new(LiveTable::new(Arc::clone(&self.sums)))
    }
}
