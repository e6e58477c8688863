//! The `Range` header of a download, as a pure rule: which bytes a GET answers with.

use actix_files::HttpRange;
use udd_ports::ByteRange;

/// What a GET of something `size` bytes long answers, given its `Range` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeAnswer {
    /// No usable range asked: the whole thing (200).
    Whole,
    /// One range, non-empty and inside the size (206).
    Part(ByteRange),
    /// A range that cannot be served (416, `Content-Range: bytes */size`).
    Unsatisfiable,
}

/// Decides the answer for `header` (the `Range` value, if any) over `size` bytes. Only
/// the first of several ranges is served, as most servers do; an empty range (which the
/// parser makes of a suffix range over an empty body) is unsatisfiable, never a part.
pub fn range_answer(header: Option<&str>, size: u64) -> RangeAnswer {
    let Some(header) = header else {
        return RangeAnswer::Whole;
    };
    match HttpRange::parse(header, size) {
        Ok(ranges) => match ranges.first() {
            Some(r)
                if r.length > 0 && r.start.checked_add(r.length).is_some_and(|end| end <= size) =>
            {
                RangeAnswer::Part(ByteRange {
                    start: r.start,
                    len: r.length,
                })
            }
            Some(_) => RangeAnswer::Unsatisfiable,
            None => RangeAnswer::Whole,
        },
        Err(_) => RangeAnswer::Unsatisfiable,
    }
}

/// The `Content-Range` value of a part: `bytes first-last/total`.
pub fn content_range(part: ByteRange, total: u64) -> String {
    format!(
        "bytes {}-{}/{}",
        part.start,
        part.start + part.len.saturating_sub(1),
        total
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_served_inside_the_size_or_refused() {
        assert_eq!(range_answer(None, 10), RangeAnswer::Whole);
        assert_eq!(
            range_answer(Some("bytes=2-4"), 10),
            RangeAnswer::Part(ByteRange { start: 2, len: 3 })
        );
        assert_eq!(
            range_answer(Some("bytes=-3"), 10),
            RangeAnswer::Part(ByteRange { start: 7, len: 3 })
        );
        assert_eq!(
            range_answer(Some("bytes=5-"), 10),
            RangeAnswer::Part(ByteRange { start: 5, len: 5 })
        );
        assert_eq!(
            range_answer(Some("bytes=20-"), 10),
            RangeAnswer::Unsatisfiable
        );
        assert_eq!(
            range_answer(Some("pages=1-2"), 10),
            RangeAnswer::Unsatisfiable
        );
        // The empty body that once made a file server compute its last byte as 0 - 1.
        assert_eq!(
            range_answer(Some("bytes=-8"), 0),
            RangeAnswer::Unsatisfiable
        );
        assert_eq!(
            content_range(ByteRange { start: 7, len: 3 }, 10),
            "bytes 7-9/10"
        );
    }
}
