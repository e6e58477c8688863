//! Rewrites a mongoexport dump (JSON lines, as `scripts/make-dump.py` writes them) in
//! the forms `mongodump` writes, for import benchmarks: a folder of `.bson` files
//! (`.bson.gz` with `--gzip`), or one `--archive` file (gzipped with `--gzip`). The
//! documents go through the `bson` crate's Extended JSON parser, one at a time.
//!
//! ```text
//! cargo run --release --example mongodump_from_export -- IN OUT [--gzip] [--archive]
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use bson::{doc, Bson, Document};

use udd::adapters::rocketchat::DATA_COLLECTIONS as COLLECTIONS;

const TERMINATOR: [u8; 4] = [0xff; 4];

/// Calls `each` with every document of `IN/<collection>.json`.
fn documents(input: &Path, collection: &str, mut each: impl FnMut(Document)) {
    let Ok(file) = File::open(input.join(format!("{collection}.json"))) else {
        return;
    };
    for line in BufReader::new(file).lines() {
        let line = line.unwrap();
        if line.trim().is_empty() {
            continue;
        }
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        match Bson::try_from(value).unwrap() {
            Bson::Document(doc) => each(doc),
            other => panic!("not a document: {other:?}"),
        }
    }
}

fn output(path: &Path, gzip: bool) -> Box<dyn Write> {
    let file = BufWriter::with_capacity(1 << 20, File::create(path).unwrap());
    if gzip {
        Box::new(flate2::write::GzEncoder::new(
            file,
            flate2::Compression::default(),
        ))
    } else {
        Box::new(file)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().any(|a| a == name);
    let paths: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let [input, out] = paths[..] else {
        eprintln!("usage: mongodump_from_export IN OUT [--gzip] [--archive]");
        std::process::exit(2);
    };
    let (input, out, gzip) = (Path::new(input), Path::new(out), flag("--gzip"));
    if flag("--archive") {
        let mut writer = output(out, gzip);
        writer.write_all(&0x8199_e26d_u32.to_le_bytes()).unwrap();
        doc! {"concurrent_collections": 1_i32, "version": "0.1", "server_version": "7.0.0", "tool_version": "udd example"}
            .to_writer(&mut writer)
            .unwrap();
        for collection in COLLECTIONS {
            doc! {"db": "rocketchat", "collection": collection, "metadata": "", "size": 0_i32, "type": ""}
                .to_writer(&mut writer)
                .unwrap();
        }
        writer.write_all(&TERMINATOR).unwrap();
        for collection in COLLECTIONS {
            let header = |eof: bool| doc! {"db": "rocketchat", "collection": collection, "EOF": eof, "CRC": 0_i64};
            let mut in_block = 0;
            documents(input, collection, |doc| {
                if in_block == 0 {
                    header(false).to_writer(&mut writer).unwrap();
                }
                doc.to_writer(&mut writer).unwrap();
                in_block += 1;
                if in_block == 1000 {
                    writer.write_all(&TERMINATOR).unwrap();
                    in_block = 0;
                }
            });
            if in_block > 0 {
                writer.write_all(&TERMINATOR).unwrap();
            }
            header(true).to_writer(&mut writer).unwrap();
            writer.write_all(&TERMINATOR).unwrap();
        }
        writer.flush().unwrap();
    } else {
        std::fs::create_dir_all(out).unwrap();
        for collection in COLLECTIONS {
            if !input.join(format!("{collection}.json")).exists() {
                continue;
            }
            let name = format!("{collection}.bson{}", if gzip { ".gz" } else { "" });
            let mut writer = output(&out.join(name), gzip);
            documents(input, collection, |doc| doc.to_writer(&mut writer).unwrap());
            writer.flush().unwrap();
        }
    }
}
