//! The room list an operation exports, fixed when processing starts.

use chrono::{DateTime, Utc};
use udd_domain::render::UniqueNames;
use udd_domain::{RoomExport, RoomExportStatus, RoomId, RoomType, User};
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
            total: 0,
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
    let ids: Vec<&RoomId> = rooms.iter().map(|r| &r.room_id).collect();
    let totals = count_on_every_core(reader, &ids, cutoff)?;
    for (room, total) in rooms.iter_mut().zip(totals) {
        room.total = total;
    }
    Ok(rooms)
}

/// The messages of each of `rooms` up to `cutoff`, counted on one thread per core (a
/// count walks its whole room, and nothing else runs yet).
fn count_on_every_core(
    reader: &dyn WorkspaceReader,
    rooms: &[&RoomId],
    cutoff: DateTime<Utc>,
) -> Result<Vec<u64>, StoreError> {
    super::spread::on_every_core(rooms, |room| reader.count_messages(room, cutoff))
        .into_iter()
        .map(|count| {
            count.unwrap_or_else(|| {
                Err(StoreError::Unexpected(anyhow::anyhow!(
                    "a room was not counted"
                )))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use udd_domain::Subscription;
    use udd_ports::MockWorkspaceReader;

    fn subscription(room: &str) -> Subscription {
        Subscription {
            id: format!("S-{room}"),
            user_id: "u1".into(),
            room_id: room.into(),
            room_type: RoomType::Channel,
            name: Some(room.to_lowercase()),
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
        }
    }

    /// A reader of rooms A to E whose counts are `counts` (`None`: the count fails).
    fn reader(counts: [Option<u64>; 5]) -> MockWorkspaceReader {
        let mut reader = MockWorkspaceReader::new();
        reader
            .expect_subscriptions_of()
            .returning(|_| Ok(["A", "B", "C", "D", "E"].map(subscription).to_vec()));
        reader
            .expect_room()
            .returning(|_| Err(StoreError::NotFound));
        reader.expect_count_messages().returning(move |room, _| {
            let at = usize::from(room.as_str().as_bytes()[0] - b'A');
            counts[at].ok_or_else(|| StoreError::Unexpected(anyhow::anyhow!("disk I/O error")))
        });
        reader
    }

    #[test]
    fn each_room_gets_its_own_count_whichever_thread_counted_it() {
        let user = User::new("u1", "alice", DateTime::UNIX_EPOCH);
        let rooms = room_list(
            &reader([Some(5), Some(0), Some(7), Some(1_000_000), Some(3)]),
            &user,
            true,
            DateTime::UNIX_EPOCH,
        )
        .expect("room list");
        let totals: Vec<(&str, u64)> = rooms
            .iter()
            .map(|r| (r.room_id.as_str(), r.total))
            .collect();
        assert_eq!(
            totals,
            [("A", 5), ("B", 0), ("C", 7), ("D", 1_000_000), ("E", 3)]
        );
    }

    #[test]
    fn a_count_that_fails_fails_the_room_list() {
        let user = User::new("u1", "alice", DateTime::UNIX_EPOCH);
        let failed = room_list(
            &reader([Some(5), Some(0), None, Some(1), Some(3)]),
            &user,
            false,
            DateTime::UNIX_EPOCH,
        );
        assert!(matches!(failed, Err(StoreError::Unexpected(_))));
    }
}
