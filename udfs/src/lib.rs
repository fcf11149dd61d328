//! Pulse's SQL functions: the industries value object, industry-name
//! normalisation, and the `industries()` / `explode_industries(...)` table
//! functions.
//!
//! The functions arrive with the customers work (issue 3); this crate holds
//! their place in the workspace so that the engine and the binary already
//! depend on it the way they will.
