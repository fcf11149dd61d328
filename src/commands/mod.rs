//! The subcommands of `pulse`, one file each, each with its clap arguments
//! and its `run`:
//! - [`answer`]: the top 3 industries (or all 10) as a table, CSV or JSON;
//! - [`sql`]: the SQL shell, or statements from `-c` and `-f`;
//! - [`generate`]: the simulated business, to a topic, a file or a prefix;
//! - [`produce`]: a JSON-lines file of orders into a topic;
//! - [`ingest`]: the topic into the lake's Delta tables, exactly once;
//! - [`serve`]: the session as an Arrow Flight SQL endpoint;
//! - `scheduler` and `executor` (feature `distributed`): the Ballista
//!   scheduler and executor of a Pulse cluster.
//!
//! What must stay true: a command reads its sources through
//! [`crate::sources`] and writes through [`crate::sinks`], so two commands
//! never disagree about what a table or a message is.

pub mod answer;
#[cfg(feature = "distributed")]
pub mod executor;
pub mod generate;
pub mod ingest;
pub mod produce;
#[cfg(feature = "distributed")]
pub mod scheduler;
pub mod serve;
pub mod sql;
