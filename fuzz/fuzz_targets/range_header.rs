//! The `Range` header of `GET /data-export/{fileId}`: `udd_api::ranges::range_answer`
//! decides what a GET answers (whole, one part, or 416) over an archive of a given size,
//! and `content_range` writes the part's header. Every part must be non-empty and lie
//! inside the size, its `Content-Range` must name exactly its bytes, and no header may
//! panic or overflow, whatever the size (0 included: an empty body once made a file
//! server compute its last byte as 0 - 1, this target's first finding, docs/fuzzing.md).

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use udd_api::ranges::{content_range, range_answer, RangeAnswer};

#[derive(Debug, Arbitrary)]
struct Input<'a> {
    /// Mostly small sizes, where edge cases live; sometimes any.
    small: u16,
    any: u64,
    use_any: bool,
    header: &'a str,
}

fuzz_target!(|input: Input<'_>| {
    let size = if input.use_any {
        input.any
    } else {
        u64::from(input.small % 2048)
    };
    assert_eq!(range_answer(None, size), RangeAnswer::Whole);
    match range_answer(Some(input.header), size) {
        RangeAnswer::Whole | RangeAnswer::Unsatisfiable => {}
        RangeAnswer::Part(part) => {
            assert!(part.len >= 1, "empty part {part:?} of {size} from {:?}", input.header);
            let end = part
                .start
                .checked_add(part.len)
                .unwrap_or_else(|| panic!("part {part:?} overflows"));
            assert!(end <= size, "part {part:?} outside {size} from {:?}", input.header);
            assert_eq!(
                content_range(part, size),
                format!("bytes {}-{}/{}", part.start, end - 1, size)
            );
            assert_eq!(part.end_within(size), Some(end));
        }
    }
});
