//! The `udd` binary: see `udd --help`.

fn main() -> std::process::ExitCode {
    udd_api::cli::main()
}
