//! An upload as a page shows it: an inline thumbnail for images, a card (name, type,
//! size) for other files, a quiet note for files the archive does not carry.

use super::{percent_encode, AttachedFile};
use crate::i18n::Catalogue;
use crate::render::escape::escape_html;
use crate::render::names::without_invisible;

/// The upload `file`, shown under `title` (untrusted; escaped here).
pub(super) fn file_link(file: &AttachedFile, title: &str, words: &Catalogue) -> String {
    // A file name is shown as it will be saved: no override reverses its extension.
    let title = escape_html(&without_invisible(title));
    if !file.available {
        return format!(
            "<br/>\n<span class=\"file missing\">{title} <span class=\"meta\">{}</span></span>",
            escape_html(&words.text("archive.unavailable", &[]))
        );
    }
    let href = escape_html(&format!("./assets/{}", percent_encode(&file.asset)));
    if file.is_image {
        return format!(
            "<br/>\n<figure class=\"image\"><a href=\"{href}\"><img src=\"{href}\" alt=\"{title}\" loading=\"lazy\"/></a>\
             <figcaption><a href=\"{href}\">{title}</a></figcaption></figure>"
        );
    }
    // Active content is only ever saved, never opened in the archive's origin.
    let download = if file.download_only {
        format!(" download=\"{}\"", escape_html(&file.asset))
    } else {
        String::new()
    };
    let mut meta: Vec<String> = file
        .content_type
        .iter()
        .map(|t| escape_html(&without_invisible(t)))
        .collect();
    meta.extend(file.size.map(|bytes| words.size(bytes)));
    let meta = if meta.is_empty() {
        String::new()
    } else {
        format!(" <span class=\"meta\">{}</span>", meta.join(" · "))
    };
    format!("<br/>\n<span class=\"file\"><a href=\"{href}\"{download}>{title}</a>{meta}</span>")
}
