//! The messages stage: every room in keyset batches, each batch appended after the
//! committed length, made durable, then committed with its cursor, count, pseudonyms and
//! uploads in one transaction (the threads that do this side by side are in
//! `pipeline`).

use anyhow::Context;
use udd_domain::i18n::Catalogue;
use udd_domain::render::{
    page_file, pages_file, render_json_line, AttachedFile, LinkTargets, LinkedMessages,
    ManifestFile, PageState, Pseudonyms, RenderedMessage, RoomPages,
};
use udd_domain::{
    ExportOperation, Message, MessageCursor, RoomExport, RoomExportStatus, RoomId, RoomType,
    Upload, UploadId, User,
};
use udd_ports::{BatchLookups, ByteRange, ExportFileRef, StoreError, WorkingRange};

use super::digests::EntryBytes;
use super::error::{Run, Step};
use super::pipeline::{Compressors, Rendered};
use super::ExportEngine;

/// What every batch of a run of the messages stage renders with.
struct BatchContext<'a> {
    /// The owner's words.
    words: &'a Catalogue,
    /// Which messages may start threads or be quoted (personal exports; empty for
    /// full ones).
    linked: &'a LinkedMessages,
}

impl ExportEngine {
    /// Exports every room not yet complete, batch by batch: batches are rendered here
    /// and committed by a second thread (see `pipeline`), and whatever each commit
    /// makes final is handed to the compressing threads. Returns the manifest's lines
    /// for the room files (or pages) this run wrote whole (see `digests`).
    pub(super) fn export_messages(
        &self,
        op: &mut ExportOperation,
        user: &User,
        run: &Run<'_>,
        compress: &Compressors<'_>,
    ) -> Step<Vec<ManifestFile>> {
        let (done, total) = op.message_progress();
        run.progress.start("messages", Some(total));
        run.progress.set(done);
        let mut pseudonyms =
            Pseudonyms::new(&user.username, self.ports.progress.pseudonyms(&op.id)?);
        // System messages read in the owner's language, as Rocket.Chat shows them.
        let words = Catalogue::for_language(user.language.as_deref());
        let linked = match (op.full_export, op.cutoff) {
            (false, Some(cutoff)) => {
                let rooms: Vec<RoomId> = op.room_list.iter().map(|r| r.room_id.clone()).collect();
                self.linked_messages(&rooms, cutoff)?
            }
            _ => LinkedMessages::default(),
        };
        let context = BatchContext {
            words: &words,
            linked: &linked,
        };
        let id = op.id.clone();
        let mut lookups = self.ports.reader.batch_lookups()?;
        let (written, digests) = self.committing(&id, run, done, compress, |to_commit| {
            let _rendering = compress.rendering();
            for index in 0..op.room_list.len() {
                while op.room_list[index].status != RoomExportStatus::Completed {
                    run.check()?;
                    let batch = self.render_batch(
                        op,
                        index,
                        &mut pseudonyms,
                        &context,
                        &mut *lookups,
                        run,
                    )?;
                    lookups.batch_done()?;
                    op.room_list[index] = batch.room.clone();
                    if to_commit.send(batch).is_err() {
                        // The committing thread stopped; its error is the run's.
                        return Ok(());
                    }
                }
            }
            Ok(())
        })?;
        op.updated_at = self.ports.clock.now();
        run.progress.finish(&format!(
            "{written} messages in {} rooms",
            op.room_list.len()
        ));
        Ok(digests.into_done())
    }

    /// Reads and renders the next batch of room `index`: pages of `batch_size`
    /// messages until `commit_bytes` of output (or the end of the room), with the
    /// room's progress as it will be once the batch is committed.
    fn render_batch(
        &self,
        op: &ExportOperation,
        index: usize,
        pseudonyms: &mut Pseudonyms,
        context: &BatchContext<'_>,
        lookups: &mut dyn BatchLookups,
        run: &Run<'_>,
    ) -> Step<Rendered> {
        let words = context.words;
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
        // A batch ends with the first page of messages that takes it past
        // `commit_bytes`: its buffer gets room for that from the start.
        let room_for_batch = self.config.commit_bytes + self.config.commit_bytes / 2;
        let mut pages = RoomPages::new(
            &first_page,
            room.exported_count,
            room.cursor.as_ref().map(|c| c.ts),
            room.file_length,
            &mut state,
            words,
        )
        .with_capacity(if full { 0 } else { room_for_batch });
        let mut bytes = String::with_capacity(if full { room_for_batch } else { 0 });
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
                self.link_targets(
                    &room.room_id,
                    cutoff,
                    &pages,
                    &page,
                    context.linked,
                    &mut *lookups,
                )?
            };
            for message in &page {
                let file = self.attached_file(op, message, &mut *lookups)?;
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
        let complete = room.status == RoomExportStatus::Completed;
        let from = room.file_length;
        let (file, bytes, prepare, parts) = if full {
            room.file_length = from + bytes.len() as u64;
            let whole = WorkingRange {
                file: room.target_file.clone(),
                range: ByteRange::whole(room.file_length),
            };
            let part = EntryBytes {
                name: room.target_file.clone(),
                bytes: 0..bytes.len(),
                begins: from == 0,
                ends: complete,
            };
            let file = room.target_file.clone();
            (file, bytes, vec![(whole, complete)], vec![part])
        } else {
            // The batch continues the page the committed length ends in, and may
            // begin later ones: each is an entry of its own, every one but the last
            // complete.
            let append = pages.into_append();
            room.file_length = from + append.bytes.len() as u64;
            let file = pages_file(&first_page);
            let last = append.pages.last().map_or(0, |(page, _)| *page);
            let (mut prepare, mut parts) = (Vec::new(), Vec::new());
            for (i, (page, bytes)) in append.page_ranges().enumerate() {
                let ends = page < last || complete;
                prepare.push((page_part(&file, &state, page, room.file_length), ends));
                parts.push(EntryBytes {
                    name: page_file(&first_page, page),
                    bytes,
                    // Only the first page may have begun in an earlier batch.
                    begins: i > 0 || from == 0,
                    ends,
                });
            }
            room.pages = state;
            (file, append.bytes, prepare, parts)
        };
        room.exported_count += count;
        Ok(Rendered {
            index,
            room,
            write: (file, from, bytes),
            parts,
            pseudonyms: pseudonyms.take_fresh(),
            files,
            count,
            prepare,
        })
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
    fn attached_file(
        &self,
        op: &ExportOperation,
        message: &Message,
        lookups: &mut dyn BatchLookups,
    ) -> Step<Option<AttachedFile>> {
        let Some(file_id) = &message.file_id else {
            return Ok(None);
        };
        let file = match self.exportable(op, file_id, lookups.upload(file_id))? {
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
        self.exportable(op, file_id, self.ports.reader.upload(file_id))
    }

    /// Upload `file_id` as the store `found` it, if it exists and this export may
    /// carry it.
    fn exportable(
        &self,
        op: &ExportOperation,
        file_id: &UploadId,
        found: Result<Upload, StoreError>,
    ) -> Step<Option<Upload>> {
        match found {
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

/// Page `page` of a room's pages `file`, `length` bytes of which are committed, as the
/// range the room's page `state` gives it.
pub(super) fn page_part(file: &str, state: &PageState, page: u32, length: u64) -> WorkingRange {
    let range = state.page_range(page, length);
    WorkingRange {
        file: file.to_owned(),
        range: ByteRange {
            start: range.start,
            len: range.end - range.start,
        },
    }
}
