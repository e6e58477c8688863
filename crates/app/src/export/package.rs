//! Packaging: the profile, avatar, index and manifest written beside the room files,
//! the archive assembled from them and the uploads, and its recording as the owner's
//! file.

use anyhow::Context;
use udd_domain::i18n::Catalogue;
use udd_domain::render::{
    index_html, month_index_file, month_index_html, page_files, user_html, user_json,
    zip_file_name, AttachedFile, IndexFile, IndexRoom, Manifest, ManifestFile, ManifestRoom,
    Unavailable, MANIFEST_FORMAT_VERSION, STYLESHEET,
};
use udd_domain::{ExportOperation, User, UserDataFile};
use udd_ports::{ArchiveEntry, ArchiveSource, ExportFileRef};

use super::error::{Run, Step};
use super::ExportEngine;

impl ExportEngine {
    /// Copies every upload met into `assets/`; missing ones are left out and reported.
    /// Writes the profile files, the avatar, the index and the manifest, then the zip.
    pub(super) fn compress(
        &self,
        op: &ExportOperation,
        user: &User,
        run: &Run<'_>,
    ) -> Step<String> {
        run.progress.start("zip", None);
        let files = &self.ports.files;
        let has_avatar = self.copy_avatar(op, user)?;
        // Uploads go into the zip straight from the blob store; the manifest needs
        // their size and hash, and the index which ones are there.
        let mut assets = Vec::new();
        let mut unavailable = Vec::new();
        if !has_avatar {
            unavailable.push(Unavailable::Avatar);
        }
        let mut owned = Vec::new();
        for upload in self.ports.progress.files(&op.id)? {
            let found = self.exportable_upload(op, &upload.file_id)?;
            let blob = self.asset_blob(op, &upload, found.as_ref().and_then(|f| f.blob.clone()));
            if let Some(found) = found.filter(|f| f.user_id.as_ref() == Some(&op.user_id)) {
                let shown =
                    AttachedFile::new(&upload.file_id, &found.name, found.content_type.as_deref());
                owned.push(IndexFile {
                    name: upload.name.clone(),
                    asset: blob.is_some().then(|| upload.asset.clone()),
                    content_type: found.content_type,
                    size: found.size,
                    is_image: shown.is_image,
                    download_only: shown.download_only,
                });
            }
            match blob {
                Some((key, (size, sha256))) => assets.push((upload, key, size, sha256)),
                None => unavailable.push(Unavailable::Upload {
                    id: upload.file_id.to_string(),
                    name: upload.name.clone(),
                }),
            }
        }
        if op.full_export {
            files.write(&op.id, "user.json", user_json(user).as_bytes())?;
        } else {
            // The archive's fixed words are in the owner's language, like their mails.
            let words = Catalogue::for_language(user.language.as_deref());
            let profile = user_html(user, has_avatar, &words);
            files.write(&op.id, "user.html", profile.as_bytes())?;
            files.write(&op.id, "style.css", STYLESHEET.as_bytes())?;
            let mut rooms = Vec::new();
            for r in &op.room_list {
                let title = if r.pages.title.is_empty() {
                    &r.room_name
                } else {
                    &r.pages.title
                };
                let months = month_index_html(title, &r.target_file, &r.pages.months, &words);
                files.write(&op.id, &month_index_file(&r.target_file), months.as_bytes())?;
                rooms.push(IndexRoom {
                    name: title.clone(),
                    room_type: r.room_type.code().to_owned(),
                    file: r.target_file.clone(),
                    messages: r.exported_count,
                    first: r.pages.first,
                    last: r.cursor.as_ref().map(|c| c.ts),
                });
            }
            let index = index_html(user, has_avatar, &rooms, &owned, &unavailable, &words);
            files.write(&op.id, "index.html", index.as_bytes())?;
        }
        // What follows holds a line per file of the archive; what is done with goes
        // first (an export may carry tens of thousands of uploads).
        drop(owned);
        let cutoff = op
            .cutoff
            .context("the cutoff is fixed before compressing")?;
        // A manifest left by an interrupted attempt is not part of its own listing.
        let mut listed: Vec<(ManifestFile, ArchiveSource)> = files
            .list(&op.id)?
            .into_iter()
            .filter(|f| f.path != "manifest.json")
            .map(|f| {
                let source = ArchiveSource::Working(f.path.clone());
                (f, source)
            })
            .collect();
        for (upload, key, size, sha256) in assets {
            let file = ManifestFile {
                path: format!("assets/{}", upload.asset),
                size,
                sha256,
            };
            listed.push((file, ArchiveSource::Blob(key)));
        }
        listed.sort_by(|a, b| a.0.path.cmp(&b.0.path));
        let mut manifest = Manifest {
            format_version: MANIFEST_FORMAT_VERSION,
            kind: if op.full_export { "full" } else { "personal" },
            user_id: user.id.to_string(),
            username: user.username.clone(),
            cutoff: udd_domain::time::iso_millis(cutoff),
            rooms: op
                .room_list
                .iter()
                .map(|r| ManifestRoom {
                    room_id: r.room_id.to_string(),
                    room_name: r.room_name.clone(),
                    room_type: r.room_type.code().to_owned(),
                    file: r.target_file.clone(),
                    messages: r.exported_count,
                    pages: if op.full_export {
                        Vec::new()
                    } else {
                        page_files(&r.target_file, r.exported_count)
                    },
                })
                .collect(),
            files: Vec::with_capacity(listed.len()),
            // The manifest is read by programs: its lines stay in English.
            unavailable: unavailable
                .iter()
                .map(|item| item.describe(&Catalogue::english()))
                .collect(),
        };
        let mut entries = Vec::with_capacity(listed.len() + 1);
        entries.push(ArchiveEntry {
            name: "manifest.json".to_owned(),
            source: ArchiveSource::Working("manifest.json".to_owned()),
        });
        for (file, source) in listed {
            entries.push(ArchiveEntry {
                name: file.path.clone(),
                source,
            });
            manifest.files.push(file);
        }
        files.write(&op.id, "manifest.json", manifest.to_json().as_bytes())?;
        drop(manifest);
        run.check()?;
        let zip = self.ports.archives.store(&op.id, &entries, cutoff)?;
        run.progress.finish("zip written");
        Ok(zip)
    }

    /// The blob key, size and hash of an upload's bytes (`key`), or `None` when they
    /// are gone or cannot be read: one unreadable file is listed as unavailable rather
    /// than failing the whole export.
    fn asset_blob(
        &self,
        op: &ExportOperation,
        upload: &ExportFileRef,
        key: Option<String>,
    ) -> Option<(String, (u64, String))> {
        let key = key?;
        match self.ports.blobs.describe(&key) {
            Ok(described) => described.map(|described| (key, described)),
            Err(e) => {
                tracing::warn!(operation = %op.id, file = %upload.file_id, error = %format!("{e:#}"), "an upload could not be read; listed as unavailable");
                None
            }
        }
    }

    fn copy_avatar(&self, op: &ExportOperation, user: &User) -> Step<bool> {
        let Some(avatar) = self.ports.reader.avatar_of(&user.username)? else {
            return Ok(false);
        };
        let Some(key) = avatar.blob else {
            return Ok(false);
        };
        use std::io::Read as _;
        let opened = self.ports.blobs.open(&key).and_then(|content| {
            // Read whole before writing, so an unreadable avatar fails here, not
            // half-way into the working folder.
            content
                .map(|mut content| {
                    let mut bytes = Vec::new();
                    content.read_to_end(&mut bytes).map(|_| bytes)
                })
                .transpose()
                .map_err(anyhow::Error::new)
        });
        let opened = match opened {
            Ok(opened) => opened,
            Err(e) => {
                tracing::warn!(operation = %op.id, error = %format!("{e:#}"), "the avatar could not be read; listed as unavailable");
                None
            }
        };
        match opened.map(std::io::Cursor::new) {
            Some(mut content) => {
                self.ports
                    .files
                    .write_from(&op.id, "avatar", &mut content)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Records the archive as the user's file, completes the operation, and removes the
    /// working folder.
    pub(super) fn upload(
        &self,
        op: &ExportOperation,
        user: &User,
        run: &Run<'_>,
    ) -> Step<UserDataFile> {
        let key = op
            .archive_key
            .clone()
            .context("the archive is written before it is recorded")?;
        let (size, sha256) = self.ports.archives.describe(&key)?;
        let now = self.ports.clock.now();
        let file = UserDataFile {
            id: self.ports.ids.new_id().into(),
            user_id: user.id.clone(),
            name: zip_file_name(now, user.display_name(), op.full_export),
            size,
            sha256,
            key,
            created_at: now,
            // Settings bound the days; a date past chrono's range just never expires.
            expires_at: now.checked_add_signed(chrono::Duration::days(i64::from(
                self.config.retention_days,
            ))),
            removed_at: None,
        };
        run.check()?;
        self.ports
            .progress
            .complete(&op.id, run.owner, &file, now)?;
        if let Err(e) = self.ports.files.remove_all(&op.id) {
            tracing::warn!(operation = %op.id, error = %e, "could not remove the working folder");
        }
        Ok(file)
    }
}
