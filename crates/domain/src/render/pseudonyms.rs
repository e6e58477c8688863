//! Other people's names replaced by `User_1`, `User_2`, … in the order they first appear,
//! stable within one export operation (and across its resumptions).

use foldhash::HashMap;

/// The pseudonym table of one operation.
///
/// ```
/// use udd_domain::render::Pseudonyms;
/// let mut names = Pseudonyms::new("alice", []);
/// assert_eq!(names.alias("bob"), "User_1");
/// assert_eq!(names.alias("alice"), "alice");
/// assert_eq!(names.alias("carol"), "User_2");
/// assert_eq!(names.alias("bob"), "User_1");
/// // A resumed export continues from what was stored.
/// let mut resumed = Pseudonyms::new("alice", names.take_fresh());
/// assert_eq!(resumed.alias("dave"), "User_3");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pseudonyms {
    requester: String,
    table: HashMap<String, String>,
    fresh: Vec<(String, String)>,
}

impl Pseudonyms {
    /// A table for `requester`, who keeps their own username, continuing from the
    /// assignments already made (`existing`, as stored).
    pub fn new(requester: &str, existing: impl IntoIterator<Item = (String, String)>) -> Self {
        Self {
            requester: requester.to_owned(),
            table: existing.into_iter().collect(),
            fresh: Vec::new(),
        }
    }

    /// The name to show for `username`.
    pub fn alias(&mut self, username: &str) -> String {
        if username == self.requester {
            return username.to_owned();
        }
        if let Some(alias) = self.table.get(username) {
            return alias.clone();
        }
        let alias = format!("User_{}", self.table.len() + 1);
        self.table.insert(username.to_owned(), alias.clone());
        self.fresh.push((username.to_owned(), alias.clone()));
        alias
    }

    /// The assignments made since the last call, to be stored with the batch that made them.
    pub fn take_fresh(&mut self) -> Vec<(String, String)> {
        std::mem::take(&mut self.fresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn others_are_numbered_in_order_of_appearance_and_the_requester_is_kept() {
        let mut p = Pseudonyms::new("alice", []);
        assert_eq!(p.alias("bob"), "User_1");
        assert_eq!(p.alias("alice"), "alice");
        assert_eq!(p.alias("carol"), "User_2");
        assert_eq!(p.alias("bob"), "User_1");
        assert_eq!(
            p.take_fresh(),
            vec![
                ("bob".into(), "User_1".into()),
                ("carol".into(), "User_2".into())
            ]
        );
        assert!(p.take_fresh().is_empty());
    }

    #[test]
    fn a_resumed_table_continues_the_numbering() {
        let mut p = Pseudonyms::new("alice", [("bob".to_owned(), "User_1".to_owned())]);
        assert_eq!(p.alias("dave"), "User_2");
        assert_eq!(p.alias("bob"), "User_1");
    }
}
