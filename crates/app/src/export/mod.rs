//! The export engine: takes a queued operation and runs it to a finished archive in one
//! go, resumable at every batch, exactly once.
//!
//! How exactly-once holds: each room file grows batch by batch. A batch is rendered,
//! appended after the room's *committed* length and made durable, and only then are the
//! new length, the keyset cursor, the count, the pseudonyms and the uploads it introduced
//! committed together in one transaction. A crash before the commit leaves bytes past the
//! committed length; the resumed run cuts them off and writes the same batch again from
//! the same cursor with the same pseudonyms, so the result is byte-identical. Messages are
//! read up to a cutoff fixed when processing starts, so a resumed run sees the same set.
//!
//! The parts, each small enough to read on its own:
//! - `engine`: the engine, its ports and configuration, claiming an operation and the
//!   stage loop;
//! - `lease`: renewing the lease while a run works;
//! - `retry`: the retry rule, and what a failed attempt leaves behind;
//! - `plan`: the room list fixed when processing starts;
//! - `messages`: rooms exported in committed batches;
//! - `links`: where the messages a batch links to are (thread parents, first replies,
//!   quoted messages), asked of the store for that batch only;
//! - `pipeline`: the threads that render, commit and compress side by side;
//! - `digests`: the room files' sizes and SHA-256, worked out as they are committed;
//! - `package`: the profile, index, manifest and archive, and its recording;
//! - `listing`: what packaging reads and writes a piece at a time (uploads in pages,
//!   the list of the archive's uploads, files merged in path order);
//! - `spread`: independent pieces of work spread over the cores (counting rooms,
//!   reading uploads);
//! - `error`: how a run stops early (`LeaseLost`, `Stopped`, `Failed`).

mod digests;
mod engine;
mod error;
mod lease;
mod links;
mod listing;
mod messages;
mod package;
mod pipeline;
mod plan;
mod retry;
mod spread;
#[cfg(test)]
mod tests;

pub use engine::{ClaimHook, EngineConfig, ExportEngine, ExportPorts, Outcome};
