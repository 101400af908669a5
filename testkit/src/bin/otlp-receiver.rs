//! `otlp-receiver`: the test suite's OTLP/HTTP receiver as a standalone process, to see what an
//! exporter (Claude Code's, Codex's) really sends.
//!
//! It prints `listening http://127.0.0.1:PORT` as its first stdout line, then one JSON line per
//! answered request: its signal, path, status, headers, decode error, and the metric points,
//! spans or log records it carried, flattened. It serves until killed, or until its stdin
//! closes when stdin is a pipe or socket (so a parent that holds the pipe open never leaves it
//! behind).

use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use offload_testkit::otlp::{Mode, OtlpReceiver};
use serde_json::json;

const USAGE: &str = "\
usage: otlp-receiver [--port N] [--status CODE]

Receives OTLP/HTTP exports (POST /v1/metrics, /v1/traces, /v1/logs; protobuf or JSON,
optionally gzip) on 127.0.0.1. Prints `listening http://127.0.0.1:PORT`, then each request
as one JSON line with the data it carried, until killed (or until stdin closes, when stdin
is a pipe). Point an exporter at it with OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:PORT.

  --port N        listen on this port (default 0: the OS chooses)
  --status CODE   answer every request with this status (still decoded and printed,
                  but not accepted)
  -h, --help      this text";

fn main() -> ExitCode {
    let (port, status) = match parse(std::env::args().skip(1)) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("otlp-receiver: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let receiver = match OtlpReceiver::bind(port) {
        Ok(receiver) => receiver,
        Err(err) => {
            eprintln!("otlp-receiver: cannot listen on 127.0.0.1:{port}: {err}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(code) = status {
        receiver.set_mode(Mode::Status(code));
    }
    let mut stdout = io::stdout();
    if writeln!(stdout, "listening {}", receiver.url())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    let receiver = Arc::new(receiver);
    let printing = Arc::clone(&receiver);
    thread::spawn(move || print_requests(&printing));
    offload_testkit::serve_until_stdin_closes()
}

/// Print each answered request, in arrival order, as one JSON line.
fn print_requests(receiver: &OtlpReceiver) {
    let mut printed = 0;
    loop {
        let answered = receiver.wait_for(Duration::from_secs(3600), |r| {
            let requests = r.requests();
            let ready: Vec<_> = requests
                .into_iter()
                .skip(printed)
                .take_while(|request| request.status.is_some())
                .collect();
            (!ready.is_empty()).then_some(ready)
        });
        for request in answered.unwrap_or_default() {
            printed += 1;
            let line = json!(request).to_string();
            let mut stdout = io::stdout().lock();
            if writeln!(stdout, "{line}")
                .and_then(|()| stdout.flush())
                .is_err()
            {
                std::process::exit(0);
            }
        }
    }
}

/// `(port, status)` from the flags; `None` for `--help`.
fn parse(args: impl Iterator<Item = String>) -> Result<Option<(u16, Option<u16>)>, String> {
    let mut port = 0;
    let mut status = None;
    let mut args = args;
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        if flag != "--port" && flag != "--status" {
            return Err(format!("unknown option {flag:?}"));
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = value
            .parse::<u16>()
            .map_err(|_| format!("{flag} takes a number, not {value:?}"))?;
        if flag == "--port" {
            port = number;
        } else if (100..=599).contains(&number) {
            status = Some(number);
        } else {
            return Err(format!(
                "--status takes an HTTP status (100-599), not {number}"
            ));
        }
    }
    Ok(Some((port, status)))
}
