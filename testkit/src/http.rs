//! The HTTP/1.1 the mock servers speak, on std only: read one request (body by
//! `content-length` or chunked), answer JSON or open an SSE stream, close the connection.
//! The OTLP receiver reads the head and the body separately (to answer `100-continue` and to
//! refuse oversized bodies) and serves several requests per connection.

use std::io::{self, BufRead, Write};
use std::net::TcpStream;

use serde::Serialize;
use serde_json::Value;

/// One request as the mock received it (serializes without `raw_body`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecordedRequest {
    pub method: String,
    /// The request target as sent, query included (`/v1/messages?beta=true`).
    pub path: String,
    /// In arrival order, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON, `Value::Null` when empty or not JSON.
    pub body: Value,
    /// The body as received (after undoing chunked transfer encoding).
    #[serde(skip)]
    pub raw_body: Vec<u8>,
}

impl RecordedRequest {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub(crate) fn write_json(
    stream: &mut TcpStream,
    code: u16,
    body: &Value,
    extra: &[(String, String)],
) -> io::Result<()> {
    let body = body.to_string();
    let mut head = format!(
        "HTTP/1.1 {code} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        reason(code),
        body.len()
    );
    push_headers(&mut head, extra);
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    stream.flush()
}

pub(crate) fn push_headers(head: &mut String, extra: &[(String, String)]) {
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
}

pub(crate) fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        529 => "Overloaded",
        _ => "Status",
    }
}

/// Read one request: request line, headers, and a body delimited by `content-length` or chunked.
/// `None` when the peer closed before sending anything.
pub(crate) fn read_request(reader: &mut impl BufRead) -> io::Result<Option<RecordedRequest>> {
    let Some(head) = read_head(reader)? else {
        return Ok(None);
    };
    let raw_body = read_body(reader, &head, usize::MAX)?;
    let body = serde_json::from_slice(&raw_body).unwrap_or(Value::Null);
    Ok(Some(RecordedRequest {
        method: head.method,
        path: head.path,
        headers: head.headers,
        body,
        raw_body,
    }))
}

/// A request line and its headers, before the body.
pub(crate) struct Head {
    pub method: String,
    pub path: String,
    /// In arrival order, names lowercased.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first header of that name (give it lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The declared `content-length`, when there is one and it is a number.
    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length")
            .and_then(|v| v.trim().parse::<u64>().ok())
    }

    pub fn is_chunked(&self) -> bool {
        self.header("transfer-encoding")
            .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"))
    }
}

/// Read the request line and headers. `None` when the peer closed before sending anything.
pub(crate) fn read_head(reader: &mut impl BufRead) -> io::Result<Option<Head>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    Ok(Some(Head {
        method,
        path,
        headers,
    }))
}

/// Read the body `head` announces (chunked, or `content-length` bytes, or none). A body longer
/// than `max` bytes is an `ErrorKind::FileTooLarge` error, found before reading it when the
/// length is declared.
pub(crate) fn read_body(reader: &mut impl BufRead, head: &Head, max: usize) -> io::Result<Vec<u8>> {
    if head.is_chunked() {
        return read_chunked(reader, max);
    }
    let length = head.content_length().unwrap_or(0);
    let length = usize::try_from(length)
        .ok()
        .filter(|length| *length <= max)
        .ok_or_else(too_large)?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(body)
}

fn too_large() -> io::Error {
    io::Error::new(io::ErrorKind::FileTooLarge, "request body too large")
}

fn read_chunked(reader: &mut impl BufRead, max: usize) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size_line = String::new();
        if reader.read_line(&mut size_line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let size = size_line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
        if size == 0 {
            // Trailers, up to an empty line.
            loop {
                let mut trailer = String::new();
                if reader.read_line(&mut trailer)? == 0 || trailer.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        if start.checked_add(size).is_none_or(|end| end > max) {
            return Err(too_large());
        }
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        let mut crlf = String::new();
        reader.read_line(&mut crlf)?;
    }
}

pub(crate) fn path_only(target: &str) -> &str {
    target.split('?').next().unwrap_or(target)
}
