//! # udd-app
//!
//! The use cases of udd, written against the traits of `udd-ports` and nothing else:
//! logging in, adding users, requesting a data download, importing a workspace,
//! running exports, mailing their owners, serving downloads and sweeping expired files. Each use case is a small
//! struct holding the ports it needs as `Arc<dyn Port>`, with one error enum whose
//! variants say what a caller can act on plus an `Unexpected` catch-all.
//!
//! This crate knows no HTTP, no SQL and no filesystem: `udd-api` drives it, and
//! `udd-adapters` supplies the ports.

#[macro_use]
mod use_case;

pub mod accounts;
pub mod auth;
pub mod demo;
pub mod download;
pub mod export;
pub mod guard;
pub mod import;
pub mod my_data;
pub mod notify;
pub mod records;
pub mod request;
pub mod retention;

pub use accounts::{check_new_password, AddUser, AddUserError, NewAccount, MIN_PASSWORD_CHARS};
pub use auth::{
    AuthError, Authenticator, Challenge, LoginError, Password, RemoteSessionCheck,
    SecondFactorCheck, SecondFactorError, Session, SessionCacheConfig, TwoFactorConfig,
};
pub use demo::{DemoError, DemoSpec, DemoSummary, SeedDemo, DEMO_PASSWORD};
pub use download::{DownloadDataFile, DownloadError, Granted, Requester};
pub use export::{ClaimHook, EngineConfig, ExportEngine, ExportPorts, Outcome};
pub use guard::catch_panic;
pub use import::{CollectionCounts, ImportError, ImportSummary, ImportWorkspace};
pub use my_data::{MyExport, MyExports, MyExportsError};
pub use notify::{download_path, DeliveryReport, NotifyConfig, NotifyOwners};
pub use records::{EraseError, EraseUserExports, Erasure};
pub use request::{DataDownloadRequest, RequestDataDownload, RequestDownloadError};
pub use retention::{RecordsRetention, Retention, SweepReport, TokenRetention};
