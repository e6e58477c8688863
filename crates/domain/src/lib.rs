//! # udd-domain
//!
//! The model of a user data download and the rules that govern it, with no I/O at all:
//! no database, no filesystem, no clock, no HTTP. Time comes in as arguments, so every
//! rule here is a plain function that can be unit-tested and embedded in another service.
//!
//! - [`export`]: export operations, their statuses and the state machine between them,
//!   and the per-room progress entries;
//! - [`file`]: the finished archive its owner downloads, and when it is available;
//! - [`ids`]: typed ids (operation, user, file, room, upload) for what crosses a port;
//! - [`login`]: blocking after failed logins, and how long login tokens work;
//! - [`policy`]: when a new request reuses the last operation and when it creates one;
//! - [`rate`]: counting API calls in fixed windows (the REST rate limiter);
//! - [`render`]: escaping, safe names, pseudonyms and every file an export writes;
//! - [`user`]: the user profile that an export describes;
//! - [`time`]: the timestamp format the Rocket.Chat API speaks;
//! - [`two_factor`]: second factors at login: TOTP (RFC 6238), backup codes, e-mailed codes;
//! - [`workspace`]: the rooms, memberships, messages, uploads and avatars an export reads.

#![doc = include_str!("../README.md")]

pub mod export;
pub mod file;
pub mod i18n;
pub mod ids;
pub mod login;
pub mod policy;
pub mod rate;
pub mod render;
pub mod time;
pub mod two_factor;
pub mod user;
pub mod workspace;

pub use export::{
    ExportOperation, ExportStatus, IllegalTransition, ListedFile, RequestedBy, RoomExport,
    RoomExportStatus, RoomType, UnknownRequester, UnknownStatus,
};
pub use file::UserDataFile;
pub use ids::{FileId, OperationId, RoomId, UploadId, UserId};
pub use login::{
    token_fingerprint, BlockRule, FailedLogins, LoginProtection, LoginSubject, TokenLifetime,
};
pub use policy::{RequestDecision, RequestPolicy};
pub use rate::{CallWindow, RateDecision, RateRule};
pub use two_factor::{
    EmailCode, EmailCodeCheck, SecondFactorMethod, SecondFactors, TotpRule, TotpSecret,
};
pub use user::{Email, User};
pub use workspace::{
    is_plain_id, Avatar, Message, MessageCursor, Reaction, Room, Subscription, Upload,
};
