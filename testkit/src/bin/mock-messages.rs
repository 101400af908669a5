//! `mock-messages`: the test suite's mock Anthropic Messages API as a standalone process.
//!
//! For trying offload with the real Claude Code by hand: start it, run `claude` with
//! `ANTHROPIC_BASE_URL` set to the URL it prints (and the rest of PROTOCOLS.md §2), and every
//! turn gets the same text reply. It prints `http://127.0.0.1:PORT` as its first stdout line,
//! then serves until killed, or until its stdin closes when stdin is a pipe or socket (so a
//! parent that holds the pipe open never leaves it behind).

use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use offload_testkit::messages::{MockMessages, Step};
use serde_json::json;

const USAGE: &str = "\
usage: mock-messages [OPTIONS]

Serves a mock Anthropic Messages API on 127.0.0.1 (OS-chosen port) for Claude Code.
Prints http://127.0.0.1:PORT on the first line of stdout, then serves until killed
(or until stdin closes, when stdin is a pipe). Every turn (a request with tools) gets
the same text, end_turn; side requests (no tools) get a short title.

  --text TEXT      the reply of every turn (default: done)
  --verbose        print each request received to stderr as a JSON line
  -h, --help       this text";

fn main() -> ExitCode {
    let mut text = "done".to_string();
    let mut verbose = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "--verbose" => verbose = true,
            "--text" => match args.next() {
                Some(value) => text = value,
                None => {
                    eprintln!("mock-messages: --text needs a value\n\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
            other => {
                eprintln!("mock-messages: unknown option {other:?}\n\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let mock = match MockMessages::start() {
        Ok(mock) => mock,
        Err(err) => {
            eprintln!("mock-messages: cannot listen on 127.0.0.1: {err}");
            return ExitCode::FAILURE;
        }
    };
    mock.set_default(Step::text(text));
    let mut stdout = io::stdout();
    if writeln!(stdout, "{}", mock.base_url())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    let mock = Arc::new(mock);
    if verbose {
        let watched = Arc::clone(&mock);
        thread::spawn(move || log_requests(&watched));
    }
    offload_testkit::serve_until_stdin_closes()
}

/// Print every new request to stderr, polling (the server has no callback on purpose).
fn log_requests(mock: &MockMessages) {
    let mut seen = 0;
    loop {
        let requests = mock.requests();
        for request in &requests[seen..] {
            eprintln!("{}", json!(request));
        }
        seen = requests.len();
        thread::sleep(Duration::from_millis(50));
    }
}
