//! Opening a dump file as a byte stream: plain or gzipped (by its name, or by its first
//! bytes where there is no telling name), counting the bytes read for progress, and turning a damaged
//! or truncated gzip stream into a clean end plus a note, so that the documents before
//! the damage are still read and the damage is reported where it happened.

use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::rc::Rc;

use anyhow::Context;
use flate2::read::MultiGzDecoder;

/// The first two bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

const BUFFER: usize = 256 * 1024;

/// Counts the bytes read from the file (the compressed bytes of a gzipped one), for
/// progress.
struct Counting<R> {
    inner: R,
    bytes: Rc<Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes.set(self.bytes.get() + n as u64);
        Ok(n)
    }
}

impl<R: Seek> Seek for Counting<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let at = self.inner.seek(pos)?;
        self.bytes.set(at);
        Ok(at)
    }
}

/// Why a gzip stream stopped early, kept for the reader of the stream to report.
pub(crate) type Damage = Rc<RefCell<Option<String>>>;

/// Ends the stream cleanly where the decompressor finds damage (a stream cut short, a
/// bad checksum, garbage), recording what it said; genuine I/O errors pass through.
struct GzipGuard<R> {
    inner: R,
    damage: Damage,
}

impl<R: Read> Read for GzipGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.damage.borrow().is_some() {
            return Ok(0);
        }
        match self.inner.read(buf) {
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::UnexpectedEof
                        | io::ErrorKind::InvalidInput
                        | io::ErrorKind::InvalidData
                ) =>
            {
                *self.damage.borrow_mut() = Some(e.to_string());
                Ok(0)
            }
            other => other,
        }
    }
}

enum Inner {
    /// A plain file of the given length: skipping is a seek.
    File(BufReader<Counting<File>>, u64),
    /// Anything else (a decompressor, standard input): skipping reads.
    Other(Box<dyn BufRead>),
}

/// A dump file opened for reading, decompressed when it is gzipped.
pub(crate) struct Stream {
    inner: Inner,
    bytes: Rc<Cell<u64>>,
    damage: Damage,
}

impl Stream {
    /// Opens `path`, gzipped or not as `gzip` says, or as its first two bytes say when
    /// `gzip` is `None`; `Ok(None)` when it does not exist.
    pub(crate) fn open(path: &Path, gzip: Option<bool>) -> anyhow::Result<Option<Self>> {
        let file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("opening {}", path.display())),
        };
        let read = |e| anyhow::Error::new(e).context(format!("reading {}", path.display()));
        let mut file = file;
        let gzipped = match gzip {
            Some(gzip) => gzip,
            None => {
                let gzipped = head(&mut file).map_err(read)? == GZIP_MAGIC;
                file.seek(SeekFrom::Start(0)).map_err(read)?;
                gzipped
            }
        };
        let len = file.metadata().map_err(read)?.len();
        let bytes = Rc::new(Cell::new(0));
        let reader = BufReader::with_capacity(
            BUFFER,
            Counting {
                inner: file,
                bytes: Rc::clone(&bytes),
            },
        );
        Ok(Some(if gzipped {
            Self::decoded(reader, bytes)
        } else {
            Self {
                inner: Inner::File(reader, len),
                bytes,
                damage: Damage::default(),
            }
        }))
    }

    /// Wraps a reader that cannot seek (standard input), decompressing it when it starts
    /// like a gzip stream.
    pub(crate) fn from_reader(mut reader: impl Read + 'static) -> io::Result<Self> {
        let first = head(&mut reader)?;
        let gzipped = first == GZIP_MAGIC;
        let bytes = Rc::new(Cell::new(first.len() as u64));
        let reader = BufReader::with_capacity(
            BUFFER,
            io::Cursor::new(first).chain(Counting {
                inner: reader,
                bytes: Rc::clone(&bytes),
            }),
        );
        Ok(if gzipped {
            Self::decoded(reader, bytes)
        } else {
            Self {
                inner: Inner::Other(Box::new(reader)),
                bytes,
                damage: Damage::default(),
            }
        })
    }

    fn decoded(reader: impl BufRead + 'static, bytes: Rc<Cell<u64>>) -> Self {
        let damage = Damage::default();
        let guard = GzipGuard {
            inner: MultiGzDecoder::new(reader),
            damage: Rc::clone(&damage),
        };
        Self {
            inner: Inner::Other(Box::new(BufReader::with_capacity(BUFFER, guard))),
            bytes,
            damage,
        }
    }

    /// Bytes read from the file so far (compressed bytes for a gzipped file).
    pub(crate) fn bytes_read(&self) -> u64 {
        self.bytes.get()
    }

    /// The shared count behind `bytes_read`, for readers that hold the stream.
    pub(crate) fn counter(&self) -> Rc<Cell<u64>> {
        Rc::clone(&self.bytes)
    }

    /// Whether the stream is a plain file, whose offsets are offsets in the file.
    pub(crate) fn is_plain_file(&self) -> bool {
        matches!(self.inner, Inner::File(..))
    }

    /// What the decompressor said when it stopped early, if it did.
    pub(crate) fn damage(&self) -> Option<String> {
        self.damage.borrow().clone()
    }

    /// The shared damage note, for readers that hold the stream mutably.
    pub(crate) fn damage_note(&self) -> Damage {
        Rc::clone(&self.damage)
    }

    /// Skips `n` bytes; returns how many were there to skip.
    pub(crate) fn skip(&mut self, n: u64) -> io::Result<u64> {
        match &mut self.inner {
            Inner::File(reader, len) => {
                // The counter is the file position (see `Counting`'s `seek`) ahead of
                // what the buffer still holds.
                let position = self.bytes.get() - reader.buffer().len() as u64;
                let left = len.saturating_sub(position);
                let step = n.min(left);
                let step_i64 = i64::try_from(step)
                    .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "skip too long"))?;
                reader.seek_relative(step_i64)?;
                Ok(step)
            }
            Inner::Other(reader) => io::copy(&mut reader.take(n), &mut io::sink()),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.inner {
            Inner::File(reader, _) => reader.read(buf),
            Inner::Other(reader) => reader.read(buf),
        }
    }
}

impl BufRead for Stream {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match &mut self.inner {
            Inner::File(reader, _) => reader.fill_buf(),
            Inner::Other(reader) => reader.fill_buf(),
        }
    }

    fn consume(&mut self, amt: usize) {
        match &mut self.inner {
            Inner::File(reader, _) => reader.consume(amt),
            Inner::Other(reader) => reader.consume(amt),
        }
    }
}

/// Reads up to two bytes: enough to tell a gzip stream.
fn head(reader: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(2);
    reader.take(2).read_to_end(&mut head)?;
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(data).unwrap_or_else(|e| panic!("{e}"));
        encoder.finish().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn gzip_is_taken_from_the_name_when_given_and_else_from_the_first_bytes() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let plain = dir.path().join("a");
        std::fs::write(&plain, b"{\"a\":1}\n").unwrap_or_else(|e| panic!("{e}"));
        let zipped = dir.path().join("b");
        std::fs::write(&zipped, gzip(b"{\"b\":2}\n")).unwrap_or_else(|e| panic!("{e}"));
        let read = |path: &Path, gzip: Option<bool>| {
            let mut stream = Stream::open(path, gzip)
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|| panic!("missing"));
            let mut bytes = Vec::new();
            stream
                .read_to_end(&mut bytes)
                .unwrap_or_else(|e| panic!("{e}"));
            (bytes, stream.is_plain_file(), stream.damage().is_some())
        };
        assert_eq!(read(&plain, None), (b"{\"a\":1}\n".to_vec(), true, false));
        assert_eq!(read(&zipped, None), (b"{\"b\":2}\n".to_vec(), false, false));
        assert_eq!(read(&zipped, Some(true)).0, b"{\"b\":2}\n");
        assert_eq!(read(&zipped, Some(false)).0, gzip(b"{\"b\":2}\n"));
        // Named gzip but not gzip: damage, reported by whoever reads the stream.
        assert_eq!(read(&plain, Some(true)), (Vec::new(), false, true));
        assert!(Stream::open(&dir.path().join("none"), None)
            .unwrap_or_else(|e| panic!("{e}"))
            .is_none());
    }

    #[test]
    fn a_gzip_stream_cut_short_ends_cleanly_with_a_note() {
        let data: Vec<u8> = (0..100_000_u32).map(|i| (i * 7 % 251) as u8).collect();
        let zipped = gzip(&data);
        let mut stream =
            Stream::from_reader(std::io::Cursor::new(zipped[..zipped.len() / 2].to_vec()))
                .unwrap_or_else(|e| panic!("{e}"));
        let mut out = Vec::new();
        stream
            .read_to_end(&mut out)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(out.len() < data.len());
        assert_eq!(out[..], data[..out.len()]);
        assert!(stream.damage().is_some());
    }

    #[test]
    fn skipping_seeks_in_a_plain_file_and_stops_at_its_end() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("f");
        std::fs::write(&path, b"0123456789").unwrap_or_else(|e| panic!("{e}"));
        let mut stream = Stream::open(&path, Some(false))
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("missing"));
        let mut two = [0_u8; 2];
        stream
            .read_exact(&mut two)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(stream.skip(5).unwrap_or_else(|e| panic!("{e}")), 5);
        stream
            .read_exact(&mut two)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&two, b"78");
        assert_eq!(stream.skip(100).unwrap_or_else(|e| panic!("{e}")), 1);
        assert_eq!(stream.bytes_read(), 10);
    }
}
