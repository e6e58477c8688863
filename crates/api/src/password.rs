//! Where `udd user add` gets a new password from: a prompt on the terminal (typed twice,
//! not echoed) or the first line of standard input (`--password-stdin`), never the
//! command line, where the process list and the shell history would keep it.

use std::io::{BufRead, BufReader, Write};

use anyhow::Context;

/// The first line of `input`, without its line ending.
///
/// Errors: nothing to read, or a read failure.
pub fn from_reader(input: impl std::io::Read) -> anyhow::Result<String> {
    let mut line = String::new();
    let read = BufReader::new(input)
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    anyhow::ensure!(read > 0, "standard input held no password");
    Ok(without_line_ending(line))
}

fn without_line_ending(mut line: String) -> String {
    if line.ends_with('\n') {
        line.pop();
        if line.ends_with('\r') {
            line.pop();
        }
    }
    line
}

/// Asks for a new password on the controlling terminal, twice, with echo off.
///
/// Errors: no terminal (the message says to use `--password-stdin`), the two entries
/// differ, or the terminal fails.
pub fn prompt_twice() -> anyhow::Result<String> {
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .ok()
        .filter(|tty| rustix::termios::isatty(tty))
        .context(
            "there is no terminal to ask for the password on: \
             pipe it in with --password-stdin",
        )?;
    let first = prompt(&tty, "Password: ")?;
    let second = prompt(&tty, "Repeat it: ")?;
    anyhow::ensure!(first == second, "the two passwords differ");
    Ok(first)
}

/// Reads one line from the terminal with echo off, restoring the terminal after.
fn prompt(tty: &std::fs::File, text: &str) -> anyhow::Result<String> {
    use rustix::termios::{tcgetattr, tcsetattr, LocalModes, OptionalActions};
    let saved = tcgetattr(tty).context("reading the terminal's settings")?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    quiet.local_modes.insert(LocalModes::ECHONL);
    // Echo off before the prompt shows, so nothing typed after it is ever echoed;
    // `Now` rather than `Flush`, so nothing typed ahead is thrown away.
    tcsetattr(tty, OptionalActions::Now, &quiet).context("turning the echo off")?;
    let mut writer = tty;
    let mut line = String::new();
    let read = writer
        .write_all(text.as_bytes())
        .and_then(|()| writer.flush())
        .and_then(|()| BufReader::new(tty).read_line(&mut line));
    // The echo comes back whatever the read gave.
    let restored = tcsetattr(tty, OptionalActions::Now, &saved);
    read.context("reading the password")?;
    restored.context("turning the echo back on")?;
    Ok(without_line_ending(line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_line_is_the_password_without_its_line_ending() -> anyhow::Result<()> {
        assert_eq!(from_reader(&b"s3cret pass\nignored\n"[..])?, "s3cret pass");
        assert_eq!(from_reader(&b"windows\r\n"[..])?, "windows");
        assert_eq!(from_reader(&b"no newline"[..])?, "no newline");
        assert_eq!(from_reader(&b" spaces kept \n"[..])?, " spaces kept ");
        assert!(from_reader(&b""[..]).is_err());
        Ok(())
    }
}
