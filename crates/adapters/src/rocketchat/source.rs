//! Where a dump's collections are: files in a folder (mongoexport `.json`, mongodump
//! `.bson`, either gzipped), one `mongodump --archive` file, or one collection on
//! standard input. Each hands out a collection's documents as they are decoded, with
//! their position, before any mapping.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;

use super::archive::Archive;
use super::stream::Stream;
use super::{bson, is_known_file, json, Item, Visit};

/// How a collection file is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// mongoexport: JSON lines or a JSON array of Extended JSON.
    Json,
    /// mongodump: BSON documents back to back.
    Bson,
}

/// The collection a file holds, and its format: `users.json`, `users.json.gz`,
/// `users.bson`, `users.bson.gz` (gzipped).
fn collection_of(file_name: &str) -> Option<(&str, Format)> {
    let name = file_name.strip_suffix(".gz").unwrap_or(file_name);
    if let Some(collection) = name.strip_suffix(".json") {
        return Some((collection, Format::Json));
    }
    name.strip_suffix(".bson").map(|c| (c, Format::Bson))
}

/// A folder of collection files.
#[derive(Debug)]
pub(crate) struct Folder {
    dir: PathBuf,
    files: HashMap<String, (PathBuf, Format)>,
}

impl Folder {
    /// Indexes the collection files of `dir`; `None` when it holds none.
    ///
    /// Errors: the folder cannot be listed; two files hold the same collection.
    pub(crate) fn index(dir: &Path) -> anyhow::Result<Option<Self>> {
        let mut files: HashMap<String, (PathBuf, Format)> = HashMap::new();
        for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
            let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
            if !entry
                .file_type()
                .is_ok_and(|t| t.is_file() || t.is_symlink())
            {
                continue;
            }
            let file_name = entry.file_name().to_string_lossy().into_owned();
            let Some((collection, format)) = collection_of(&file_name) else {
                continue;
            };
            if !is_known_file(collection) {
                continue;
            }
            if let Some((other, _)) = files.get(collection) {
                anyhow::bail!(
                    "{} and {} both hold the collection {collection}: keep one",
                    other.display(),
                    entry.path().display()
                );
            }
            files.insert(collection.to_owned(), (entry.path(), format));
        }
        Ok((!files.is_empty()).then(|| Self {
            dir: dir.to_path_buf(),
            files,
        }))
    }

    /// The folder.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether any collection file is BSON.
    pub(crate) fn has_bson(&self) -> bool {
        self.files
            .values()
            .any(|(_, format)| *format == Format::Bson)
    }
}

/// One collection, mongoexport JSON (plain or gzipped), on standard input.
#[derive(Debug)]
pub(crate) struct StandardInput {
    collection: String,
    taken: AtomicBool,
}

impl StandardInput {
    pub(crate) fn new(collection: &str) -> Self {
        Self {
            collection: collection.to_owned(),
            taken: AtomicBool::new(false),
        }
    }
}

/// Where the collections of a dump come from.
#[derive(Debug)]
pub(crate) enum Source {
    /// Files in a folder.
    Folder(Folder),
    /// A mongodump archive.
    Archive(Archive),
    /// Standard input.
    Stdin(StandardInput),
}

impl Source {
    /// Reads every document of `collection` (its Rocket.Chat name: `rocketchat_message`,
    /// `rocketchat_uploads.chunks`) into `visit`, with the bytes read so far; nothing
    /// when the dump lacks it.
    ///
    /// Errors: I/O failures, or an error returned by `visit`.
    pub(crate) fn read(&self, collection: &str, visit: &mut Visit<'_>) -> anyhow::Result<()> {
        match self {
            Self::Folder(folder) => {
                let Some((path, format)) = folder.files.get(collection) else {
                    return Ok(());
                };
                let gzipped = path.extension().is_some_and(|e| e == "gz");
                let Some(stream) = Stream::open(path, Some(gzipped))? else {
                    return Ok(());
                };
                read_stream(stream, *format, visit)
                    .with_context(|| format!("reading {}", path.display()))
            }
            Self::Archive(archive) => archive
                .read(collection, visit)
                .with_context(|| format!("reading {}", archive.path().display())),
            Self::Stdin(stdin) => {
                if stdin.collection != collection {
                    return Ok(());
                }
                anyhow::ensure!(
                    !stdin.taken.swap(true, Ordering::SeqCst),
                    "standard input was read already"
                );
                let stream =
                    Stream::from_reader(std::io::stdin()).context("reading standard input")?;
                read_stream(stream, Format::Json, visit).context("reading standard input")
            }
        }
    }

    /// How `collection`'s documents are located in problem lines: the file name (for an
    /// archive, with the collection).
    pub(crate) fn label(&self, collection: &str) -> String {
        match self {
            Self::Folder(folder) => folder
                .files
                .get(collection)
                .and_then(|(path, _)| path.file_name())
                .map_or_else(
                    || format!("{collection}.json"),
                    |n| n.to_string_lossy().into_owned(),
                ),
            Self::Archive(archive) => archive.label(collection),
            Self::Stdin(_) => format!("standard input ({collection})"),
        }
    }

    /// The size of the file `collection` is read from, for progress.
    pub(crate) fn size(&self, collection: &str) -> Option<u64> {
        let path = match self {
            Self::Folder(folder) => &folder.files.get(collection)?.0,
            Self::Archive(archive) if archive.has(collection) => archive.path(),
            _ => return None,
        };
        std::fs::metadata(path).ok().map(|m| m.len())
    }

    /// The file whose offsets `RawDoc::Bson::file_offset` gives for `collection`.
    pub(crate) fn path_of(&self, collection: &str) -> Option<PathBuf> {
        match self {
            Self::Folder(folder) => folder.files.get(collection).map(|(path, _)| path.clone()),
            Self::Archive(archive) => Some(archive.path().to_path_buf()),
            Self::Stdin(_) => None,
        }
    }
}

/// Reads one collection file, counting its bytes for progress.
fn read_stream(stream: Stream, format: Format, visit: &mut Visit<'_>) -> anyhow::Result<()> {
    let counter = stream.counter();
    let mut emit = |item: Item<'_>| visit(item, counter.get());
    match format {
        Format::Json => {
            let damage = stream.damage_note();
            json::read(stream, &damage, &mut emit)
        }
        Format::Bson => bson::read(stream, &mut emit),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_give_collection_and_format() {
        assert_eq!(collection_of("users.json"), Some(("users", Format::Json)));
        assert_eq!(
            collection_of("rocketchat_message.json.gz"),
            Some(("rocketchat_message", Format::Json))
        );
        assert_eq!(
            collection_of("rocketchat_uploads.chunks.bson.gz"),
            Some(("rocketchat_uploads.chunks", Format::Bson))
        );
        assert_eq!(
            collection_of("rocketchat_message.metadata.json"),
            Some(("rocketchat_message.metadata", Format::Json))
        );
        assert_eq!(collection_of("notes.txt"), None);
    }

    #[test]
    fn two_files_of_one_collection_are_refused() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join("users.json"), "")?;
        std::fs::write(dir.path().join("users.bson"), "")?;
        let err = Folder::index(dir.path()).unwrap_err();
        assert!(err.to_string().contains("keep one"), "{err}");
        Ok(())
    }
}
