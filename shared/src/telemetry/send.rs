//! One OTLP/HTTP export request: `POST` the encoded body, with a deadline, and what the answer
//! means (OTLP/HTTP §"Failures": 429, 502, 503, 504 and no answer are worth retrying; other
//! 4xx mean the data will never be accepted as it is).
//!
//! `http://` is spoken here on a `TcpStream` (HTTP/1.1, `content-length`, `connection:
//! close`); `https://` goes through the system's `curl`, which brings the machine's CA store,
//! proxies and client certificates, and gets its headers and body from files and stdin, never
//! the command line (other users can read a process's arguments).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::Target;

/// How an export request ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sent {
    /// 2xx: the collector took it.
    Accepted,
    /// 413: too large for the collector; smaller requests may pass.
    TooLarge(String),
    /// A refusal of the data itself (400, 415, 422, …): it may be refused again. Kept like a
    /// failure; only this can be skipped, by the user (`offload export --skip-batch`).
    Refused(String),
    /// Anything else: not answered (connection refused, the deadline), or answered "later"
    /// (401, 403, 404, 408, 429, 5xx, a redirect). Never dropped on the collector's word: the
    /// cursor stays, and the next flush sends the same batch again.
    Failed(String),
}

/// A parsed endpoint URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    pub https: bool,
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Url {
    pub fn parse(url: &str) -> Result<Url, String> {
        let url = url.trim();
        let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
        let (https, rest) = if lower.starts_with("http://") {
            (false, &url[7..])
        } else if lower.starts_with("https://") {
            (true, &url[8..])
        } else {
            return Err("not an http:// or https:// URL".into());
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.contains('@') {
            return Err(
                "user information (user:password@) in the URL is not supported: put credentials \
                 in a header (OTEL_EXPORTER_OTLP_HEADERS)"
                    .into(),
            );
        }
        let (host, port) = if let Some(r) = authority.strip_prefix('[') {
            let end = r.find(']').ok_or("an IPv6 address without its closing ]")?;
            let port = r[end + 1..].strip_prefix(':');
            (r[..end].to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err("no host".into());
        }
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("port {p:?} is not 1 to 65535"))?,
            None if https => 443,
            None => 80,
        };
        if path.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return Err("the path has spaces or control characters".into());
        }
        Ok(Url {
            https,
            host,
            port,
            path: path.to_string(),
        })
    }
}

/// `POST body` to the target within its timeout.
pub fn post(target: &Target, body: &[u8], scratch: &Path) -> Sent {
    let url = match Url::parse(&target.url) {
        Ok(u) => u,
        Err(e) => return Sent::Failed(format!("the endpoint: {e}")),
    };
    let answer = if url.https {
        post_curl(target, body, scratch)
    } else {
        post_http(target, &url, body)
    };
    match answer {
        Err(e) => Sent::Failed(e),
        Ok((code, text)) => judge(code, &text),
    }
}

/// What an HTTP status means for the data.
pub fn judge(code: u16, body: &str) -> Sent {
    let snippet: String = body.chars().filter(|c| !c.is_control()).take(200).collect();
    let said = if snippet.trim().is_empty() {
        format!("HTTP {code}")
    } else {
        format!("HTTP {code}: {}", snippet.trim())
    };
    match code {
        200..=299 => Sent::Accepted,
        413 => Sent::TooLarge(said),
        300..=399 => Sent::Failed(format!(
            "{said} (a redirect, which an export does not follow: set the endpoint to where it leads)"
        )),
        401 | 403 | 404 | 408 | 429 => Sent::Failed(said),
        400..=499 => Sent::Refused(said),
        _ => Sent::Failed(said),
    }
}

fn post_http(target: &Target, url: &Url, body: &[u8]) -> Result<(u16, String), String> {
    let deadline = Instant::now() + target.timeout;
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| format!("no answer within {} ms", target.timeout.as_millis()))
    };
    let addrs: Vec<_> = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", url.host))?
        .collect();
    let mut last = format!("cannot resolve {}", url.host);
    let mut stream = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, left()?) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = format!("cannot connect to {}:{}: {e}", url.host, url.port),
        }
    }
    let mut stream = stream.ok_or(last)?;
    let host = if url.host.contains(':') {
        format!("[{}]", url.host)
    } else {
        url.host.clone()
    };
    let mut head = format!(
        "POST {} HTTP/1.1\r\nhost: {host}:{}\r\ncontent-type: {}\r\ncontent-length: {}\r\nuser-agent: offload/{}\r\nconnection: close\r\n",
        url.path,
        url.port,
        target.protocol.content_type(),
        body.len(),
        env!("CARGO_PKG_VERSION"),
    );
    for (k, v) in &target.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let io = |e: std::io::Error| {
        if matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ) {
            format!("no answer within {} ms", target.timeout.as_millis())
        } else {
            format!("{}:{}: {e}", url.host, url.port)
        }
    };
    stream.set_write_timeout(Some(left()?)).map_err(io)?;
    stream.write_all(head.as_bytes()).map_err(io)?;
    stream.write_all(body).map_err(io)?;
    stream.flush().map_err(io)?;
    // The answer: status line, headers, and at most 64 KiB of body (only for the message).
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        stream.set_read_timeout(Some(left()?)).map_err(io)?;
        let n = match stream.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io(e)),
        };
        if n == 0 || buf.len() >= 64 << 10 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        // Enough once the head and what content-length announces are in (past any interim
        // 1xx answer).
        let mut at = 0;
        while buf[at..].starts_with(b"HTTP/1.1 1") || buf[at..].starts_with(b"HTTP/1.0 1") {
            match find(&buf[at..], b"\r\n\r\n") {
                Some(i) => at += i + 4,
                None => break,
            }
        }
        if let Some(end) = find(&buf[at..], b"\r\n\r\n").map(|e| e + at) {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            if len.is_some_and(|l| buf.len() >= end + 4 + l.min(64 << 10)) {
                break;
            }
        }
    }
    // Interim answers (100 Continue) come before the real one.
    let mut text = String::from_utf8_lossy(&buf).into_owned();
    while text.starts_with("HTTP/1.1 1") || text.starts_with("HTTP/1.0 1") {
        match text.split_once("\r\n\r\n") {
            Some((_, rest)) => text = rest.to_string(),
            None => break,
        }
    }
    let status = text
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse::<u16>().ok())
        .ok_or_else(|| {
            if buf.is_empty() {
                format!(
                    "{}:{} closed the connection without an answer",
                    url.host, url.port
                )
            } else {
                format!("{}:{} did not answer in HTTP", url.host, url.port)
            }
        })?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    Ok((status, body.to_string()))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A curl config value, quoted.
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' | '\r' | '\0' => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn post_curl(target: &Target, body: &[u8], scratch: &Path) -> Result<(u16, String), String> {
    let curl = crate::process::resolve_bin("curl").map_err(|_| {
        "https:// endpoints are posted with curl, which is not installed".to_string()
    })?;
    crate::fsutil::create_private_dir(scratch)
        .map_err(|e| format!("{}: {e}", scratch.display()))?;
    let file = tempfile_in(scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    std::fs::write(&file.0, body).map_err(|e| format!("{}: {e}", file.0.display()))?;
    let mut config = format!(
        "url = {}\nrequest = \"POST\"\nsilent\nshow-error\nmax-time = {:.3}\nconnect-timeout = {:.3}\nheader = {}\nheader = {}\ndata-binary = {}\noutput = \"/dev/null\"\nwrite-out = \"\\n%{{http_code}}\"\nproto = \"=https\"\nproto-redir = \"=https\"\n",
        quote(&target.url),
        target.timeout.as_secs_f64(),
        target.timeout.as_secs_f64(),
        quote(&format!("content-type: {}", target.protocol.content_type())),
        quote(&format!(
            "user-agent: offload/{}",
            env!("CARGO_PKG_VERSION")
        )),
        quote(&format!("@{}", file.0.display())),
    );
    for (k, v) in &target.headers {
        config.push_str(&format!("header = {}\n", quote(&format!("{k}: {v}"))));
    }
    for (opt, v) in [
        ("cacert", &target.tls.ca),
        ("cert", &target.tls.cert),
        ("key", &target.tls.key),
    ] {
        if let Some(v) = v {
            config.push_str(&format!("{opt} = {}\n", quote(v)));
        }
    }
    let mut cmd = Command::new(curl);
    // `-q` first: the user's ~/.curlrc does not apply (no redirects followed, no proxy or
    // `insecure` from it); the answer's body goes to /dev/null, only the status comes back.
    cmd.arg("-q").arg("--config").arg("-");
    let ran = crate::process::run_bounded(
        cmd,
        Some(config.as_bytes()),
        target.timeout + Duration::from_secs(2),
    )
    .map_err(|e| format!("cannot run curl: {e}"))?;
    let out = ran.stdout.clone();
    let (body, code) = out.rsplit_once('\n').unwrap_or(("", out.as_str()));
    match code.trim().parse::<u16>() {
        Ok(c) if c > 0 => Ok((c, body.to_string())),
        _ => Err(format!("curl: {}", ran.why())),
    }
}

/// A private file in `dir`, removed when dropped.
struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn tempfile_in(dir: &Path) -> std::io::Result<TempFile> {
    use std::os::unix::fs::OpenOptionsExt;
    let bytes = super::trace::random::<8>();
    let path = dir.join(format!(".export-{}.tmp", super::otlp::hex(&bytes)));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    Ok(TempFile(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("http://127.0.0.1:4318/v1/metrics").unwrap();
        assert_eq!(
            (u.https, u.host.as_str(), u.port, u.path.as_str()),
            (false, "127.0.0.1", 4318, "/v1/metrics")
        );
        let u = Url::parse("https://otel.example.com/otlp/v1/traces").unwrap();
        assert_eq!((u.https, u.port), (true, 443));
        let u = Url::parse("http://[::1]:9/v1/metrics").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 9));
        for bad in [
            "ftp://x",
            "http://",
            "http://h:0/",
            "http://h:99999/",
            "http://u:p@h/",
            "http://h/a b",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn what_an_answer_means() {
        assert_eq!(judge(200, ""), Sent::Accepted);
        assert!(matches!(judge(503, "busy"), Sent::Failed(m) if m.contains("503")));
        assert!(matches!(judge(429, ""), Sent::Failed(_)));
        assert!(matches!(judge(401, ""), Sent::Failed(_)));
        assert!(matches!(judge(400, "bad\nproto"), Sent::Refused(m) if m == "HTTP 400: badproto"));
        assert!(matches!(judge(413, ""), Sent::TooLarge(_)));
        assert!(matches!(judge(307, ""), Sent::Failed(m) if m.contains("redirect")));
    }

    #[test]
    fn curl_config_values_cannot_break_out() {
        assert_eq!(quote("a\"b\\c\nd"), "\"a\\\"b\\\\cd\"");
    }
}
