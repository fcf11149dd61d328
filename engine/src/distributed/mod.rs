//! Pulse on Apache DataFusion Ballista (feature `distributed`): the codecs
//! that carry Pulse's tables and scans between the processes of a cluster,
//! and the sessions each role runs.
//!
//! A query goes from a client to the scheduler as a logical plan; the
//! scheduler plans it, which is when a Kafka scan asks the broker where to
//! cut and a customers scan lists the batches, so the scheduler needs the
//! broker and the object store too. It then sends each stage's physical
//! plan to the executors, which read exactly the ranges and objects that
//! were planned and never decide them again.
//!
//! - [`codec`]: [`PulseLogicalCodec`] and [`PulsePhysicalCodec`], composed
//!   with Ballista's own.
//! - [`cluster`]: the client session (`--cluster`), the scheduler and the
//!   executor (`pulse scheduler`, `pulse executor`), and a whole cluster
//!   in one process for tests.
//! - [`slice`](mod@slice): how each Ballista task reads only its share of a scan.
//! - [`wire`]: how Pulse's parts are written inside a codec's buffer.
//!
//! What must stay true: a table or scan that cannot be shipped fails when
//! the query is planned, with an error naming it, and never runs on the
//! client instead; secrets (Kafka passwords, S3 credentials) never travel
//! in a plan: each cluster process uses its own.

pub mod cluster;
pub mod codec;
pub mod slice;
pub mod wire;

pub use cluster::{ClusterSettings, InProcessCluster, client_state, parse_scheduler_url};
pub use codec::{PulseLogicalCodec, PulsePhysicalCodec};
pub use slice::{SliceForTasks, SlicedScanExec};
