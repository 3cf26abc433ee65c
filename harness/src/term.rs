//! The terminal: how much to print (`--quiet`, `--verbose`, as in cargo), whether to colour
//! (`NO_COLOR`, <https://no-color.org>), and keeping log and status lines above a progress bar.
//!
//! The torture and bug-hunt progress bar registers itself here ([`set_bar`]); while it is
//! shown, [`status`] lines and every tracing event are printed through
//! [`indicatif::ProgressBar::suspend`], so they appear above the bar instead of through it.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Mutex;

use indicatif::ProgressBar;

/// `--quiet`: errors only.
pub const QUIET: u8 = 0;
/// The default: status lines and warnings.
pub const NORMAL: u8 = 1;

static VERBOSITY: AtomicU8 = AtomicU8::new(NORMAL);
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);
/// Set once stdout's reader has gone away (`gauntlet check --json | head`).
static STDOUT_GONE: AtomicBool = AtomicBool::new(false);
/// Set by the commands that make many runs (torture, bug-hunt, shrink); see [`run_header`].
static BATCH: AtomicBool = AtomicBool::new(false);

/// Prints to stdout as `print!` does, except that a reader that has gone away (`| head`)
/// quietly ends the output instead of panicking: the command still finishes, writes what it
/// writes to the store, and exits with its own code. Any other write error is said on stderr.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => { $crate::term::write_out(&format!($($arg)*)) };
}

/// [`out!`] with a newline, as `println!`.
#[macro_export]
macro_rules! outln {
    () => { $crate::term::write_out("\n") };
    ($($arg:tt)*) => { $crate::term::write_out(&format!("{}\n", format_args!($($arg)*))) };
}

/// Writes `text` to stdout and flushes it; see [`out!`].
pub fn write_out(text: &str) {
    if STDOUT_GONE.load(Ordering::Relaxed) {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        STDOUT_GONE.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("gauntlet: writing to stdout: {e} (the rest of the output is dropped)");
        }
    }
}

/// The verbosity the global flags ask for: 0 with `--quiet`, 1 by default, 1 + the number of
/// `-v` otherwise.
pub fn verbosity_of(quiet: bool, verbose: u8) -> u8 {
    if quiet {
        QUIET
    } else {
        NORMAL.saturating_add(verbose)
    }
}

/// Sets the verbosity and installs the log subscriber (stderr, above any progress bar).
/// `GAUNTLET_LOG` (an `EnvFilter`), when set, overrides the level the flags give.
pub fn init(verbosity: u8) {
    set_verbosity(verbosity);
    install_log(verbosity);
}

/// Sets the verbosity only (status lines, progress bar), without a log subscriber.
pub fn set_verbosity(verbosity: u8) {
    VERBOSITY.store(verbosity, Ordering::Relaxed);
}

/// Installs the log subscriber at the level `verbosity` gives.
pub fn install_log(verbosity: u8) {
    let level = match verbosity {
        QUIET => "error",
        NORMAL => "warn",
        2 => "info",
        3 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("GAUNTLET_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(color())
        .with_writer(|| AboveBar)
        .try_init();
}

/// True under `--quiet`.
pub fn quiet() -> bool {
    VERBOSITY.load(Ordering::Relaxed) == QUIET
}

/// True with `-v` or more.
pub fn verbose() -> bool {
    VERBOSITY.load(Ordering::Relaxed) > NORMAL
}

/// Whether output may be coloured: not when `NO_COLOR` is set to anything but "".
pub fn color() -> bool {
    no_color_allows(std::env::var_os("NO_COLOR").as_deref())
}

fn no_color_allows(no_color: Option<&std::ffi::OsStr>) -> bool {
    no_color.is_none_or(|v| v.is_empty())
}

/// Registers the progress bar lines must stay above (None when it is gone).
pub fn set_bar(bar: Option<ProgressBar>) {
    if let Ok(mut b) = BAR.lock() {
        *b = bar;
    }
}

/// Marks this process as one that makes many runs (torture, bug-hunt, shrink): simulated
/// runs' one-line headers then go to the log (shown with `-v`) instead of the terminal, where
/// thousands a minute would bury the command's own progress.
pub fn set_batch() {
    BATCH.store(true, Ordering::Relaxed);
}

/// A run's header line: a status line, except for a simulated run inside a batch command
/// (see [`set_batch`]) without `-v`, where it is logged at debug level.
pub fn sim_run_header(line: impl std::fmt::Display) {
    if BATCH.load(Ordering::Relaxed) && !verbose() {
        tracing::debug!("{line}");
    } else {
        status(line);
    }
}

/// Prints a status line on stderr (not under `--quiet`), above the progress bar if one shows.
pub fn status(line: impl std::fmt::Display) {
    if quiet() {
        return;
    }
    write_above_bar(format!("{line}\n").as_bytes());
}

fn write_above_bar(buf: &[u8]) {
    let bar = BAR.lock().ok().and_then(|b| b.clone());
    let write = || {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(buf);
        let _ = err.flush();
    };
    match bar {
        Some(bar) if !bar.is_hidden() => bar.suspend(write),
        _ => write(),
    }
}

/// The tracing writer: each formatted event is written whole, above the bar.
#[derive(Debug)]
struct AboveBar;

impl Write for AboveBar {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        write_above_bar(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn verbosity_follows_cargo_flags() {
        assert_eq!(verbosity_of(true, 0), QUIET);
        assert_eq!(verbosity_of(false, 0), NORMAL);
        assert_eq!(verbosity_of(false, 2), 3);
    }

    #[test]
    fn no_color_set_to_anything_but_empty_disables_colour() {
        assert!(no_color_allows(None));
        assert!(no_color_allows(Some(OsStr::new(""))));
        assert!(!no_color_allows(Some(OsStr::new("1"))));
        assert!(!no_color_allows(Some(OsStr::new("0"))));
    }
}
