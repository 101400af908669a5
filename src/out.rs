//! Output that survives a closed pipe. `offload uninstall | head -1` closes stdout after one
//! line; Rust ignores SIGPIPE, so the next `println!` would panic half-way through a change.
//! Here a failed write marks the stream gone and later writes to it are dropped: the command
//! goes on to finish (or roll back) what it was doing, and exits with its own code. The
//! `println!`, `print!`, `eprintln!` and `eprint!` of this crate are these (see main.rs).

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_GONE: AtomicBool = AtomicBool::new(false);
static STDERR_GONE: AtomicBool = AtomicBool::new(false);

fn write(gone: &AtomicBool, args: fmt::Arguments<'_>, newline: bool, to: &mut dyn Write) {
    if gone.load(Ordering::Relaxed) {
        return;
    }
    let ok = to.write_fmt(args).is_ok()
        && (!newline || to.write_all(b"\n").is_ok())
        && to.flush().is_ok();
    if !ok {
        gone.store(true, Ordering::Relaxed);
    }
}

/// `print!`/`println!`.
pub fn stdout(args: fmt::Arguments<'_>, newline: bool) {
    write(&STDOUT_GONE, args, newline, &mut std::io::stdout().lock());
}

/// `eprint!`/`eprintln!`.
pub fn stderr(args: fmt::Arguments<'_>, newline: bool) {
    write(&STDERR_GONE, args, newline, &mut std::io::stderr().lock());
}

/// Text to stdout, as is.
pub fn print(text: &str) {
    stdout(format_args!("{text}"), false);
}
