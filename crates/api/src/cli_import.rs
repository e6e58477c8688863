//! What `udd import` prints: the summary of a load, and the delta queries.

use anyhow::Context;
use udd_adapters::RocketChatDump;
use udd_app::ImportSummary;
use udd_ports::WorkspaceWriter;

/// Prints the summary of an import: the dump's form, what changed per collection, the
/// usernames and addresses that moved, and the first problems.
pub(crate) fn print_import_summary(
    dir: &std::path::Path,
    form: &str,
    summary: &ImportSummary,
    took: std::time::Duration,
) {
    println!(
        "imported {} ({form}) in {:.1}s",
        dir.display(),
        took.as_secs_f64()
    );
    println!(
        "  {:<14} {:>9} {:>9} {:>10} {:>8} {:>9} {:>8} {:>10} {:>8}",
        "collection",
        "added",
        "updated",
        "unchanged",
        "deleted",
        "not held",
        "skipped",
        "malformed",
        "no file"
    );
    for (collection, counts) in &summary.counts {
        println!(
            "  {:<14} {:>9} {:>9} {:>10} {:>8} {:>9} {:>8} {:>10} {:>8}",
            collection.label(),
            counts.added,
            counts.updated,
            counts.unchanged,
            counts.deleted,
            counts.not_held,
            counts.skipped,
            counts.malformed,
            counts.missing_blobs
        );
    }
    let hidden = summary.of(udd_ports::Collection::Messages).hidden;
    if hidden > 0 {
        println!("{hidden} earlier version(s) of edited messages (edit history) left out");
    }
    if !summary.changed() {
        println!("nothing changed since the last import");
    }
    if !summary.moves.is_empty() {
        println!(
            "{} username(s) or e-mail address(es) changed hands:",
            summary.moves.len()
        );
        for moved in summary.moves.iter().take(200) {
            println!("  {moved}");
        }
        if summary.moves.len() > 200 {
            println!("  … and {} more", summary.moves.len() - 200);
        }
    }
    if summary.problem_count > 0 {
        println!("{} problem(s):", summary.problem_count);
        for problem in &summary.problems {
            println!("  {problem}");
        }
        if summary.problem_count > summary.problems.len() as u64 {
            println!(
                "  … and {} more",
                summary.problem_count - summary.problems.len() as u64
            );
        }
    }
}

/// Prints, one line per collection, the collection's name, a tab and the `--query`
/// fetching what changed since the last import; a note goes to standard error.
pub(crate) fn print_delta_query(workspace: &dyn WorkspaceWriter) -> anyhow::Result<()> {
    let marks = workspace.sync_marks()?;
    if marks.is_empty() {
        eprintln!("no import yet: every collection is fetched whole");
    } else {
        eprintln!(
            "changes since the last import, starting {} minutes before its newest dates",
            udd_adapters::DELTA_MARGIN.num_minutes()
        );
    }
    for query in udd_adapters::delta_queries(&marks) {
        println!("{}\t{}", query.collection, query.query);
    }
    Ok(())
}

/// Opens the dump `udd import` names: `-` is standard input, with `--collection`.
pub(crate) fn open_dump(
    path: &std::path::Path,
    collection: Option<&str>,
    db: Option<&str>,
) -> anyhow::Result<RocketChatDump> {
    if path.as_os_str() == "-" {
        let collection = collection.context(
            "reading standard input needs --collection NAME (users, rocketchat_message, …)",
        )?;
        anyhow::ensure!(
            db.is_none(),
            "--db chooses a database of an archive or a dump folder, not of standard input"
        );
        return RocketChatDump::stdin(collection);
    }
    anyhow::ensure!(
        collection.is_none(),
        "--collection names what standard input holds: use it with `-`"
    );
    RocketChatDump::open_database(path, db)
}
