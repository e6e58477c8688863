//! Keeping workers alive through a bad record: a panic inside one job becomes that
//! job's error, recorded against it, and the worker goes on with the next.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `work`, turning a panic into an error that says what panicked.
///
/// The jobs run here own no state that a panic could leave half-changed for the next
/// job: everything durable goes through the stores, which roll back what they did not
/// commit. That is what makes asserting unwind safety sound.
pub fn catch_panic<T>(work: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(work)).map_err(|payload| panic_message(payload.as_ref()))
}

/// The text a panic was raised with.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned());
    format!("internal error (panic: {text})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_an_error_with_its_message() {
        assert_eq!(catch_panic(|| 7), Ok(7));
        let error = catch_panic(|| -> u8 { panic!("bad record {}", 42) }).unwrap_err();
        assert_eq!(error, "internal error (panic: bad record 42)");
        let error = catch_panic(|| std::panic::panic_any(3_u8)).unwrap_err();
        assert_eq!(error, "internal error (panic: no message)");
    }
}
