//! The sample workspace rewritten in the other forms a Rocket.Chat dump takes: BSON
//! (`mongodump`, optionally `--gzip`), `mongodump --archive`, and GridFS buckets for
//! the upload and avatar bytes. Documents are converted from the fixture's Extended
//! JSON by the `bson` crate itself; the archive framing follows mongo-tools'
//! `common/archive` format.

use std::io::Write;
use std::path::{Path, PathBuf};

use bson::{doc, spec::BinarySubtype, Binary, Bson, Document};
use serde_json::Value;

use crate::helpers::fixture_dir;

/// The fixture's collections, by their Rocket.Chat names.
pub use udd::adapters::rocketchat::DATA_COLLECTIONS as COLLECTIONS;

/// The fixture's documents of `collection`, converted from Extended JSON to BSON.
pub fn fixture_docs(collection: &str) -> Vec<Document> {
    let text = std::fs::read_to_string(fixture_dir().join(format!("{collection}.json"))).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let value: Value = serde_json::from_str(line).unwrap();
            match Bson::try_from(value).unwrap() {
                Bson::Document(doc) => doc,
                other => panic!("not a document: {other:?}"),
            }
        })
        .collect()
}

/// Documents back to back, as a `.bson` file holds them.
pub fn bson_bytes(docs: &[Document]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for doc in docs {
        doc.to_writer(&mut bytes).unwrap();
    }
    bytes
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Writes `docs` to `<dir>/<collection>.bson`, or `.bson.gz` gzipped; returns the path.
pub fn write_bson(dir: &Path, collection: &str, docs: &[Document], gzipped: bool) -> PathBuf {
    let bytes = bson_bytes(docs);
    let (path, bytes) = if gzipped {
        (dir.join(format!("{collection}.bson.gz")), gzip(&bytes))
    } else {
        (dir.join(format!("{collection}.bson")), bytes)
    };
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Copies the fixture's FileSystem store folders (`uploads/`, `avatars/`) into `dir`.
pub fn copy_blob_folders(dir: &Path) {
    for folder in ["uploads", "avatars"] {
        crate::helpers::copy_tree(&fixture_dir().join(folder), &dir.join(folder));
    }
}

/// The fixture as a mongodump folder: one `.bson` (or `.bson.gz`) file per collection
/// and the FileSystem store's folders.
pub fn mongodump_folder(dir: &Path, gzipped: bool) {
    std::fs::create_dir_all(dir).unwrap();
    for collection in COLLECTIONS {
        write_bson(dir, collection, &fixture_docs(collection), gzipped);
    }
    copy_blob_folders(dir);
}

/// The bytes of the fixture's FileSystem blob of document `id` in `folder`.
pub fn fixture_blob(folder: &str, id: &str) -> Vec<u8> {
    let dir = fixture_dir().join(folder);
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == id || name.starts_with(&format!("{id}.")) {
            return std::fs::read(path).unwrap();
        }
    }
    panic!("no blob {id} in {}", dir.display())
}

/// A GridFS bucket as Rocket.Chat's GridFS store writes it: each file under the `_id`
/// of its document, cut into `chunk_size` chunks.
pub struct Bucket {
    pub files: Vec<Document>,
    pub chunks: Vec<Document>,
}

/// The bucket holding the fixture's blobs of `collection` (`rocketchat_uploads` or
/// `rocketchat_avatars`), with an MD5 in each file document when `md5` is set.
pub fn fixture_bucket(collection: &str, chunk_size: usize, md5: bool) -> Bucket {
    let folder = if collection == "rocketchat_uploads" {
        "uploads"
    } else {
        "avatars"
    };
    let mut bucket = Bucket {
        files: Vec::new(),
        chunks: Vec::new(),
    };
    for upload in fixture_docs(collection) {
        let id = upload.get_str("_id").unwrap().to_owned();
        let bytes = fixture_blob(folder, &id);
        let mut file = doc! {
            "_id": &id,
            "length": bytes.len() as i64,
            "chunkSize": chunk_size as i32,
            "uploadDate": bson::DateTime::from_millis(1_709_283_600_000),
            "filename": &id,
            "contentType": upload.get_str("type").unwrap_or("application/octet-stream"),
        };
        if md5 {
            file.insert("md5", md5_hex(&bytes));
        }
        bucket.files.push(file);
        for (n, piece) in bytes.chunks(chunk_size).enumerate() {
            bucket.chunks.push(doc! {
                "_id": bson::oid::ObjectId::new(),
                "files_id": &id,
                "n": n as i32,
                "data": Binary { subtype: BinarySubtype::Generic, bytes: piece.to_vec() },
            });
        }
    }
    bucket
}

/// Lowercase hex MD5, as GridFS file documents of older drivers carry it.
pub fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(data))
}

/// Writes a `mongodump --archive` file, following mongo-tools' format: magic number,
/// prelude (header, one metadata document per collection, terminator), then blocks of
/// at most `block` documents per namespace header, the collections interleaved the way
/// parallel dumping interleaves them, each collection's end-of-collection header
/// right after its last block.
pub struct ArchiveWriter {
    namespaces: Vec<(String, String, Vec<Document>)>,
    block: usize,
}

const TERMINATOR: [u8; 4] = [0xff, 0xff, 0xff, 0xff];

impl ArchiveWriter {
    pub fn new(block: usize) -> Self {
        Self {
            namespaces: Vec::new(),
            block,
        }
    }

    pub fn collection(mut self, db: &str, collection: &str, docs: Vec<Document>) -> Self {
        self.namespaces
            .push((db.to_owned(), collection.to_owned(), docs));
        self
    }

    /// The fixture's collections in database `db`, plus two unrelated namespaces the
    /// reader must skip.
    pub fn fixture(block: usize, db: &str) -> Self {
        let mut writer = Self::new(block)
            .collection(
                "admin",
                "system.version",
                vec![doc! {"_id": "featureCompatibilityVersion", "version": "7.0"}],
            )
            .collection(
                db,
                "rocketchat_settings",
                (0..7)
                    .map(|i| doc! {"_id": format!("Setting_{i}"), "value": i})
                    .collect(),
            );
        for collection in COLLECTIONS {
            writer = writer.collection(db, collection, fixture_docs(collection));
        }
        writer
    }

    pub fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&0x8199_e26d_u32.to_le_bytes());
        doc! {
            "concurrent_collections": 4_i32,
            "version": "0.1",
            "server_version": "7.0.12",
            "tool_version": "100.9.4",
        }
        .to_writer(&mut out)
        .unwrap();
        for (db, collection, _) in &self.namespaces {
            doc! {"db": db, "collection": collection, "metadata": "{\"indexes\":[]}", "size": 0_i32, "type": ""}
                .to_writer(&mut out)
                .unwrap();
        }
        out.extend_from_slice(&TERMINATOR);
        // Round-robin over the collections, one block each, until all are written.
        let mut next = vec![0_usize; self.namespaces.len()];
        loop {
            let mut wrote = false;
            for (i, (db, collection, docs)) in self.namespaces.iter().enumerate() {
                if next[i] >= docs.len() {
                    continue;
                }
                wrote = true;
                doc! {"db": db, "collection": collection, "EOF": false, "CRC": 0_i64}
                    .to_writer(&mut out)
                    .unwrap();
                for doc in &docs[next[i]..(next[i] + self.block).min(docs.len())] {
                    doc.to_writer(&mut out).unwrap();
                }
                out.extend_from_slice(&TERMINATOR);
                next[i] += self.block;
                if next[i] >= docs.len() {
                    // A collection ends as soon as its last block is written.
                    doc! {"db": db, "collection": collection, "EOF": true, "CRC": 0_i64}
                        .to_writer(&mut out)
                        .unwrap();
                    out.extend_from_slice(&TERMINATOR);
                }
            }
            if !wrote {
                break;
            }
        }
        out
    }
}
