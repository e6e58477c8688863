//! Packaging: the profile, avatar, index and manifest written beside the room files,
//! the archive assembled from them and the uploads, and its recording as the owner's
//! file. Memory does not grow with the number of uploads (see [`super::listing`]).

use anyhow::Context;
use std::collections::HashMap;
use udd_domain::i18n::Catalogue;
use udd_domain::render::{
    month_index_file, month_index_html, page_count, page_file, page_files, pages_file, user_html,
    user_json, zip_file_name, AttachedFile, IndexFile, IndexPage, IndexRoom, Manifest,
    ManifestFile, ManifestRoom, ManifestWriter, Unavailable, MANIFEST_FORMAT_VERSION, PAGES_FOLDER,
    STYLESHEET,
};
use udd_domain::{ExportOperation, User, UserDataFile};

use udd_ports::{ArchiveEntry, ArchiveSource, ExportFileRef, WorkingRange};

use super::error::{Run, Step};
use super::listing::{
    archive_files, read_unavailable, Appender, Asset, UnavailableList, ASSET_LIST, MANIFEST,
    UNAVAILABLE_LIST, UPLOAD_PAGE,
};
use super::messages::page_part;
use super::ExportEngine;

/// What an archive holds besides its manifest: the files of the working folder and
/// how many uploads are listed in [`ASSET_LIST`].
pub(super) struct Package {
    working: Vec<(ManifestFile, ArchiveSource)>,
    assets: u64,
}

impl ExportEngine {
    /// Writes the profile files, the avatar, the index and the manifest, listing every
    /// upload met that can still be read (the zip reads them straight from the blob
    /// store); missing ones are left out and reported.
    ///
    /// Nothing here holds a record per upload or per archive entry: uploads are read a
    /// page at a time, the index and the manifest are written as they are produced, and
    /// the uploads that go into the archive are listed in the working folder
    /// ([`ASSET_LIST`]) and read back from there, merged with the few working files;
    /// so is what could not ([`UNAVAILABLE_LIST`]).
    ///
    /// Returns what goes into the zip, which [`write_zip`](Self::write_zip) writes.
    /// Nothing here reads what the compressing threads of the messages stage still
    /// work on (the room files are complete, and only the zip reads their chunks), so
    /// it runs beside them while they finish.
    pub(super) fn list_package(
        &self,
        op: &ExportOperation,
        user: &User,
        described: Vec<ManifestFile>,
        run: &Run<'_>,
    ) -> Step<Package> {
        run.progress.start("files", None);
        let files = &*self.ports.files;
        let has_avatar = self.copy_avatar(op, user)?;
        let mut unavailable = UnavailableList::create(files, &op.id)?;
        if !has_avatar {
            unavailable.push(&Unavailable::Avatar)?;
        }
        // The archive's fixed words are in the owner's language, like their mails.
        let words = Catalogue::for_language(user.language.as_deref());
        let mut index = if op.full_export {
            files.write(&op.id, "user.json", user_json(user).as_bytes())?;
            None
        } else {
            Some(self.start_pages(op, user, has_avatar, &words)?)
        };
        let assets = self.list_uploads(op, index.as_mut(), &mut unavailable)?;
        let missing = unavailable.finish()?;
        if let Some((mut page, mut html)) = index {
            for item in read_unavailable(files, &op.id, missing)? {
                page.unavailable(&item?, html.buffer());
                html.flush_if_full()?;
            }
            page.finish(html.buffer());
            html.finish()?;
        }
        let cutoff = op
            .cutoff
            .context("the cutoff is fixed before compressing")?;
        let working = self.working_files(op, described)?;
        self.write_manifest(op, user, cutoff, &working, assets, missing)?;
        run.progress
            .finish(&format!("{assets} uploads to pack; unavailable: {missing}"));
        Ok(Package { working, assets })
    }

    /// The files of the working folder that go into the archive, sorted by path, each
    /// with its size and SHA-256 (those of `described`, worked out as they were
    /// written, are not read again) and where its bytes are: a room's pages are ranges
    /// of its pages file.
    fn working_files(
        &self,
        op: &ExportOperation,
        described: Vec<ManifestFile>,
    ) -> Step<Vec<(ManifestFile, ArchiveSource)>> {
        let mut pages: HashMap<String, WorkingRange> = room_pages(op).into_iter().collect();
        let known: HashMap<String, ManifestFile> = described
            .into_iter()
            .map(|file| (file.path.clone(), file))
            .collect();
        let unread: Vec<(String, WorkingRange)> = pages
            .iter()
            .filter(|(name, _)| !known.contains_key(*name))
            .map(|(name, page)| (name.clone(), page.clone()))
            .collect();
        // A manifest left by an interrupted attempt is not part of its own listing; the
        // rooms' pages files are listed as their pages.
        let mut leave_out = vec![MANIFEST, ASSET_LIST, UNAVAILABLE_LIST, PAGES_FOLDER];
        leave_out.extend(known.keys().map(String::as_str));
        let mut files = self.ports.files.list(&op.id, &leave_out, &unread)?;
        files.extend(known.into_values());
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(files
            .into_iter()
            .map(|file| {
                let source = match pages.remove(&file.path) {
                    Some(page) => ArchiveSource::WorkingRange(page),
                    None => ArchiveSource::Working(file.path.clone()),
                };
                (file, source)
            })
            .collect())
    }

    /// Writes the zip of what [`list_package`](Self::list_package) listed; returns its
    /// key in the archive store.
    pub(super) fn write_zip(
        &self,
        op: &ExportOperation,
        package: Package,
        run: &Run<'_>,
    ) -> Step<String> {
        let Package { working, assets } = package;
        let files = &*self.ports.files;
        let cutoff = op
            .cutoff
            .context("the cutoff is fixed before compressing")?;
        run.check()?;
        let manifest = ArchiveEntry {
            name: MANIFEST.to_owned(),
            source: ArchiveSource::Working(MANIFEST.to_owned()),
        };
        let listed = archive_files(files, &op.id, &working, assets)?;
        // The bar counts entries as the archive takes them in: at most a window of
        // them ahead of those appended.
        run.progress
            .start("zip", Some(1 + working.len() as u64 + assets));
        let mut taken = 0;
        let mut entries = std::iter::once(Ok(manifest))
            .chain(listed.map(|next| {
                next.map(|(file, source)| ArchiveEntry {
                    name: file.path,
                    source,
                })
            }))
            .inspect(|_| {
                taken += 1;
                run.progress.set(taken);
            });
        let zip = self.ports.archives.store(&op.id, &mut entries, cutoff)?;
        run.progress.finish("zip written");
        Ok(zip)
    }

    /// A personal export's fixed pages (profile, style, each room's months), and the
    /// start of `index.html`, whose uploads follow.
    fn start_pages<'w>(
        &'w self,
        op: &'w ExportOperation,
        user: &User,
        has_avatar: bool,
        words: &'w Catalogue,
    ) -> Step<(IndexPage<'w>, Appender<'w>)> {
        let files = &*self.ports.files;
        let profile = user_html(user, has_avatar, words);
        files.write(&op.id, "user.html", profile.as_bytes())?;
        files.write(&op.id, "style.css", STYLESHEET.as_bytes())?;
        let mut rooms = Vec::new();
        for r in &op.room_list {
            let title = if r.pages.title.is_empty() {
                &r.room_name
            } else {
                &r.pages.title
            };
            let months = month_index_html(title, &r.target_file, &r.pages.months, words);
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
        let mut html = Appender::create(files, &op.id, "index.html")?;
        let page = IndexPage::start(user, has_avatar, &rooms, words, html.buffer());
        Ok((page, html))
    }

    /// Reads every upload met, a page at a time: the readable ones go into
    /// [`ASSET_LIST`], the owner's into the index (when there is one), the others into
    /// `unavailable`. Returns how many are listed in the first.
    fn list_uploads(
        &self,
        op: &ExportOperation,
        mut index: Option<&mut (IndexPage<'_>, Appender<'_>)>,
        unavailable: &mut UnavailableList<'_>,
    ) -> Step<u64> {
        let mut list = Appender::create(&*self.ports.files, &op.id, ASSET_LIST)?;
        let mut listed = 0;
        let mut after: Option<ExportFileRef> = None;
        loop {
            let page = self
                .ports
                .progress
                .files_page(&op.id, after.as_ref(), UPLOAD_PAGE)?;
            let found = page
                .iter()
                .map(|upload| self.exportable_upload(op, &upload.file_id))
                .collect::<Step<Vec<_>>>()?;
            // Reading every upload to hash it is most of this stage's time: it is
            // spread over the cores, a page at a time.
            let keys: Vec<_> = page
                .iter()
                .zip(&found)
                .map(|(upload, found)| (upload, found.as_ref().and_then(|f| f.blob.clone())))
                .collect();
            let blobs = super::spread::on_every_core(&keys, |(upload, key)| {
                self.asset_blob(op, upload, key.clone())
            });
            for ((upload, found), blob) in page.iter().zip(found).zip(blobs) {
                let blob = blob.flatten();
                if let (Some(found), Some((page, html))) = (
                    found.filter(|f| f.user_id.as_ref() == Some(&op.user_id)),
                    index.as_deref_mut(),
                ) {
                    let shown = AttachedFile::new(
                        &upload.file_id,
                        &found.name,
                        found.content_type.as_deref(),
                    );
                    let row = IndexFile {
                        name: upload.name.clone(),
                        asset: blob.is_some().then(|| upload.asset.clone()),
                        content_type: found.content_type,
                        size: found.size,
                        is_image: shown.is_image,
                        download_only: shown.download_only,
                    };
                    page.file(&row, html.buffer());
                    html.flush_if_full()?;
                }
                match blob {
                    Some((key, (size, sha256))) => {
                        let asset = Asset {
                            name: upload.asset.clone(),
                            size,
                            sha256,
                            key,
                        };
                        asset.push_line(list.buffer());
                        list.flush_if_full()?;
                        listed += 1;
                    }
                    None => unavailable.push(&Unavailable::Upload {
                        id: upload.file_id.to_string(),
                        name: upload.name.clone(),
                    })?,
                }
            }
            if page.len() < UPLOAD_PAGE {
                break;
            }
            after = page.into_iter().last();
        }
        list.finish()?;
        Ok(listed)
    }

    /// Writes `manifest.json` as it is produced: the rooms, then the archive's files
    /// (the `working` ones and the `assets` listed uploads, merged by path), then the
    /// `missing` things that were unavailable.
    fn write_manifest(
        &self,
        op: &ExportOperation,
        user: &User,
        cutoff: chrono::DateTime<chrono::Utc>,
        working: &[(ManifestFile, ArchiveSource)],
        assets: u64,
        missing: u64,
    ) -> Step<()> {
        let files = &*self.ports.files;
        let head = Manifest {
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
            files: Vec::new(),
            unavailable: Vec::new(),
        };
        let mut out = Appender::create(files, &op.id, MANIFEST)?;
        let mut manifest = ManifestWriter::start(&head, out.buffer());
        for next in archive_files(files, &op.id, working, assets)? {
            let (file, _) = next?;
            manifest.file(&file, out.buffer());
            out.flush_if_full()?;
        }
        // The manifest is read by programs: its lines stay in English.
        let english = Catalogue::english();
        for item in read_unavailable(files, &op.id, missing)? {
            manifest.unavailable(&item?.describe(&english), out.buffer());
            out.flush_if_full()?;
        }
        manifest.finish(out.buffer());
        out.finish()?;
        Ok(())
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
                tracing::warn!(operation = %op.id, file = %upload.file_id, error = %format!("{e:#}"), "an upload could not be read; listed as unavailable (`udd storage check` tells which settings to look at)");
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
                tracing::warn!(operation = %op.id, error = %format!("{e:#}"), "the avatar could not be read; listed as unavailable (`udd storage check` tells which settings to look at)");
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

    /// Records the archive as the user's file and completes the operation, while the
    /// working folder is removed: nothing from here on reads it (an operation that stops
    /// here resumes from the archive alone), and the lease, confirmed first, keeps any
    /// other worker from writing it meanwhile.
    pub(super) fn upload(
        &self,
        op: &ExportOperation,
        user: &User,
        run: &Run<'_>,
    ) -> Step<UserDataFile> {
        run.check()?;
        self.confirm_lease(&op.id, run.owner)?;
        std::thread::scope(|scope| {
            scope.spawn(|| {
                if let Err(e) = self.ports.files.remove_all(&op.id) {
                    tracing::warn!(operation = %op.id, error = %e, "could not remove the working folder");
                }
            });
            self.record(op, user, run)
        })
    }

    /// Records the archive as the user's file and completes the operation.
    fn record(&self, op: &ExportOperation, user: &User, run: &Run<'_>) -> Step<UserDataFile> {
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
        Ok(file)
    }
}

/// Every page of a personal export's rooms, by name, as a range of its room's pages
/// file; none for a full export.
fn room_pages(op: &ExportOperation) -> Vec<(String, WorkingRange)> {
    if op.full_export {
        return Vec::new();
    }
    let mut pages = Vec::new();
    for room in &op.room_list {
        let file = pages_file(&room.target_file);
        for page in 1..=page_count(room.exported_count) {
            let part = page_part(&file, &room.pages, page, room.file_length);
            pages.push((page_file(&room.target_file, page), part));
        }
    }
    pages
}
