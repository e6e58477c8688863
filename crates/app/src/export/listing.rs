//! What packaging reads and writes a piece at a time, so that its memory does not grow
//! with the number of uploads: working files written in appends, the lists of the
//! uploads that go into the archive and of what could not (kept in the working
//! folder, not in memory), and the archive's files in path order, merged from the
//! working folder and the first list.

use std::io::{BufRead, BufReader};
use std::iter::Peekable;

use anyhow::Context;
use udd_domain::render::{ManifestFile, Unavailable};
use udd_domain::OperationId;
use udd_ports::{ArchiveSource, ExportFiles};

/// The manifest's name in the working folder and in the archive.
pub(super) const MANIFEST: &str = "manifest.json";

/// The working file listing the uploads that go into the archive, one JSON line each,
/// sorted by asset name. Never a file of the archive: its name ends neither in `.html`
/// nor in `.json`, as every room file does, and is none the export writes otherwise.
pub(super) const ASSET_LIST: &str = "assets.list";

/// The working file listing what could not go into the archive (the avatar, uploads),
/// one JSON line each, in the order met; never a file of the archive, like
/// [`ASSET_LIST`].
pub(super) const UNAVAILABLE_LIST: &str = "unavailable.list";

/// How many uploads are read from the progress store at a time.
pub(super) const UPLOAD_PAGE: usize = 500;

/// A working file is appended to once this much of it has gathered.
const APPEND_AT: usize = 256 << 10;

/// A working file written a piece at a time: pieces gather in a buffer that goes to
/// the file in appends of about [`APPEND_AT`] bytes.
pub(super) struct Appender<'a> {
    files: &'a dyn ExportFiles,
    operation: &'a OperationId,
    name: &'static str,
    len: u64,
    buffer: String,
}

impl<'a> Appender<'a> {
    /// Starts `name` anew, empty.
    pub(super) fn create(
        files: &'a dyn ExportFiles,
        operation: &'a OperationId,
        name: &'static str,
    ) -> anyhow::Result<Self> {
        files.write(operation, name, b"")?;
        Ok(Self {
            files,
            operation,
            name,
            len: 0,
            buffer: String::new(),
        })
    }

    /// Where the next pieces go; [`Appender::flush_if_full`] after adding some.
    pub(super) fn buffer(&mut self) -> &mut String {
        &mut self.buffer
    }

    /// Appends what has gathered once it is enough.
    pub(super) fn flush_if_full(&mut self) -> anyhow::Result<()> {
        if self.buffer.len() >= APPEND_AT {
            self.flush()?;
        }
        Ok(())
    }

    /// Appends what is left.
    pub(super) fn finish(mut self) -> anyhow::Result<()> {
        self.flush()
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        if !self.buffer.is_empty() {
            self.len =
                self.files
                    .append(self.operation, self.name, self.len, self.buffer.as_bytes())?;
            self.buffer.clear();
        }
        Ok(())
    }
}

/// What could not go into the archive, written to [`UNAVAILABLE_LIST`] as it is met.
pub(super) struct UnavailableList<'a> {
    out: Appender<'a>,
    count: u64,
}

impl<'a> UnavailableList<'a> {
    /// Starts the list anew, empty.
    pub(super) fn create(
        files: &'a dyn ExportFiles,
        operation: &'a OperationId,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            out: Appender::create(files, operation, UNAVAILABLE_LIST)?,
            count: 0,
        })
    }

    /// Adds `item`.
    pub(super) fn push(&mut self, item: &Unavailable) -> anyhow::Result<()> {
        let line = match item {
            Unavailable::Avatar => serde_json::json!(["avatar"]),
            Unavailable::Upload { id, name } => serde_json::json!(["upload", id, name]),
        };
        let out = self.out.buffer();
        out.push_str(&line.to_string());
        out.push('\n');
        self.count += 1;
        self.out.flush_if_full()
    }

    /// Writes what is left of the list; how many items it holds.
    pub(super) fn finish(self) -> anyhow::Result<u64> {
        self.out.finish()?;
        Ok(self.count)
    }
}

/// The `count` items of [`UNAVAILABLE_LIST`], read back one line at a time (none is
/// read when there are none).
pub(super) fn read_unavailable<'a>(
    files: &'a dyn ExportFiles,
    operation: &'a OperationId,
    count: u64,
) -> anyhow::Result<Box<dyn Iterator<Item = anyhow::Result<Unavailable>> + 'a>> {
    if count == 0 {
        return Ok(Box::new(std::iter::empty()));
    }
    let lines = BufReader::new(files.open(operation, UNAVAILABLE_LIST)?).lines();
    Ok(Box::new(lines.map(|line| {
        let line = line.context("reading the list of what was unavailable")?;
        let fields: Vec<String> =
            serde_json::from_str(&line).with_context(|| format!("reading {UNAVAILABLE_LIST}"))?;
        match fields.as_slice() {
            [kind] if kind == "avatar" => Ok(Unavailable::Avatar),
            [kind, id, name] if kind == "upload" => Ok(Unavailable::Upload {
                id: id.clone(),
                name: name.clone(),
            }),
            _ => anyhow::bail!("reading {UNAVAILABLE_LIST}: an unknown line {line}"),
        }
    })))
}

/// An upload that goes into the archive: its asset name, size, SHA-256 and blob key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Asset {
    pub name: String,
    pub size: u64,
    pub sha256: String,
    pub key: String,
}

impl Asset {
    /// Its line in [`ASSET_LIST`] (JSON, so any name and key read back as they were).
    pub(super) fn push_line(&self, out: &mut String) {
        let line = serde_json::json!([self.name, self.size, self.sha256, self.key]);
        out.push_str(&line.to_string());
        out.push('\n');
    }

    fn from_line(line: &str) -> anyhow::Result<Self> {
        let (name, size, sha256, key): (String, u64, String, String) =
            serde_json::from_str(line).with_context(|| format!("reading {ASSET_LIST}"))?;
        Ok(Self {
            name,
            size,
            sha256,
            key,
        })
    }

    fn into_file(self) -> (ManifestFile, ArchiveSource) {
        let file = ManifestFile {
            path: format!("assets/{}", self.name),
            size: self.size,
            sha256: self.sha256,
        };
        (file, ArchiveSource::Blob(self.key))
    }
}

/// The uploads listed in [`ASSET_LIST`], read back one line at a time.
fn read_assets(
    files: &dyn ExportFiles,
    operation: &OperationId,
) -> anyhow::Result<impl Iterator<Item = anyhow::Result<Asset>>> {
    let lines = BufReader::new(files.open(operation, ASSET_LIST)?).lines();
    Ok(lines.map(|line| Asset::from_line(&line.context("reading the list of uploads")?)))
}

/// The files of the archive but the manifest, sorted by path, with where each comes
/// from: the working folder's `working` (sorted by path) merged with the `assets`
/// uploads of [`ASSET_LIST`] (none is read when there are none). Paths must come
/// strictly increasing: a name twice, or a list out of order, is an error rather than
/// a broken archive.
pub(super) fn archive_files<'a>(
    files: &'a dyn ExportFiles,
    operation: &'a OperationId,
    working: &'a [(ManifestFile, ArchiveSource)],
    assets: u64,
) -> anyhow::Result<impl Iterator<Item = anyhow::Result<(ManifestFile, ArchiveSource)>> + 'a> {
    let uploads: Box<dyn Iterator<Item = anyhow::Result<Asset>>> = if assets == 0 {
        Box::new(std::iter::empty())
    } else {
        Box::new(read_assets(files, operation)?)
    };
    Ok(Merged {
        working: working.iter().peekable(),
        uploads: uploads.map(|asset| asset.map(Asset::into_file)).peekable(),
        last: None,
    })
}

/// Two sorted streams of files merged by path; a working file goes first on a tie.
struct Merged<'a, U: Iterator<Item = anyhow::Result<(ManifestFile, ArchiveSource)>>> {
    working: Peekable<std::slice::Iter<'a, (ManifestFile, ArchiveSource)>>,
    uploads: Peekable<U>,
    last: Option<String>,
}

impl<U> Iterator for Merged<'_, U>
where
    U: Iterator<Item = anyhow::Result<(ManifestFile, ArchiveSource)>>,
{
    type Item = anyhow::Result<(ManifestFile, ArchiveSource)>;

    fn next(&mut self) -> Option<Self::Item> {
        let upload_first = match (self.working.peek(), self.uploads.peek()) {
            (None, None) => return None,
            (Some(_), None) => false,
            (None, Some(_)) | (_, Some(Err(_))) => true,
            (Some((working, _)), Some(Ok((upload, _)))) => upload.path < working.path,
        };
        let next = if upload_first {
            self.uploads.next()?
        } else {
            Ok(self.working.next()?.clone())
        };
        Some(next.and_then(|(file, source)| {
            if let Some(last) = &self.last {
                anyhow::ensure!(
                    *last < file.path,
                    "the archive's files are out of order: {} after {last}",
                    file.path
                );
            }
            self.last = Some(file.path.clone());
            Ok((file, source))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str) -> (ManifestFile, ArchiveSource) {
        let file = ManifestFile {
            path: path.into(),
            size: 1,
            sha256: "ab".into(),
        };
        (file, ArchiveSource::Working(path.into()))
    }

    fn merged(
        working: &[(ManifestFile, ArchiveSource)],
        uploads: &[&str],
    ) -> anyhow::Result<Vec<(String, ArchiveSource)>> {
        let uploads = uploads
            .iter()
            .map(|name| {
                Ok(Asset {
                    name: (*name).to_owned(),
                    size: 2,
                    sha256: "cd".into(),
                    key: format!("uploads/{name}"),
                }
                .into_file())
            })
            .collect::<Vec<_>>();
        Merged {
            working: working.iter().peekable(),
            uploads: uploads.into_iter().peekable(),
            last: None,
        }
        .map(|next| next.map(|(file, source)| (file.path, source)))
        .collect()
    }

    #[test]
    fn working_files_and_uploads_merge_by_path() -> anyhow::Result<()> {
        let working = [file("GENERAL.html"), file("index.html"), file("user.html")];
        let names: Vec<String> = merged(&working, &["F1-a.png", "F2-b.txt"])?
            .into_iter()
            .map(|(path, _)| path)
            .collect();
        assert_eq!(
            names,
            [
                "GENERAL.html",
                "assets/F1-a.png",
                "assets/F2-b.txt",
                "index.html",
                "user.html"
            ]
        );
        let all = merged(&working, &["F1-a.png"])?;
        assert_eq!(all[1].1, ArchiveSource::Blob("uploads/F1-a.png".into()));
        assert_eq!(all[0].1, ArchiveSource::Working("GENERAL.html".into()));
        Ok(())
    }

    #[test]
    fn a_name_twice_or_out_of_order_is_refused() {
        assert!(merged(&[file("assets/F1-a.png")], &["F1-a.png"]).is_err());
        assert!(merged(&[], &["F2", "F1"]).is_err());
        assert!(merged(&[file("b"), file("a")], &[]).is_err());
    }

    /// Working files kept in memory, appended to and read back.
    fn kept_files() -> udd_ports::MockExportFiles {
        use std::sync::{Arc, Mutex};
        let kept: Arc<Mutex<Vec<u8>>> = Arc::default();
        let mut files = udd_ports::MockExportFiles::new();
        files.expect_write().returning(|_, _, _| Ok(()));
        let keep = Arc::clone(&kept);
        files
            .expect_append()
            .withf(|_, name, _, _| name == UNAVAILABLE_LIST)
            .returning(move |_, _, committed, bytes| {
                let mut kept = keep.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
                kept.truncate(usize::try_from(committed)?);
                kept.extend_from_slice(bytes);
                Ok(kept.len() as u64)
            });
        files.expect_open().returning(move |_, _| {
            let bytes = kept
                .lock()
                .map_err(|_| anyhow::anyhow!("poisoned"))?
                .clone();
            Ok(Box::new(std::io::Cursor::new(bytes)) as Box<dyn std::io::Read + Send>)
        });
        files
    }

    #[test]
    fn what_was_unavailable_reads_back_in_order_whatever_the_names() -> anyhow::Result<()> {
        let files = kept_files();
        let operation: OperationId = "OP".into();
        // Enough lines for several appends.
        let items: Vec<Unavailable> = std::iter::once(Unavailable::Avatar)
            .chain((0..10_000).map(|i| Unavailable::Upload {
                id: format!("F{i}"),
                name: format!("\"report\"\n{i}\t\u{202e}.pdf"),
            }))
            .collect();
        let mut list = UnavailableList::create(&files, &operation)?;
        for item in &items {
            list.push(item)?;
        }
        let count = list.finish()?;
        assert_eq!(count, items.len() as u64);
        let read: Vec<Unavailable> =
            read_unavailable(&files, &operation, count)?.collect::<anyhow::Result<_>>()?;
        assert_eq!(read, items);
        assert_eq!(read_unavailable(&files, &operation, 0)?.count(), 0);
        Ok(())
    }

    #[test]
    fn an_asset_reads_back_from_its_line_whatever_its_name() -> anyhow::Result<()> {
        let asset = Asset {
            name: "F1-\"a\"\n\tb.png".into(),
            size: u64::MAX,
            sha256: "00".into(),
            key: "uploads/F1".into(),
        };
        let mut text = String::new();
        asset.push_line(&mut text);
        assert_eq!(text.matches('\n').count(), 1);
        assert_eq!(Asset::from_line(text.trim_end())?, asset);
        Ok(())
    }
}
