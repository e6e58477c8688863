//! The `Range` header of `GET /data-export/{fileId}`.
//!
//! The route hands range parsing to actix-files (`NamedFile::into_response`, which uses
//! `HttpRange::parse` and serves the first range); udd records the size of the body it
//! sends. This target drives both the parser and the response the route builds (same
//! `NamedFile` settings: zip type, attachment, ETag, Last-Modified) on real files of
//! several lengths, and checks that every range lies inside the file: a 206 carries a
//! `Content-Range` inside the file and a body of exactly that many bytes, a 200 the
//! whole file, a 416 `bytes */<length>`, a header that is not visible ASCII a 400; the
//! body size the route records never exceeds the file. An empty file never gets this
//! far: the route answers 404 for it (this target's first finding, docs/fuzzing.md).

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use actix_files::{HttpRange, NamedFile};
use actix_web::body::{BodySize, MessageBody};
use actix_web::http::header::{
    self, ContentDisposition, DispositionParam, DispositionType, HeaderValue,
};
use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

/// File lengths served: tiny, small, and large sparse files (nothing is read). An empty
/// file never reaches actix-files (see below).
const LENGTHS: [u64; 7] = [1, 2, 10, 1000, 65_537, (1 << 32) + 7, (1 << 40) + 3];

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    file: u8,
    /// A length for the parser alone.
    size: u64,
    accept_encoding: bool,
    header: &'a [u8],
}

/// One file per length (those the filesystem can hold), created once, under
/// `$UDD_FUZZ_TMP` or the system's temporary folder.
fn files() -> &'static [(u64, PathBuf)] {
    static FILES: OnceLock<Vec<(u64, PathBuf)>> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = std::env::var_os("UDD_FUZZ_TMP")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir)
            .join(format!("udd-fuzz-range-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        LENGTHS
            .iter()
            .filter_map(|&length| {
                let path = dir.join(format!("{length}.zip"));
                let file = std::fs::File::create(&path).ok()?;
                file.set_len(length).ok()?;
                Some((length, path))
            })
            .collect()
    })
}

/// Every range the parser returns is non-empty and inside `size`.
fn check_parse(header: &str, size: u64) -> Option<HttpRange> {
    let ranges = HttpRange::parse(header, size).ok()?;
    if size == 0 {
        // http-range 0.1.6 answers a suffix range (`bytes=-8`) on an empty body with
        // the empty range 0+0 rather than "no overlap", and actix-files then computes
        // its last byte as 0 - 1. The route never serves an empty file (a zip never
        // is one): see the fix in crates/api/src/routes/download.rs.
        for range in &ranges {
            assert_eq!((range.start, range.length), (0, 0), "{header:?}");
        }
        return None;
    }
    for range in &ranges {
        assert!(
            range.length >= 1,
            "empty range {range:?} from {header:?} for length {size}"
        );
        let end = range.start.checked_add(range.length);
        assert!(
            range.start < size && end.is_some_and(|end| end <= size),
            "range {range:?} from {header:?} outside length {size}"
        );
    }
    ranges.first().copied()
}

fuzz_target!(|input: Input<'_>| {
    if let Ok(text) = std::str::from_utf8(input.header) {
        check_parse(text, input.size);
    }

    let (length, path) = &files()[usize::from(input.file) % files().len()];
    let length = *length;
    // A value an HTTP parser would not have let through never reaches the route.
    let Ok(value) = HeaderValue::from_bytes(input.header) else {
        return;
    };
    let visible = value.to_str().ok().map(str::to_owned);
    let mut request = TestRequest::get().insert_header((header::RANGE, value));
    if input.accept_encoding {
        request = request.insert_header((header::ACCEPT_ENCODING, "gzip"));
    }
    let request = request.to_http_request();

    let named = NamedFile::open(path).unwrap_or_else(|e| panic!("{e}"));
    let response = named
        .set_content_type(actix_files::file_extension_to_mime("zip"))
        .set_content_disposition(ContentDisposition {
            disposition: DispositionType::Attachment,
            parameters: vec![DispositionParam::Filename(
                "2024-03-01-alice.zip".to_owned(),
            )],
        })
        .use_last_modified(true)
        .use_etag(true)
        .into_response(&request);

    let status = response.status();
    let content_range = response
        .headers()
        .get(header::CONTENT_RANGE)
        .map(|v| v.to_str().unwrap_or_else(|e| panic!("{e}")).to_owned());
    let body = match response.body().size() {
        BodySize::Sized(n) => Some(n),
        _ => None,
    };

    let Some(text) = visible else {
        assert_eq!(status, StatusCode::BAD_REQUEST);
        return;
    };
    let first = check_parse(&text, length);
    match status {
        StatusCode::PARTIAL_CONTENT => {
            let range = first.unwrap_or_else(|| panic!("206 without a range for {text:?}"));
            let expected = format!(
                "bytes {}-{}/{length}",
                range.start,
                range.start + range.length - 1
            );
            assert_eq!(content_range.as_deref(), Some(expected.as_str()));
            assert_eq!(body, Some(range.length), "{text:?}");
            assert!(range.length < length, "the whole file as a 206: {text:?}");
        }
        StatusCode::OK => {
            assert_eq!(body, Some(length), "{text:?}");
            if let Some(range) = first {
                assert_eq!((range.start, range.length), (0, length), "{text:?}");
            }
        }
        StatusCode::RANGE_NOT_SATISFIABLE => {
            assert!(first.is_none(), "416 for a satisfiable {text:?}");
            assert_eq!(
                content_range.as_deref(),
                Some(format!("bytes */{length}").as_str())
            );
        }
        other => panic!("{other} for {text:?} on a {length}-byte file"),
    }
    // What the route records as sent.
    if let Some(bytes) = body {
        assert!(
            bytes <= length,
            "{bytes} bytes sent of a {length}-byte file"
        );
    }
});
