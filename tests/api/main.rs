//! Black-box tests: the real app on a free port, a temporary SQLite file and temporary
//! folders, spoken to over HTTP. Everything under tests/api compiles into one binary.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod dumps;
mod helpers;
mod openapi;
mod stand_in;
mod webdriver;

mod archive_pages;
mod behind_nginx;
mod db_copy;
mod delivery;
mod demo;
mod download;
mod export;
mod export_faults;
mod hardening;
mod health;
mod import;
mod import_gridfs;
mod import_mongodump;
mod in_memory;
mod link_login;
mod login;
mod login_hardening;
mod mail_words;
mod many_uploads;
mod method_call;
mod metrics;
mod my_data;
mod my_data_browser;
mod object_storage;
mod postgres;
mod proxies;
mod repeat_requests;
mod request_data_download;
mod robustness;
mod rocketchat_sessions;
mod sync;
mod two_factor;
