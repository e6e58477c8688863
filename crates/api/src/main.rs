//! The `udd` binary: see `udd --help`.

/// jemalloc (with two arenas, see `.cargo/config.toml`) rather than glibc's allocator:
/// an export moves megabyte buffers between its threads, and glibc's per-thread
/// arenas kept what they freed (a 10 M-message export peaked at 102 MiB, 92 MiB with
/// jemalloc), and allocation was up to a tenth of an export's CPU.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    udd_api::cli::main()
}
