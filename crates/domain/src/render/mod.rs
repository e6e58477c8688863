//! Turning workspace data into export files: escaping, safe names, pseudonyms, message
//! rendering (JSON lines and HTML), the user files, the table of contents, the
//! manifest and the owner's mails. Everything here is a pure function of its inputs, so a resumed export
//! renders exactly the bytes an uninterrupted one would.

mod csv;
mod escape;
mod mail;
mod manifest;
mod message;
mod names;
mod pages;
mod pseudonyms;
mod room;

pub use csv::{csv_field, csv_record};
pub use escape::{escape_html, escape_html_text};
pub use mail::{failed_mail, header_text, ready_mail, FailedMail, MailContent, ReadyMail};
pub use manifest::{
    FileDigest, Manifest, ManifestFile, ManifestRoom, ManifestWriter, MANIFEST_FORMAT_VERSION,
};
pub use message::{
    quoted_message_id, render_html, render_json_line, AttachedFile, Edited, RenderedMessage,
    ShownReaction, REACTORS_NAMED,
};
pub use names::{asset_name, is_active_content, safe_file_name, zip_file_name, UniqueNames};
pub use pages::{
    channels_json_line, index_html, user_html, user_json, IndexFile, IndexPage, IndexRoom,
    Unavailable, CONTENT_SECURITY_POLICY, STYLESHEET,
};
pub use pseudonyms::Pseudonyms;
pub use room::{
    current_page, month_index_file, month_index_html, named_messages, page_count, page_file,
    page_files, page_of, pages_file, quoted_messages, LinkTargets, LinkedMessages, MonthStart,
    PageState, PagesAppend, RoomPages, ThreadStart, MESSAGES_PER_PAGE, PAGES_FOLDER,
};
