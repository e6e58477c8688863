//! The messages stage: every room in keyset batches, each batch appended after the
//! committed length, made durable, then committed with its cursor, count, pseudonyms and
//! uploads in one transaction; finished room files are compressed on a second thread.

use std::sync::mpsc;

use anyhow::Context;
use chrono::{DateTime, Utc};
use udd_domain::i18n::Catalogue;
use udd_domain::render::{
    current_page, page_files, render_json_line, AttachedFile, LinkTargets, Pseudonyms,
    RenderedMessage, RoomPages,
};
use udd_domain::{
    ExportOperation, Message, MessageCursor, OperationId, RoomExport, RoomExportStatus, RoomType,
    Upload, UploadId, User,
};
use udd_ports::{ExportBatch, ExportFileRef, StoreError};

use super::error::{Run, Step};
use super::ExportEngine;

impl ExportEngine {
    /// Runs `work` with a second thread that compresses each room file sent to it, so
    /// finished rooms are deflated while the next ones are exported and the uploads
    /// copied; the zip stage then reuses that work. A failure on that thread costs only
    /// time: the zip stage compresses whatever is not ready.
    pub(super) fn compressing<T>(
        &self,
        id: &OperationId,
        cutoff: DateTime<Utc>,
        work: impl FnOnce(&mpsc::Sender<String>) -> Step<T>,
    ) -> Step<T> {
        let archives = &self.ports.archives;
        let (finished, to_compress) = mpsc::channel::<String>();
        std::thread::scope(|scope| {
            scope.spawn(move || {
                for entry in to_compress {
                    if let Err(e) = archives.prepare(id, &entry, cutoff) {
                        tracing::debug!(entry = %entry, error = %e, "compressing ahead failed");
                    }
                }
            });
            // The sender is dropped as soon as `work` ends, whichever way it ends, which
            // lets the compressing thread finish and the scope close.
            let sender = finished;
            let result = work(&sender);
            drop(sender);
            result
        })
    }

    /// Exports every room not yet complete, batch by batch, handing each finished room
    /// file to the compressing thread.
    pub(super) fn export_messages(
        &self,
        op: &mut ExportOperation,
        user: &User,
        run: &Run<'_>,
        finished: &mpsc::Sender<String>,
    ) -> Step<()> {
        let (done, total) = op.message_progress();
        run.progress.start("messages", Some(total));
        run.progress.set(done);
        let mut pseudonyms =
            Pseudonyms::new(&user.username, self.ports.progress.pseudonyms(&op.id)?);
        // System messages read in the owner's language, as Rocket.Chat shows them.
        let words = Catalogue::for_language(user.language.as_deref());
        let mut written = done;
        for index in 0..op.room_list.len() {
            if op.room_list[index].status == RoomExportStatus::Completed {
                continue;
            }
            while op.room_list[index].status != RoomExportStatus::Completed {
                run.check()?;
                written += self.export_batch(op, index, &mut pseudonyms, &words, run)?;
                run.progress.set(written);
            }
            let room = &op.room_list[index];
            if op.full_export {
                let _ = finished.send(room.target_file.clone());
            } else {
                for page in page_files(&room.target_file, room.exported_count) {
                    let _ = finished.send(page);
                }
            }
        }
        run.progress.finish(&format!(
            "{written} messages in {} rooms",
            op.room_list.len()
        ));
        Ok(())
    }

    /// Reads, writes and commits the next batches of room `index`: pages of
    /// `batch_size` messages are rendered until `commit_bytes` of output (or the end of
    /// the room), then appended, synced and committed together. Returns how many
    /// messages were committed.
    fn export_batch(
        &self,
        op: &mut ExportOperation,
        index: usize,
        pseudonyms: &mut Pseudonyms,
        words: &Catalogue,
        run: &Run<'_>,
    ) -> Step<u64> {
        let cutoff = op
            .cutoff
            .context("the cutoff is fixed before messages are exported")?;
        let full = op.full_export;
        let mut room = op.room_list[index].clone();
        if !full && room.exported_count == 0 && room.pages.title.is_empty() {
            room.pages.title = self.room_title(op, &room, pseudonyms)?;
        }
        let first_page = room.target_file.clone();
        let mut state = room.pages.clone();
        let mut pages = RoomPages::new(
            &first_page,
            room.exported_count,
            room.cursor.as_ref().map(|c| c.ts),
            &mut state,
            words,
        );
        let mut bytes = String::new();
        let mut files = Vec::new();
        let mut count = 0_u64;
        loop {
            run.check()?;
            let page = self.ports.reader.messages_page(
                &room.room_id,
                cutoff,
                room.cursor.clone(),
                self.config.batch_size,
            )?;
            let targets = if full {
                LinkTargets::default()
            } else {
                self.link_targets(&room.room_id, cutoff, &pages, &page)?
            };
            for message in &page {
                let file = self.attached_file(op, message)?;
                if full {
                    let rendered = RenderedMessage::new(message, file.as_ref(), pseudonyms, words);
                    render_json_line(&rendered, &mut bytes);
                } else {
                    let rendered =
                        RenderedMessage::for_page(message, file.as_ref(), pseudonyms, words);
                    pages.push(&rendered, file.as_ref(), &targets);
                }
                if let Some(file) = file {
                    files.push(ExportFileRef {
                        file_id: file.id.into(),
                        name: file.name,
                        asset: file.asset,
                    });
                }
            }
            count += page.len() as u64;
            if let Some(last) = page.last() {
                room.cursor = Some(MessageCursor::after(last));
            }
            if page.len() < self.config.batch_size as usize {
                room.status = RoomExportStatus::Completed;
                if !full {
                    pages.finish();
                }
                break;
            }
            room.status = RoomExportStatus::Exporting;
            if full && bytes.len() >= self.config.commit_bytes
                || !full && pages.pending_bytes() >= self.config.commit_bytes
            {
                break;
            }
        }
        run.check()?;
        // The heartbeat notices a lost lease only every third of its length; a worker
        // that was paused past it must not cut or write a file another worker may now
        // be writing, so the lease is confirmed (and extended) right before the append.
        let now = self.ports.clock.now();
        if !self
            .ports
            .queue
            .renew(&op.id, run.owner, self.lease_until(now))?
        {
            return Err(super::error::EngineError::LeaseLost);
        }
        if full {
            room.file_length = self.ports.files.append(
                &op.id,
                &room.target_file,
                room.file_length,
                bytes.as_bytes(),
            )?;
        } else {
            // The first write continues the page the committed length refers to; a
            // batch that crosses a page boundary starts each later page afresh, so a
            // retried batch rewrites them whole.
            let current = current_page(room.exported_count);
            for write in pages.into_writes() {
                let from = if write.page == current {
                    room.file_length
                } else {
                    0
                };
                room.file_length =
                    self.ports
                        .files
                        .append(&op.id, &write.file, from, write.bytes.as_bytes())?;
            }
            room.pages = state;
        }
        room.exported_count += count;
        let now = self.ports.clock.now();
        let batch = ExportBatch {
            room_index: index,
            room: room.clone(),
            pseudonyms: pseudonyms.take_fresh(),
            files,
        };
        self.ports
            .progress
            .commit_batch(&op.id, run.owner, &batch, now)?;
        op.room_list[index] = room;
        op.updated_at = now;
        Ok(count)
    }

    /// The title of a room's pages: its name, or for a direct room (one-to-one or
    /// group) its other members as the export shows them, pseudonyms included.
    fn room_title(
        &self,
        op: &ExportOperation,
        room: &RoomExport,
        pseudonyms: &mut Pseudonyms,
    ) -> Step<String> {
        if room.room_type != RoomType::Direct {
            return Ok(room.room_name.clone());
        }
        let members = match self.ports.reader.room(&room.room_id) {
            Ok(found) => found.member_ids,
            Err(StoreError::NotFound) => Vec::new(),
            Err(other) => return Err(other.into()),
        };
        let mut names = Vec::new();
        for member in members.iter().filter(|m| **m != op.user_id) {
            let username = match self.ports.users.get(member) {
                Ok(found) => found.username,
                Err(StoreError::NotFound) => member.to_string(),
                Err(other) => return Err(other.into()),
            };
            names.push(pseudonyms.alias(&username));
        }
        Ok(if names.is_empty() {
            room.room_name.clone()
        } else {
            names.join(", ")
        })
    }

    /// The upload a message carries, named for `assets/`. An upload this export may
    /// not carry (see [`Upload::may_export`]) is named from the message alone and
    /// later listed as unavailable, like one whose record is gone.
    fn attached_file(&self, op: &ExportOperation, message: &Message) -> Step<Option<AttachedFile>> {
        let Some(file_id) = &message.file_id else {
            return Ok(None);
        };
        let file = match self.exportable_upload(op, file_id)? {
            Some(upload) => {
                AttachedFile::new(file_id, &upload.name, upload.content_type.as_deref())
                    .with_details(Some(upload.size), upload.blob.is_some())
            }
            None => {
                let title = message
                    .attachments
                    .as_ref()
                    .and_then(|a| a[0]["title"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| file_id.to_string());
                AttachedFile::new(file_id, &title, None).with_details(None, false)
            }
        };
        Ok(Some(file))
    }

    /// Upload `file_id`, if it exists and this export may carry it.
    pub(super) fn exportable_upload(
        &self,
        op: &ExportOperation,
        file_id: &UploadId,
    ) -> Step<Option<Upload>> {
        match self.ports.reader.upload(file_id) {
            Ok(upload)
                if upload
                    .may_export(&op.user_id, op.room_list.iter().map(|r| r.room_id.as_str())) =>
            {
                Ok(Some(upload))
            }
            Ok(upload) => {
                tracing::warn!(
                    operation = %op.id, file = %file_id, room = ?upload.room_id,
                    "a message names an upload from outside the export's rooms; left out"
                );
                Ok(None)
            }
            Err(StoreError::NotFound) => Ok(None),
            Err(other) => Err(other.into()),
        }
    }
}
