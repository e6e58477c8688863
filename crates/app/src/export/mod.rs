//! The export engine: takes a queued operation and runs it to a finished zip in one go,
//! resumable at every batch, exactly once.
//!
//! How exactly-once holds: each room file grows batch by batch. A batch is rendered,
//! appended after the room's *committed* length and made durable, and only then are the
//! new length, the keyset cursor, the count, the pseudonyms and the uploads it introduced
//! committed together in one transaction. A crash before the commit leaves bytes past the
//! committed length; the resumed run cuts them off and writes the same batch again from
//! the same cursor with the same pseudonyms, so the result is byte-identical. Messages are
//! read up to a cutoff fixed when processing starts, so a resumed run sees the same set.

mod engine;
mod plan;

pub use engine::{EngineConfig, ExportEngine, ExportPorts, Outcome};
