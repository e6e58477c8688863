//! Typed ids for the things that cross a port: an operation's id cannot be passed where
//! a user's is expected.
//!
//! Each id wraps Rocket.Chat's text id. It reads as a `&str` wherever text is wanted
//! (`Deref`, `AsRef`, `Display`), compares with plain strings, and serialises as the bare
//! string, so the wire formats and the database columns are unchanged.
//!
//! ```
//! use udd_domain::{OperationId, UserId};
//!
//! let user = UserId::from("alice");
//! let operation = OperationId::new("op-1");
//! assert_eq!(user, "alice");
//! assert_eq!(operation.as_str(), "op-1");
//! assert_eq!(serde_json::to_string(&user).unwrap(), "\"alice\"");
//! // `fn request(user: &UserId, …)` refuses an `&OperationId`; this does not compile:
//! // let _: &UserId = &operation;
//! ```

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps a text id.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The text id, unwrapped.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }

        impl From<&String> for $name {
            fn from(id: &String) -> Self {
                Self(id.clone())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.0
            }
        }

        impl PartialEq<$name> for &str {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                *self == other.0
            }
        }
    };
}

id_type!(
    /// An export operation's id (`_id` of Rocket.Chat's `rocketchat_export_operations`).
    OperationId
);
id_type!(
    /// A user's id (`_id` of Rocket.Chat's `users`).
    UserId
);
id_type!(
    /// A finished archive's id, the one in `/data-export/<id>` links
    /// (`_id` of Rocket.Chat's `rocketchat_user_data_files`).
    FileId
);
id_type!(
    /// A room's id (`_id` of Rocket.Chat's `rocketchat_room`).
    RoomId
);
id_type!(
    /// An upload's id (`_id` of Rocket.Chat's `rocketchat_uploads`).
    UploadId
);

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn an_id_reads_and_compares_as_its_text() {
        let id = UserId::from("alice");
        assert_eq!(id, "alice");
        assert_eq!("alice", id);
        assert_eq!(id, String::from("alice"));
        assert_eq!(id.len(), 5);
        assert_eq!(format!("{id} {id:?}"), "alice \"alice\"");
        assert_eq!(String::from(id.clone()), "alice");
        let by_id = HashMap::from([(id, 1)]);
        assert_eq!(by_id.get("alice"), Some(&1));
    }

    #[test]
    fn an_id_serialises_as_a_bare_string() {
        let id = OperationId::new("op-1");
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"op-1\"");
        let back: OperationId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, id);
    }
}
