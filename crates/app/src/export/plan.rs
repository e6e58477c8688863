//! The room list an operation exports, fixed when processing starts.

use chrono::{DateTime, Utc};
use udd_domain::render::UniqueNames;
use udd_domain::{RoomExport, RoomExportStatus, RoomType, User};
use udd_ports::{StoreError, WorkspaceReader};

/// Names the export writes itself; rooms never take them.
pub const RESERVED_NAMES: [&str; 8] = [
    "user.json",
    "user.html",
    "channels.json",
    "index.html",
    "manifest.json",
    "avatar",
    "assets",
    "style.css",
];

/// One entry per subscription of `user`, with safe and unique target files and the
/// number of messages up to `cutoff`.
pub fn room_list(
    reader: &dyn WorkspaceReader,
    user: &User,
    full_export: bool,
    cutoff: DateTime<Utc>,
) -> Result<Vec<RoomExport>, StoreError> {
    let mut names = UniqueNames::new();
    for name in RESERVED_NAMES {
        names.reserve(name);
    }
    let mut rooms = Vec::new();
    for subscription in reader.subscriptions_of(&user.id)? {
        let room = match reader.room(&subscription.room_id) {
            Ok(room) => Some(room),
            Err(StoreError::NotFound) => None,
            Err(other) => return Err(other),
        };
        let room_type = room
            .as_ref()
            .map_or_else(|| subscription.room_type.clone(), |r| r.room_type.clone());
        let direct = room_type == RoomType::Direct;
        let room_name = if direct {
            subscription.room_id.to_string()
        } else {
            room.as_ref()
                .and_then(|r| r.name.clone())
                .or_else(|| subscription.name.clone())
                .unwrap_or_else(|| subscription.room_id.to_string())
        };
        let user_id = if direct {
            room.as_ref()
                .and_then(|r| r.member_ids.iter().find(|m| **m != user.id).cloned())
        } else {
            None
        };
        let target_file = names.claim(&RoomExport::target_file_for(
            full_export,
            &subscription.room_id,
            &room_name,
        ));
        rooms.push(RoomExport {
            total: reader.count_messages(&subscription.room_id, cutoff)?,
            room_id: subscription.room_id,
            room_name,
            user_id,
            exported_count: 0,
            status: RoomExportStatus::Pending,
            room_type,
            target_file,
            cursor: None,
            file_length: 0,
            pages: Default::default(),
        });
    }
    Ok(rooms)
}
