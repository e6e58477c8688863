//! `udd storage check`: whether every store that keeps the workspace's uploads and
//! avatars can be read with the settings as they are — udd's own store, Rocket.Chat's
//! bucket (`[rocketchat.uploads]`) and Rocket.Chat's WebDAV server
//! (`[rocketchat.webdav]`). In each store that keeps any, one of them is read. A store
//! the settings do not name, or that refuses or cannot find what it keeps, would make
//! those files unavailable in every export, which an export only logs as warnings.

use std::io::{Read, Write};

use udd_adapters::blob_key_prefix;
use udd_adapters::object::{ROCKETCHAT_S3, ROCKETCHAT_WEBDAV};
use udd_ports::{BlobKind, BlobStore, WorkspaceReader};

use crate::services::Services;
use crate::settings::{Settings, StorageKind};

/// A store that may keep uploads or avatars: what it is called, the blob keys it
/// keeps, the setting that names it when it is not named, and the settings to look
/// at when it cannot be read.
struct Place {
    name: &'static str,
    prefix: &'static str,
    missing_setting: Option<&'static str>,
    settings: &'static str,
}

/// What the check found in one store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Finding {
    /// It keeps nothing the workspace names.
    Unused,
    /// It keeps files, and the one tried was read.
    Readable {
        /// How many files it keeps.
        count: u64,
        /// The blob key of the one read.
        tried: String,
    },
    /// It keeps files that cannot be read.
    Unreadable {
        /// How many files it keeps.
        count: u64,
        /// What went wrong, and what to look at.
        why: String,
    },
}

/// Checks every store that `services` reads files from, writes one line per store to
/// `out`; an error when a store keeps files that cannot be read.
pub fn run(settings: &Settings, services: &Services, out: &mut dyn Write) -> anyhow::Result<()> {
    let findings = check(settings, &*services.reader, &*services.blobs)?;
    let mut failing = 0;
    for (name, finding) in &findings {
        let line = match finding {
            Finding::Unused => format!("{name}: keeps nothing of this workspace"),
            Finding::Readable { count, tried } => {
                format!("{name}: keeps {count} file(s); read {tried}")
            }
            Finding::Unreadable { count, why } => {
                failing += 1;
                format!("{name}: keeps {count} file(s) that exports cannot read: {why}")
            }
        };
        writeln!(out, "{line}")?;
    }
    anyhow::ensure!(
        failing == 0,
        "{failing} store(s) keep uploads or avatars that exports would list as unavailable"
    );
    Ok(())
}

/// A warning for each store that keeps files of the workspace that exports cannot
/// read (a store the settings do not name, most often), or that the stores could not
/// be checked: what `udd import` prints once it is done, and what a process that runs
/// exports logs as it starts.
pub(crate) fn warnings(settings: &Settings, services: &Services) -> Vec<String> {
    match check(settings, &*services.reader, &*services.blobs) {
        Ok(findings) => findings
            .into_iter()
            .filter_map(|(name, finding)| match finding {
                Finding::Unreadable { count, why } => Some(format!(
                    "{name} keeps {count} upload(s) or avatar(s) of this workspace that \
                     exports cannot read, and would list as unavailable: {why}"
                )),
                Finding::Unused | Finding::Readable { .. } => None,
            })
            .collect(),
        Err(e) => vec![format!("the stores of uploads could not be checked: {e:#}")],
    }
}

/// Logs [`warnings`] from a thread of its own, so that a slow store does not hold up
/// the start of the process.
pub(crate) fn warn_in_background(settings: &Settings, services: &Services) {
    let (settings, services) = (settings.clone(), services.clone());
    std::thread::spawn(move || {
        for warning in warnings(&settings, &services) {
            tracing::warn!("{warning} (udd storage check)");
        }
    });
}

/// What each store holds and whether one of its files can be read, in a fixed order.
pub(crate) fn check(
    settings: &Settings,
    reader: &dyn WorkspaceReader,
    blobs: &dyn BlobStore,
) -> anyhow::Result<Vec<(&'static str, Finding)>> {
    let (own, own_settings) = match settings.storage.kind {
        StorageKind::Local => ("udd's store (storage.blob_path)", "storage.blob_path"),
        StorageKind::S3 => ("udd's store (the [storage] bucket)", "[storage]"),
    };
    let unset = |empty: bool, setting| empty.then_some(setting);
    let places = [
        Place {
            name: own,
            prefix: blob_key_prefix(BlobKind::Upload),
            missing_setting: None,
            settings: own_settings,
        },
        Place {
            name: "udd's store, avatars",
            prefix: blob_key_prefix(BlobKind::Avatar),
            missing_setting: None,
            settings: own_settings,
        },
        Place {
            name: "Rocket.Chat's bucket ([rocketchat.uploads])",
            prefix: ROCKETCHAT_S3,
            missing_setting: unset(
                settings.rocketchat.uploads.bucket.trim().is_empty(),
                "rocketchat.uploads.bucket is not set",
            ),
            settings: "rocketchat.uploads (bucket, endpoint, region, path_style, the keys)",
        },
        Place {
            name: "Rocket.Chat's WebDAV server ([rocketchat.webdav])",
            prefix: ROCKETCHAT_WEBDAV,
            missing_setting: unset(
                settings.rocketchat.webdav.url.trim().is_empty(),
                "rocketchat.webdav.url is not set",
            ),
            settings: "rocketchat.webdav (url, username, password)",
        },
    ];
    let mut findings = Vec::new();
    for place in places {
        let (count, first) = reader.blobs_under(place.prefix)?;
        let finding = match (first, place.missing_setting) {
            (None, _) => Finding::Unused,
            (Some(_), Some(setting)) => Finding::Unreadable {
                count,
                why: setting.to_owned(),
            },
            (Some(key), None) => match read_one_byte(blobs, &key) {
                Ok(()) => Finding::Readable { count, tried: key },
                Err(why) => Finding::Unreadable {
                    count,
                    why: format!("{why}; check {}", place.settings),
                },
            },
        };
        findings.push((place.name, finding));
    }
    Ok(findings)
}

/// Opens `key` and reads a byte of it (an empty file reads as it is).
fn read_one_byte(blobs: &dyn BlobStore, key: &str) -> Result<(), String> {
    match blobs.open(key) {
        Ok(Some(content)) => {
            let mut byte = Vec::new();
            content
                .take(1)
                .read_to_end(&mut byte)
                .map(|_| ())
                .map_err(|e| format!("reading {key}: {e}"))
        }
        Ok(None) => Err(format!("{key} is not there")),
        // What was read, and what the server said (the levels between repeat it).
        Err(e) => Err(match (e.to_string(), e.root_cause().to_string()) {
            (what, why) if what == why => what,
            (what, why) => format!("{what}: {why}"),
        }),
    }
}
