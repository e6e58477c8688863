//! The documents of one collection waiting for the next write, told apart into new,
//! changed and unchanged against what the store holds.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use udd_domain::{Avatar, Message, Room, Subscription, Upload};
use udd_ports::{
    Collection, Deletion, Document, Moved, StoreError, StoredVersion, WorkspaceUser,
    WorkspaceWriter,
};

use super::summary::CollectionCounts;

/// A document's id and `_updatedAt` (for a deletion, `_deletedAt`).
pub(super) fn version_of(document: &Document) -> (&str, DateTime<Utc>) {
    match document {
        Document::User(user) => (user.user.id.as_str(), user.updated_at),
        Document::Room(room) => (room.id.as_str(), room.updated_at),
        Document::Subscription(sub) => (sub.id.as_str(), sub.updated_at),
        Document::Message(message) => (message.id.as_str(), message.updated_at),
        Document::Upload(upload) => (upload.id.as_str(), upload.updated_at),
        Document::Avatar(avatar) => (avatar.id.as_str(), avatar.updated_at),
        Document::Deletion(deletion) => (deletion.id.as_str(), deletion.deleted_at),
    }
}

/// How a document compares with the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Change {
    Added,
    Updated,
    Unchanged,
}

/// Compares `document` with the stored version of its id.
pub(super) fn change(document: &Document, stored: &HashMap<String, StoredVersion>) -> Change {
    let (id, updated_at) = version_of(document);
    match stored.get(id) {
        None => Change::Added,
        Some(held) if held.updated_at == updated_at && !held.missing_blob => Change::Unchanged,
        Some(_) => Change::Updated,
    }
}

impl CollectionCounts {
    pub(super) fn count(&mut self, change: Change) {
        self.imported += 1;
        match change {
            Change::Added => self.added += 1,
            Change::Updated => self.updated += 1,
            Change::Unchanged => self.unchanged += 1,
        }
    }
}

/// Documents to write, sorted by kind (a batch holds one collection).
#[derive(Default)]
pub(super) struct Writes {
    users: Vec<WorkspaceUser>,
    rooms: Vec<Room>,
    subscriptions: Vec<Subscription>,
    messages: Vec<Message>,
    uploads: Vec<Upload>,
    avatars: Vec<Avatar>,
    deletions: Vec<Deletion>,
}

impl Writes {
    pub(super) fn push(&mut self, document: Document) {
        match document {
            Document::User(user) => self.users.push(user),
            Document::Room(room) => self.rooms.push(room),
            Document::Subscription(sub) => self.subscriptions.push(sub),
            Document::Message(message) => self.messages.push(message),
            Document::Upload(upload) => self.uploads.push(upload),
            Document::Avatar(avatar) => self.avatars.push(avatar),
            Document::Deletion(deletion) => self.deletions.push(deletion),
        }
    }

    /// The deletions pushed, taken out to be applied on their own.
    pub(super) fn take_deletions(&mut self) -> Vec<Deletion> {
        std::mem::take(&mut self.deletions)
    }

    /// Writes the documents, adding the usernames and addresses that changed hands to
    /// `moves`.
    pub(super) fn write(
        self,
        writer: &dyn WorkspaceWriter,
        moves: &mut Vec<Moved>,
    ) -> Result<(), StoreError> {
        if !self.users.is_empty() {
            moves.extend(writer.upsert_users(&self.users)?);
        }
        if !self.rooms.is_empty() {
            writer.upsert_rooms(&self.rooms)?;
        }
        if !self.subscriptions.is_empty() {
            writer.upsert_subscriptions(&self.subscriptions)?;
        }
        if !self.uploads.is_empty() {
            writer.upsert_uploads(&self.uploads)?;
        }
        if !self.avatars.is_empty() {
            writer.upsert_avatars(&self.avatars)?;
        }
        if !self.messages.is_empty() {
            writer.upsert_messages(&self.messages)?;
        }
        Ok(())
    }
}

/// Whether a document is written even when its `_updatedAt` is the stored one: users,
/// whose login tokens Rocket.Chat adds and removes without touching `_updatedAt`
/// (Meteor's accounts code writes them), so a revoked token is always dropped here too.
pub(super) fn always_written(collection: Collection) -> bool {
    collection == Collection::Users
}
