//! # udd-api
//!
//! The outermost layer: it reads the configuration, plugs the adapters into the use
//! cases, and exposes them over HTTP (actix-web, Rocket.Chat-compatible routes) and as
//! the `udd` command line. Handlers stay thin — parse, call a use case, map the result —
//! and every error becomes one of Rocket.Chat's error bodies through [`error::ApiError`].
//!
//! This is the only crate that knows actix-web and the `config` crate.

pub mod auth;
pub mod cli;
mod cli_demo;
mod cli_export;
mod cli_import;
mod cli_serve;
pub mod db_copy;
pub mod ddp;
pub mod dto;
pub mod error;
pub mod instance;
pub mod metrics;
pub mod officer;
pub mod ops;
pub mod page;
pub mod password;
pub mod progress;
pub mod proxy;
pub mod ranges;
pub mod repositories;
pub mod routes;
pub mod server;
pub mod services;
pub mod settings;
pub mod storage;
pub mod storage_check;
pub mod storage_copy;
pub mod throttle;
pub mod worker;

pub use server::Application;
pub use services::{Repositories, Services, ServicesBuilder, Storage};
pub use settings::Settings;
