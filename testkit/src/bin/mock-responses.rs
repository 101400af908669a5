//! `mock-responses`: the test suite's mock Responses API as a standalone process.
//!
//! For newcomers trying offload by hand and for the benchmark: start it, point a `CODEX_HOME`
//! at the URL it prints (see `offload_testkit::codex::config_toml`), and every codex turn gets
//! the same reply. It prints `http://127.0.0.1:PORT/v1` as its first stdout line, then serves
//! until killed, or until its stdin closes when stdin is a pipe or socket (so a parent that
//! holds the pipe open never leaves it behind).

use std::io::{self, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use offload_testkit::responses::{MockResponses, RateHeaders, Reply, Usage, usage_limit_body};
use serde_json::{Value, json};

const USAGE: &str = "\
usage: mock-responses [OPTIONS]

Serves a mock OpenAI Responses API on 127.0.0.1 (OS-chosen port) for `codex exec`.
Prints http://127.0.0.1:PORT/v1 on the first line of stdout, then serves until killed
(or until stdin closes, when stdin is a pipe). Every turn gets the same reply:

  --text TEXT               assistant message (default: ok)
  --input-tokens N          usage in response.completed (default: 100)
  --cached-tokens N         (default: 0)
  --output-tokens N         (default: 10)
  --reasoning-tokens N      (default: 0)
  --rate-limits P,S[,PR,SR] send x-codex-* headers: primary/secondary used percent
                            (windows 300 and 10080 min), optional reset epochs
  --status CODE             reply with this HTTP status instead (429 = usage limit)
  --body JSON               body for --status
  --hang before|after       never answer (before or after the 200 headers)
  --verbose                 print each request received to stderr as a JSON line
  -h, --help                this text";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let verbose = args.iter().any(|a| a == "--verbose");
    let args: Vec<String> = args.into_iter().filter(|a| a != "--verbose").collect();
    let reply = match parse(&args) {
        Ok(Some(reply)) => reply,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("mock-responses: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mock = match MockResponses::start() {
        Ok(mock) => mock,
        Err(err) => {
            eprintln!("mock-responses: cannot listen on 127.0.0.1: {err}");
            return ExitCode::FAILURE;
        }
    };
    mock.set_default(reply);
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
fn log_requests(mock: &MockResponses) {
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

/// The reply the flags describe; `None` for `--help`.
fn parse(args: &[String]) -> Result<Option<Reply>, String> {
    let mut text = "ok".to_string();
    let mut usage = Usage::default();
    let mut limits = None;
    let mut status = None;
    let mut body = None;
    let mut hang = None;
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            return Ok(None);
        }
        let mut value = || {
            args.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--text" => text = value()?,
            "--input-tokens" => usage.input = number(flag, &value()?)?,
            "--cached-tokens" => usage.cached = number(flag, &value()?)?,
            "--output-tokens" => usage.output = number(flag, &value()?)?,
            "--reasoning-tokens" => usage.reasoning = number(flag, &value()?)?,
            "--rate-limits" => limits = Some(rate_limits(&value()?)?),
            "--status" => status = Some(number::<u16>(flag, &value()?)?),
            "--body" => {
                let raw = value()?;
                body = Some(
                    serde_json::from_str::<Value>(&raw)
                        .map_err(|err| format!("--body is not JSON: {err}"))?,
                );
            }
            "--hang" => {
                hang = Some(match value()?.as_str() {
                    "before" => Reply::hang_before_headers(),
                    "after" => Reply::hang_after_headers(),
                    other => return Err(format!("--hang takes before or after, not {other:?}")),
                })
            }
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    let reply = match (hang, status) {
        (Some(hang), _) => hang,
        (None, Some(code)) => {
            let body = body.unwrap_or_else(|| default_body(code));
            Reply::status(code, body)
        }
        (None, None) => Reply::message(text).usage(usage),
    };
    Ok(Some(match limits {
        Some(limits) => reply.rate_limits(limits),
        None => reply,
    }))
}

fn default_body(code: u16) -> Value {
    if code == 429 {
        let in_three_hours = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64 + 3 * 3600)
            .unwrap_or(0);
        usage_limit_body(in_three_hours)
    } else {
        json!({"error": {"message": format!("mock-responses: status {code}"), "type": "server_error"}})
    }
}

fn rate_limits(raw: &str) -> Result<RateHeaders, String> {
    let parts: Vec<&str> = raw.split(',').map(str::trim).collect();
    let flag = "--rate-limits";
    let (primary, secondary) = match parts.as_slice() {
        [p, s] | [p, s, _, _] => (number::<f64>(flag, p)?, number::<f64>(flag, s)?),
        _ => {
            return Err(format!(
                "{flag} takes P,S or P,S,PRIMARY_RESET,SECONDARY_RESET"
            ));
        }
    };
    let mut limits = RateHeaders::used(primary, secondary);
    if let [_, _, pr, sr] = parts.as_slice() {
        limits.primary_reset_at = number(flag, pr)?;
        limits.secondary_reset_at = number(flag, sr)?;
    }
    Ok(limits)
}

fn number<T: std::str::FromStr>(flag: &str, raw: &str) -> Result<T, String> {
    raw.parse()
        .map_err(|_| format!("{flag} takes a number, not {raw:?}"))
}
