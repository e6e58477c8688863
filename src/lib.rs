//! # udd
//!
//! A user data download service compatible with Rocket.Chat's "User Data Download".
//!
//! This root package is only a facade: it re-exports the workspace crates under short
//! names so embedders and the end-to-end tests in `tests/` can reach every layer through
//! one dependency. The real code lives in `crates/`:
//!
//! - [`domain`]: the model and its rules, no I/O;
//! - [`ports`]: the traits the core needs from the outside world;
//! - [`app`]: the use cases, written against the ports;
//! - [`adapters`]: SQLite, filesystem, hashing, clock and id implementations of the ports;
//! - [`api`]: the HTTP server, configuration and the `udd` command line.

pub use udd_adapters as adapters;
pub use udd_api as api;
pub use udd_app as app;
pub use udd_domain as domain;
pub use udd_ports as ports;
