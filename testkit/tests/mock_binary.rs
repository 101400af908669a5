//! The `mock-responses` binary as a process: prints its URL, serves the reply its flags
//! describe, and exits when its stdin closes. Likewise `otlp-receiver`, which prints what it
//! receives.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn post(port: u16) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .write_all(b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply
}

fn serve(args: &[&str]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mock-responses"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut url = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    let port: u16 = url
        .trim()
        .strip_prefix("http://127.0.0.1:")
        .and_then(|rest| rest.strip_suffix("/v1"))
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("first line is the base URL, got {url:?}"));
    let reply = post(port);

    drop(child.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "closing stdin stops the server");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(child.wait().unwrap().success());
    reply
}

#[test]
fn serves_the_flagged_message_and_usage_until_stdin_closes() {
    let reply = serve(&[
        "--text",
        "hello",
        "--input-tokens",
        "1234",
        "--rate-limits",
        "42.5,13,1795504590,1795587390",
    ]);
    assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
    assert!(reply.contains(r#""text":"hello""#), "{reply}");
    assert!(reply.contains(r#""input_tokens":1234"#), "{reply}");
    assert!(
        reply.contains("x-codex-primary-used-percent: 42.5\r\n"),
        "{reply}"
    );
    assert!(
        reply.contains("x-codex-secondary-reset-at: 1795587390\r\n"),
        "{reply}"
    );
}

#[test]
fn status_429_defaults_to_the_usage_limit_body() {
    let reply = serve(&["--status", "429"]);
    assert!(
        reply.starts_with("HTTP/1.1 429 Too Many Requests"),
        "{reply}"
    );
    assert!(reply.contains(r#""type":"usage_limit_reached""#), "{reply}");
}

#[test]
fn bad_flags_exit_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_mock-responses"))
        .arg("--nope")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("mock-responses: unknown option"));
}

#[test]
fn otlp_receiver_prints_each_request_as_a_json_line() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_otlp-receiver"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let port: u16 = first
        .trim()
        .strip_prefix("listening http://127.0.0.1:")
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("first line names the URL, got {first:?}"));

    let body = include_str!("fixtures/otlp/trace.json");
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
    assert!(reply.ends_with("\r\n\r\n{}"), "{reply}");

    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let printed: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(printed["signal"], "traces", "{line}");
    assert_eq!(printed["status"], 200, "{line}");
    assert_eq!(printed["spans"][0]["name"], "I'm a server span", "{line}");
    assert_eq!(
        printed["spans"][0]["trace_id"], "5b8efff798038103d269b633813fc60c",
        "{line}"
    );

    drop(child.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "closing stdin stops the receiver"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(child.wait().unwrap().success());
}
