//! A loopback OTLP/HTTP receiver: what Claude Code's and Codex's OpenTelemetry exporters send,
//! decoded with the official OpenTelemetry protobuf definitions (the `opentelemetry-proto`
//! crate) and flattened into plain records a test can assert on.
//!
//! It listens on 127.0.0.1 (an OS-chosen port unless [`OtlpReceiver::bind`] gets one), speaks
//! HTTP/1.1 by hand on `std::net` (one thread per connection) and serves every request of a
//! connection in turn until the client closes it, so keep-alive exporters (the OTLP JS exporter,
//! reqwest) can send several exports on one connection. Replies carry `content-length`, and
//! `connection: close` only when the client asked for it.
//!
//! - `POST …/v1/metrics`, `…/v1/traces`, `…/v1/logs` (any prefix, e.g. `/otlp/v1/metrics`) are
//!   decoded from `application/x-protobuf` or `application/json` (the OTLP/JSON mapping: hex
//!   trace and span ids, 64-bit integers as strings or numbers, enums as integers; enum names
//!   are accepted too), optionally `content-encoding: gzip`. Success is `200` with an empty
//!   `Export*ServiceResponse` in the request's encoding (an empty protobuf body, or `{}`).
//! - A body that does not decode gets `400`; an unknown content type or content encoding `415`;
//!   a body over 64 MiB `413`; another path `404`; another method on an OTLP path `405`. Error
//!   answers carry a `google.rpc.Status` (`code`, `message`) in the request's encoding.
//! - [`Mode`] overrides the answer: a fixed status, or no answer at all.
//!
//! Every request is recorded ([`OtlpRequest`]), answered or not, with what it carried; the
//! data of accepted requests is also collected in [`OtlpReceiver::metrics`],
//! [`OtlpReceiver::spans`] and [`OtlpReceiver::logs`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::SeverityNumber;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, NumberDataPoint, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, status};
use prost::Message;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::http::{Head, path_only, read_body, read_head, reason};

/// The largest request body accepted, on the wire and after gzip: 64 MiB.
pub const MAX_BODY: usize = 64 << 20;

/// How the receiver answers. [`Mode::Ok`] unless changed by [`OtlpReceiver::set_mode`]; a change
/// applies to requests already held by [`Mode::Hang`] too.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Decode and answer: `200` when the body decodes, otherwise the error status.
    #[default]
    Ok,
    /// Answer every request with this status and accept nothing (bodies are still decoded, so
    /// [`OtlpRequest::decode_error`] and what the request carried are still recorded).
    Status(u16),
    /// Read and record every request, then answer nothing until the mode changes or the
    /// receiver is dropped (which closes the connection).
    Hang,
    /// Like [`Mode::Ok`], but a body longer than this many bytes gets `413` (a collector's or
    /// a proxy's size limit).
    MaxBody(usize),
}

/// Which OTLP export a request was, by its path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Signal {
    Metrics,
    Traces,
    Logs,
    /// Not an OTLP export path (answered `404`).
    Other,
}

/// One request as the receiver got it, and how it was answered.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OtlpRequest {
    pub method: String,
    /// The request target as sent, query included.
    pub path: String,
    pub signal: Signal,
    /// The `content-type` header as sent, `""` when absent.
    pub content_type: String,
    /// In arrival order, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The status answered; `None` while the request is held ([`Mode::Hang`]), and for good if
    /// the receiver was dropped first.
    pub status: Option<u16>,
    /// Whether the data went into [`OtlpReceiver::metrics`] / `spans` / `logs` (answered `200`
    /// in [`Mode::Ok`]).
    pub accepted: bool,
    /// Why the request could not be decoded (bad protobuf or JSON, bad gzip, unsupported
    /// content type or encoding, oversized body); `None` when it decoded or is not an export.
    pub decode_error: Option<String>,
    /// What the request carried, flattened, whether or not it was accepted.
    pub metrics: Vec<MetricPoint>,
    pub spans: Vec<SpanRecord>,
    pub logs: Vec<LogRecordRec>,
    /// The body as received (still compressed when it was sent gzip'd).
    #[serde(skip)]
    pub body: Vec<u8>,
}

impl OtlpRequest {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `AggregationTemporality` of a sum or histogram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Temporality {
    Delta,
    Cumulative,
    Unspecified,
}

/// The kind of metric a point belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Kind {
    Sum {
        monotonic: bool,
        temporality: Temporality,
    },
    Gauge,
    Histogram {
        temporality: Temporality,
    },
    /// Exponential histograms and summaries (`value` is their sum, `count` their count).
    Other,
}

/// One data point of one metric, with its metric's and resource's context.
///
/// Attribute values are rendered as text (see [`render_any_value`]).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MetricPoint {
    /// The resource attributes (`service.name`, …).
    pub resource: BTreeMap<String, String>,
    /// The instrumentation scope's name (`""` when absent).
    pub scope: String,
    pub name: String,
    pub unit: String,
    pub kind: Kind,
    /// The point's attributes.
    pub attrs: BTreeMap<String, String>,
    /// Sums and gauges: the value (`asInt` or `asDouble`); histograms: their sum (0 when absent).
    pub value: f64,
    /// Histograms: how many values; 0 for sums and gauges.
    pub count: u64,
    /// Histograms: the count per bucket.
    pub bucket_counts: Vec<u64>,
    /// Histograms: the explicit bucket bounds.
    pub bounds: Vec<f64>,
    pub start_unix_nano: u64,
    pub time_unix_nano: u64,
}

/// One span, with its resource's context.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SpanRecord {
    pub resource: BTreeMap<String, String>,
    pub scope: String,
    pub name: String,
    /// Lowercase hex, 32 characters (`""` when absent).
    pub trace_id: String,
    /// Lowercase hex, 16 characters.
    pub span_id: String,
    /// `""` for a root span.
    pub parent_span_id: String,
    /// `SpanKind`: 1 internal, 2 server, 3 client, 4 producer, 5 consumer (0 unspecified).
    pub kind: i32,
    pub attrs: BTreeMap<String, String>,
    /// `Status.code`: 0 unset, 1 ok, 2 error.
    pub status_code: i32,
    pub status_message: String,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
}

/// One log record (Claude Code's events are log records), with its resource's context.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LogRecordRec {
    pub resource: BTreeMap<String, String>,
    pub scope: String,
    /// The body rendered as text (see [`render_any_value`]).
    pub body: String,
    pub attrs: BTreeMap<String, String>,
    /// Lowercase hex, `""` when the record has no trace context.
    pub trace_id: String,
    pub span_id: String,
    /// `event_name` (OTLP 1.5+), `""` when absent; older senders put it in `attrs["event.name"]`.
    pub event_name: String,
    pub severity_number: i32,
    pub severity_text: String,
    pub time_unix_nano: u64,
    pub observed_time_unix_nano: u64,
}

/// The running receiver. Dropping it stops it: no more connections are accepted, held and idle
/// connections are closed, and its threads are joined.
pub struct OtlpReceiver {
    shared: Arc<Shared>,
    addr: SocketAddr,
    acceptor: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled on every change: a request recorded or answered, the mode set, the stop.
    changed: Condvar,
}

struct State {
    mode: Mode,
    requests: Vec<OtlpRequest>,
    metrics: Vec<MetricPoint>,
    spans: Vec<SpanRecord>,
    logs: Vec<LogRecordRec>,
    /// Bumped with every signal on `changed`.
    generation: u64,
    /// A clone of every open connection, to close them on drop.
    open: BTreeMap<u64, TcpStream>,
    workers: Vec<JoinHandle<()>>,
    next_connection: u64,
    stopped: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(&self, state: MutexGuard<'a, State>, up_to: Duration) -> MutexGuard<'a, State> {
        self.changed
            .wait_timeout(state, up_to)
            .unwrap_or_else(PoisonError::into_inner)
            .0
    }

    /// Change the state and wake every waiter.
    fn update<T>(&self, change: impl FnOnce(&mut State) -> T) -> T {
        let out = {
            let mut state = self.lock();
            let out = change(&mut state);
            state.generation += 1;
            out
        };
        self.changed.notify_all();
        out
    }
}

impl OtlpReceiver {
    /// Listen on 127.0.0.1, on a port the OS chooses.
    pub fn start() -> io::Result<Self> {
        Self::bind(0)
    }

    /// Listen on 127.0.0.1:`port` (0: the OS chooses).
    pub fn bind(port: u16) -> io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                mode: Mode::Ok,
                requests: Vec::new(),
                metrics: Vec::new(),
                spans: Vec::new(),
                logs: Vec::new(),
                generation: 0,
                open: BTreeMap::new(),
                workers: Vec::new(),
                next_connection: 0,
                stopped: false,
            }),
            changed: Condvar::new(),
        });
        let accepting = Arc::clone(&shared);
        let acceptor = thread::Builder::new()
            .name("otlp-receiver-accept".into())
            .spawn(move || accept_loop(&accepting, &listener))?;
        Ok(OtlpReceiver {
            shared,
            addr,
            acceptor: Some(acceptor),
        })
    }

    /// `http://127.0.0.1:PORT`, the OTLP endpoint to give an exporter
    /// (`OTEL_EXPORTER_OTLP_ENDPOINT`); the signal paths `/v1/…` go after it.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port())
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// How to answer from now on, including requests held by [`Mode::Hang`].
    pub fn set_mode(&self, mode: Mode) {
        self.shared.update(|state| state.mode = mode);
    }

    /// Every request received so far, in arrival order (recorded before it is answered).
    pub fn requests(&self) -> Vec<OtlpRequest> {
        self.shared.lock().requests.clone()
    }

    /// The metric points of every accepted request, in arrival order.
    pub fn metrics(&self) -> Vec<MetricPoint> {
        self.shared.lock().metrics.clone()
    }

    /// The spans of every accepted request, in arrival order.
    pub fn spans(&self) -> Vec<SpanRecord> {
        self.shared.lock().spans.clone()
    }

    /// The log records of every accepted request, in arrival order.
    pub fn logs(&self) -> Vec<LogRecordRec> {
        self.shared.lock().logs.clone()
    }

    /// Call `f` until it returns `Some` (returned) or `timeout` passes (`None`). `f` is called
    /// at once, then again after every change (a request recorded or answered, a mode change),
    /// and at least every 20 ms.
    pub fn wait_for<T>(
        &self,
        timeout: Duration,
        f: impl Fn(&OtlpReceiver) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        loop {
            let seen = self.shared.lock().generation;
            if let Some(found) = f(self) {
                return Some(found);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            let state = self.shared.lock();
            if state.generation == seen {
                let up_to = (deadline - now).min(Duration::from_millis(20));
                drop(self.shared.wait(state, up_to));
            }
        }
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.shared.update(|state| {
            state.stopped = true;
            for stream in state.open.values() {
                let _ = stream.shutdown(Shutdown::Both);
            }
        });
        // Wake the acceptor blocked in accept(); it sees `stopped` and returns.
        let woke = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok();
        if let Some(acceptor) = self.acceptor.take()
            && woke
        {
            let _ = acceptor.join();
        }
        let workers = std::mem::take(&mut self.shared.lock().workers);
        for worker in workers {
            let _ = worker.join();
        }
    }
}

fn accept_loop(shared: &Arc<Shared>, listener: &TcpListener) {
    for conn in listener.incoming() {
        let mut state = shared.lock();
        if state.stopped {
            return;
        }
        let Ok(stream) = conn else { continue };
        state.workers.retain(|worker| !worker.is_finished());
        let id = state.next_connection;
        state.next_connection += 1;
        if let Ok(clone) = stream.try_clone() {
            state.open.insert(id, clone);
        }
        let serving = Arc::clone(shared);
        let spawned = thread::Builder::new()
            .name(format!("otlp-receiver-conn-{id}"))
            .spawn(move || {
                let _ = serve(&serving, stream);
                serving.lock().open.remove(&id);
            });
        match spawned {
            Ok(worker) => state.workers.push(worker),
            Err(_) => {
                state.open.remove(&id);
            }
        }
    }
}

/// How a body is (to be) encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

/// What a request carried once decoded.
enum Decoded {
    Metrics(Vec<MetricPoint>),
    Spans(Vec<SpanRecord>),
    Logs(Vec<LogRecordRec>),
}

/// The verdict on a request before the mode is applied.
struct Examined {
    /// The status [`Mode::Ok`] answers.
    status: u16,
    decoded: Option<Decoded>,
    error: Option<String>,
    /// The encoding to answer in (`None`: plain text).
    encoding: Option<Encoding>,
}

/// Serve the requests of one connection in turn, until the client closes it, asks for
/// `connection: close`, or sends something unreadable.
fn serve(shared: &Shared, stream: TcpStream) -> io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let Some(head) = read_head(&mut reader)? else {
            return Ok(());
        };
        let close = head
            .header("connection")
            .is_some_and(|v| v.to_ascii_lowercase().contains("close"));
        let oversized = head
            .content_length()
            .is_some_and(|length| length > MAX_BODY as u64);
        if !oversized
            && head
                .header("expect")
                .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
        {
            writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
            writer.flush()?;
        }
        let (body, examined, keep_open) = match read_body(&mut reader, &head, MAX_BODY) {
            Ok(body) => {
                let examined = examine(&head, &body);
                (body, examined, !close)
            }
            Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(err) => {
                // The rest of the stream cannot be trusted: answer, then close.
                let status = if err.kind() == io::ErrorKind::FileTooLarge {
                    413
                } else {
                    400
                };
                let examined = Examined {
                    status,
                    decoded: None,
                    error: Some(format!("cannot read the body: {err}")),
                    encoding: encoding_of(&head).ok().flatten(),
                };
                (Vec::new(), examined, false)
            }
        };
        if !answer(shared, &mut writer, head, body, examined, keep_open)? || !keep_open {
            let _ = writer.shutdown(Shutdown::Write);
            return Ok(());
        }
    }
}

/// Record the request, wait for the mode to say how to answer, answer. False when the receiver
/// stopped before answering.
fn answer(
    shared: &Shared,
    writer: &mut TcpStream,
    head: Head,
    body: Vec<u8>,
    examined: Examined,
    keep_open: bool,
) -> io::Result<bool> {
    let signal = signal_of(&head.path);
    let body_len = body.len();
    let (metrics, spans, logs) = match examined.decoded {
        Some(Decoded::Metrics(points)) => (points, Vec::new(), Vec::new()),
        Some(Decoded::Spans(spans)) => (Vec::new(), spans, Vec::new()),
        Some(Decoded::Logs(logs)) => (Vec::new(), Vec::new(), logs),
        None => (Vec::new(), Vec::new(), Vec::new()),
    };
    let record = OtlpRequest {
        content_type: head.header("content-type").unwrap_or_default().to_string(),
        method: head.method,
        path: head.path,
        signal,
        headers: head.headers,
        status: None,
        accepted: false,
        decode_error: examined.error.clone(),
        metrics,
        spans,
        logs,
        body,
    };
    let index = shared.update(|state| {
        state.requests.push(record);
        state.requests.len() - 1
    });

    let mut state = shared.lock();
    let status = loop {
        if state.stopped {
            return Ok(false);
        }
        match state.mode {
            Mode::Ok => break examined.status,
            Mode::MaxBody(max) if body_len > max => break 413,
            Mode::MaxBody(_) => break examined.status,
            Mode::Status(code) => break code,
            Mode::Hang => {
                state = shared
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
    };
    let accepted = matches!(state.mode, Mode::Ok | Mode::MaxBody(_)) && status == 200;
    {
        let State {
            requests,
            metrics,
            spans,
            logs,
            generation,
            ..
        } = &mut *state;
        let record = &mut requests[index];
        record.status = Some(status);
        record.accepted = accepted;
        if accepted {
            metrics.extend(record.metrics.iter().cloned());
            spans.extend(record.spans.iter().cloned());
            logs.extend(record.logs.iter().cloned());
        }
        *generation += 1;
    }
    drop(state);
    shared.changed.notify_all();

    let (content_type, body) = reply_body(signal, status, examined.encoding, examined.error);
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n",
        reason_phrase(status),
        body.len()
    );
    if !keep_open {
        head.push_str("connection: close\r\n");
    }
    head.push_str("\r\n");
    writer.write_all(head.as_bytes())?;
    writer.write_all(&body)?;
    writer.flush()?;
    Ok(true)
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        other => reason(other),
    }
}

/// `google.rpc.Status`, the body of an OTLP/HTTP error answer (not an OTLP message, so not in
/// `opentelemetry-proto`).
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// The answer's content type and body: an empty `Export*ServiceResponse` for a success, a
/// `google.rpc.Status` otherwise, in the request's encoding.
fn reply_body(
    signal: Signal,
    status: u16,
    encoding: Option<Encoding>,
    error: Option<String>,
) -> (&'static str, Vec<u8>) {
    if status == 200 {
        return match encoding {
            Some(Encoding::Json) => ("application/json", b"{}".to_vec()),
            _ => ("application/x-protobuf", empty_response(signal)),
        };
    }
    let message = error.unwrap_or_else(|| format!("otlp-receiver: status {status}"));
    // gRPC codes: 3 INVALID_ARGUMENT, 5 NOT_FOUND, 8 RESOURCE_EXHAUSTED, 12 UNIMPLEMENTED,
    // 14 UNAVAILABLE, 2 UNKNOWN.
    let code = match status {
        400 | 415 => 3,
        404 => 5,
        413 | 429 => 8,
        405 => 12,
        502..=504 => 14,
        _ => 2,
    };
    match encoding {
        Some(Encoding::Json) => (
            "application/json",
            serde_json::json!({"code": code, "message": message})
                .to_string()
                .into_bytes(),
        ),
        Some(Encoding::Protobuf) => (
            "application/x-protobuf",
            RpcStatus { code, message }.encode_to_vec(),
        ),
        None => ("text/plain; charset=utf-8", message.into_bytes()),
    }
}

/// The empty `Export*ServiceResponse` of the signal, protobuf-encoded (zero bytes, but written
/// with the official types so it stays right).
fn empty_response(signal: Signal) -> Vec<u8> {
    match signal {
        Signal::Metrics => ExportMetricsServiceResponse::default().encode_to_vec(),
        Signal::Traces => ExportTraceServiceResponse::default().encode_to_vec(),
        Signal::Logs => ExportLogsServiceResponse::default().encode_to_vec(),
        Signal::Other => Vec::new(),
    }
}

fn signal_of(target: &str) -> Signal {
    let path = path_only(target);
    let path = path.strip_suffix('/').unwrap_or(path);
    if path.ends_with("/v1/metrics") {
        Signal::Metrics
    } else if path.ends_with("/v1/traces") {
        Signal::Traces
    } else if path.ends_with("/v1/logs") {
        Signal::Logs
    } else {
        Signal::Other
    }
}

/// The body encoding `content-type` names: `Ok(None)` when there is none, `Err` when it is
/// neither protobuf nor JSON.
fn encoding_of(head: &Head) -> Result<Option<Encoding>, String> {
    let Some(raw) = head.header("content-type") else {
        return Ok(None);
    };
    let media = raw
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match media.as_str() {
        "application/x-protobuf" | "application/protobuf" | "application/vnd.google.protobuf" => {
            Ok(Some(Encoding::Protobuf))
        }
        "application/json" => Ok(Some(Encoding::Json)),
        _ if media.ends_with("+json") => Ok(Some(Encoding::Json)),
        _ => Err(format!(
            "unsupported content-type {raw:?} (expected application/x-protobuf or application/json)"
        )),
    }
}

/// Decide how [`Mode::Ok`] answers a request, decoding its body.
fn examine(head: &Head, body: &[u8]) -> Examined {
    let signal = signal_of(&head.path);
    let fail = |status: u16, error: String, encoding: Option<Encoding>| Examined {
        status,
        decoded: None,
        error: Some(error),
        encoding,
    };
    if signal == Signal::Other {
        return Examined {
            status: 404,
            decoded: None,
            error: None,
            encoding: encoding_of(head).ok().flatten(),
        };
    }
    let encoding = match encoding_of(head) {
        // OTLP/HTTP requires a content type; without one, try protobuf.
        Ok(encoding) => encoding.unwrap_or(Encoding::Protobuf),
        Err(error) => return fail(415, error, None),
    };
    if !head.method.eq_ignore_ascii_case("POST") {
        return Examined {
            status: 405,
            decoded: None,
            error: None,
            encoding: Some(encoding),
        };
    }
    let body = match gunzip_if_needed(head, body) {
        Ok(body) => body,
        Err((status, error)) => return fail(status, error, Some(encoding)),
    };
    match decode(signal, encoding, &body) {
        Ok(decoded) => Examined {
            status: 200,
            decoded: Some(decoded),
            error: None,
            encoding: Some(encoding),
        },
        Err(error) => fail(400, error, Some(encoding)),
    }
}

/// The body with its `content-encoding` undone: gzip (pure-Rust inflate) or identity; any
/// other encoding is a `415`, a broken or oversized gzip stream a `400` / `413`.
fn gunzip_if_needed<'a>(
    head: &Head,
    body: &'a [u8],
) -> Result<std::borrow::Cow<'a, [u8]>, (u16, String)> {
    let coding = head
        .header("content-encoding")
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match coding.as_str() {
        "" | "identity" => Ok(std::borrow::Cow::Borrowed(body)),
        "gzip" | "x-gzip" => {
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(body)
                .take(MAX_BODY as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|err| (400, format!("bad gzip body: {err}")))?;
            if out.len() > MAX_BODY {
                return Err((413, format!("gzip body inflates past {MAX_BODY} bytes")));
            }
            Ok(std::borrow::Cow::Owned(out))
        }
        _ => Err((
            415,
            format!("unsupported content-encoding {coding:?} (gzip and identity are)"),
        )),
    }
}

fn decode(signal: Signal, encoding: Encoding, body: &[u8]) -> Result<Decoded, String> {
    Ok(match signal {
        Signal::Metrics => {
            let request = match encoding {
                Encoding::Protobuf => parse_protobuf(body)?,
                Encoding::Json => {
                    let json = parse_json(body)?;
                    let mut request = from_json(&json)?;
                    repair_metrics(&json, &mut request)?;
                    request
                }
            };
            Decoded::Metrics(flatten_metrics(&request))
        }
        Signal::Traces => Decoded::Spans(flatten_spans(&parse(encoding, body)?)),
        Signal::Logs => Decoded::Logs(flatten_logs(&parse(encoding, body)?)),
        Signal::Other => return Err("not an OTLP export path".into()),
    })
}

/// Decode an export request with the official types: prost for protobuf, their serde mapping
/// for JSON (after [`normalize_json`]).
fn parse<M: Message + Default + DeserializeOwned>(
    encoding: Encoding,
    body: &[u8],
) -> Result<M, String> {
    match encoding {
        Encoding::Protobuf => parse_protobuf(body),
        Encoding::Json => from_json(&parse_json(body)?),
    }
}

fn parse_protobuf<M: Message + Default>(body: &[u8]) -> Result<M, String> {
    M::decode(body).map_err(|err| format!("bad protobuf body: {err}"))
}

/// The body as JSON, normalized ([`normalize_json`]).
fn parse_json(body: &[u8]) -> Result<Value, String> {
    let mut value: Value =
        serde_json::from_slice(body).map_err(|err| format!("bad JSON body: {err}"))?;
    if !value.is_object() {
        return Err("bad JSON body: not an object".into());
    }
    normalize_json(&mut value);
    Ok(value)
}

fn from_json<M: DeserializeOwned>(json: &Value) -> Result<M, String> {
    M::deserialize(json).map_err(|err| format!("bad OTLP/JSON body: {err}"))
}

/// Smooth over what the OTLP/JSON mapping allows but `opentelemetry-proto`'s serde derive
/// refuses, in place:
///
/// - `null` means "default" in protobuf JSON: such fields are dropped (serde refuses `null` for
///   lists, strings and numbers);
/// - `snake_case` field names (accepted by protobuf JSON parsers and the Collector, though OTLP
///   asks for lowerCamelCase) are renamed: the derive would silently ignore them;
/// - `arrayValue` / `kvlistValue` without `values` (an empty list, omitted) get `"values": []`,
///   and a `KeyValue` without `key` gets `""` (those structs have no serde default);
/// - enum fields given by name (`"SPAN_KIND_SERVER"`), which protobuf JSON parsers accept, become
///   their numbers (OTLP/JSON senders must send numbers, the derive only takes numbers);
/// - doubles given as strings (`"1.5"`, allowed by protobuf JSON, refused by the derive) in
///   `doubleValue` and `asDouble` become numbers; an attribute's non-finite `doubleValue`
///   (`"NaN"`, `"Infinity"`, `"-Infinity"`, which JSON numbers cannot hold) becomes a
///   `stringValue` rendered as the double would be (`NaN`, `inf`, `-inf`); a non-finite
///   `asDouble` is left to [`repair_metrics`].
///
/// Everything else (hex ids, 64-bit integers as strings or numbers, unknown fields) the derive
/// handles as OTLP/JSON says.
fn normalize_json(value: &mut Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(normalize_json),
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            let snake: Vec<String> = map.keys().filter(|k| k.contains('_')).cloned().collect();
            for key in snake {
                let camel = lower_camel(&key);
                if !map.contains_key(&camel)
                    && let Some(field) = map.remove(&key)
                {
                    map.insert(camel, field);
                }
            }
            for (key, field) in map.iter_mut() {
                if let Value::String(name) = field
                    && let Some(number) = enum_number(key, name)
                {
                    *field = Value::from(number);
                }
            }
            for key in ["arrayValue", "kvlistValue"] {
                if let Some(Value::Object(inner)) = map.get_mut(key) {
                    inner
                        .entry("values")
                        .or_insert_with(|| Value::Array(Vec::new()));
                }
            }
            if map.contains_key("value") && !map.contains_key("key") {
                map.insert("key".into(), Value::String(String::new()));
            }
            for key in ["doubleValue", "asDouble"] {
                let Some(field) = map.get_mut(key) else {
                    continue;
                };
                match double_string(field) {
                    Some(double) if double.is_finite() => *field = Value::from(double),
                    Some(double) if key == "doubleValue" => {
                        map.remove(key);
                        map.insert("stringValue".into(), Value::String(double.to_string()));
                    }
                    // A non-finite `asDouble` is restored by `repair_metrics`.
                    _ => {}
                }
            }
            map.values_mut().for_each(normalize_json);
        }
        _ => {}
    }
}

/// `start_time_unix_nano` → `startTimeUnixNano`.
fn lower_camel(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = !out.is_empty();
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A double given as a string, as protobuf JSON allows: `"1.5"`, or the non-finite `"NaN"`,
/// `"Infinity"`, `"-Infinity"`.
fn double_string(value: &Value) -> Option<f64> {
    match value.as_str()? {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        other => other.trim().parse::<f64>().ok().filter(|d| d.is_finite()),
    }
}

/// `opentelemetry-proto` maps the metric and point oneofs with `#[serde(flatten)]` on an
/// `Option`, and serde turns any error inside such a field into `None`: a metric whose `sum`
/// (or `gauge`, …) does not decode, or a point whose `asInt` / `asDouble` does not, would vanish
/// silently. Walk the JSON beside what was decoded: report those errors (decoding the part
/// alone gives serde's message), and keep the non-finite `asDouble` values (`"NaN"`,
/// `"Infinity"`, `"-Infinity"`) the derive refuses.
fn repair_metrics(json: &Value, request: &mut ExportMetricsServiceRequest) -> Result<(), String> {
    let items = |value: &Value, key: &str| -> Vec<Value> {
        value
            .get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    for (resource_json, resource) in items(json, "resourceMetrics")
        .iter()
        .zip(&mut request.resource_metrics)
    {
        for (scope_json, scope) in items(resource_json, "scopeMetrics")
            .iter()
            .zip(&mut resource.scope_metrics)
        {
            for (metric_json, metric) in items(scope_json, "metrics").iter().zip(&mut scope.metrics)
            {
                let context =
                    |err: String| format!("bad OTLP/JSON body: metric {:?}: {err}", metric.name);
                let data_key = [
                    "gauge",
                    "sum",
                    "histogram",
                    "exponentialHistogram",
                    "summary",
                ]
                .into_iter()
                .find(|key| metric_json.get(key).is_some());
                let Some(data_key) = data_key else { continue };
                if metric.data.is_none() {
                    let err = match metric::Data::deserialize(&Value::Object(
                        [(data_key.to_string(), metric_json[data_key].clone())]
                            .into_iter()
                            .collect(),
                    )) {
                        Err(err) => err.to_string(),
                        Ok(_) => "does not decode".into(),
                    };
                    return Err(context(format!("{data_key}: {err}")));
                }
                let points = match &mut metric.data {
                    Some(metric::Data::Gauge(gauge)) => &mut gauge.data_points,
                    Some(metric::Data::Sum(sum)) => &mut sum.data_points,
                    _ => continue,
                };
                for (point_json, point) in items(&metric_json[data_key], "dataPoints")
                    .iter()
                    .zip(points)
                {
                    if point.value.is_some() {
                        continue;
                    }
                    if let Some(double) = point_json.get("asDouble").and_then(double_string) {
                        point.value = Some(number_data_point::Value::AsDouble(double));
                        continue;
                    }
                    for key in ["asDouble", "asInt"] {
                        if let Some(raw) = point_json.get(key) {
                            let alone = Value::Object(
                                [(key.to_string(), raw.clone())].into_iter().collect(),
                            );
                            let err = match number_data_point::Value::deserialize(&alone) {
                                Err(err) => err.to_string(),
                                Ok(_) => "does not decode".into(),
                            };
                            return Err(context(format!("{key}: {err}")));
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// The number of an OTLP enum value given by name, for the fields that hold enums.
fn enum_number(field: &str, name: &str) -> Option<i32> {
    match field {
        "kind" => span::SpanKind::from_str_name(name).map(|k| k as i32),
        "code" => status::StatusCode::from_str_name(name).map(|c| c as i32),
        "aggregationTemporality" => AggregationTemporality::from_str_name(name).map(|t| t as i32),
        "severityNumber" => SeverityNumber::from_str_name(name).map(|s| s as i32),
        _ => None,
    }
}

fn flatten_metrics(request: &ExportMetricsServiceRequest) -> Vec<MetricPoint> {
    let mut out = Vec::new();
    for resource_metrics in &request.resource_metrics {
        let resource = resource_attrs(resource_metrics.resource.as_ref());
        for scope_metrics in &resource_metrics.scope_metrics {
            let scope = scope_name(scope_metrics.scope.as_ref());
            for metric in &scope_metrics.metrics {
                let point =
                    |kind: Kind, attributes: &[KeyValue], start: u64, time: u64| MetricPoint {
                        resource: resource.clone(),
                        scope: scope.clone(),
                        name: metric.name.clone(),
                        unit: metric.unit.clone(),
                        kind,
                        attrs: attrs(attributes),
                        value: 0.0,
                        count: 0,
                        bucket_counts: Vec::new(),
                        bounds: Vec::new(),
                        start_unix_nano: start,
                        time_unix_nano: time,
                    };
                let number = |kind: Kind, p: &NumberDataPoint| MetricPoint {
                    value: match p.value {
                        Some(number_data_point::Value::AsDouble(v)) => v,
                        Some(number_data_point::Value::AsInt(v)) => v as f64,
                        None => 0.0,
                    },
                    ..point(
                        kind,
                        &p.attributes,
                        p.start_time_unix_nano,
                        p.time_unix_nano,
                    )
                };
                match &metric.data {
                    Some(metric::Data::Sum(sum)) => {
                        let kind = Kind::Sum {
                            monotonic: sum.is_monotonic,
                            temporality: temporality(sum.aggregation_temporality),
                        };
                        out.extend(sum.data_points.iter().map(|p| number(kind, p)));
                    }
                    Some(metric::Data::Gauge(gauge)) => {
                        out.extend(gauge.data_points.iter().map(|p| number(Kind::Gauge, p)));
                    }
                    Some(metric::Data::Histogram(histogram)) => {
                        let kind = Kind::Histogram {
                            temporality: temporality(histogram.aggregation_temporality),
                        };
                        out.extend(histogram.data_points.iter().map(|p| MetricPoint {
                            value: p.sum.unwrap_or(0.0),
                            count: p.count,
                            bucket_counts: p.bucket_counts.clone(),
                            bounds: p.explicit_bounds.clone(),
                            ..point(
                                kind,
                                &p.attributes,
                                p.start_time_unix_nano,
                                p.time_unix_nano,
                            )
                        }));
                    }
                    Some(metric::Data::ExponentialHistogram(histogram)) => {
                        out.extend(histogram.data_points.iter().map(|p| MetricPoint {
                            value: p.sum.unwrap_or(0.0),
                            count: p.count,
                            ..point(
                                Kind::Other,
                                &p.attributes,
                                p.start_time_unix_nano,
                                p.time_unix_nano,
                            )
                        }));
                    }
                    Some(metric::Data::Summary(summary)) => {
                        out.extend(summary.data_points.iter().map(|p| MetricPoint {
                            value: p.sum,
                            count: p.count,
                            ..point(
                                Kind::Other,
                                &p.attributes,
                                p.start_time_unix_nano,
                                p.time_unix_nano,
                            )
                        }));
                    }
                    None => {}
                }
            }
        }
    }
    out
}

fn flatten_spans(request: &ExportTraceServiceRequest) -> Vec<SpanRecord> {
    let mut out = Vec::new();
    for resource_spans in &request.resource_spans {
        let resource = resource_attrs(resource_spans.resource.as_ref());
        for scope_spans in &resource_spans.scope_spans {
            let scope = scope_name(scope_spans.scope.as_ref());
            out.extend(scope_spans.spans.iter().map(|span| {
                SpanRecord {
                    resource: resource.clone(),
                    scope: scope.clone(),
                    name: span.name.clone(),
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    kind: span.kind,
                    attrs: attrs(&span.attributes),
                    status_code: span.status.as_ref().map_or(0, |s| s.code),
                    status_message: span
                        .status
                        .as_ref()
                        .map(|s| s.message.clone())
                        .unwrap_or_default(),
                    start_unix_nano: span.start_time_unix_nano,
                    end_unix_nano: span.end_time_unix_nano,
                }
            }));
        }
    }
    out
}

fn flatten_logs(request: &ExportLogsServiceRequest) -> Vec<LogRecordRec> {
    let mut out = Vec::new();
    for resource_logs in &request.resource_logs {
        let resource = resource_attrs(resource_logs.resource.as_ref());
        for scope_logs in &resource_logs.scope_logs {
            let scope = scope_name(scope_logs.scope.as_ref());
            out.extend(scope_logs.log_records.iter().map(|record| LogRecordRec {
                resource: resource.clone(),
                scope: scope.clone(),
                body: render_any_value(record.body.as_ref()),
                attrs: attrs(&record.attributes),
                trace_id: hex(&record.trace_id),
                span_id: hex(&record.span_id),
                event_name: record.event_name.clone(),
                severity_number: record.severity_number,
                severity_text: record.severity_text.clone(),
                time_unix_nano: record.time_unix_nano,
                observed_time_unix_nano: record.observed_time_unix_nano,
            }));
        }
    }
    out
}

fn temporality(raw: i32) -> Temporality {
    match AggregationTemporality::try_from(raw) {
        Ok(AggregationTemporality::Delta) => Temporality::Delta,
        Ok(AggregationTemporality::Cumulative) => Temporality::Cumulative,
        _ => Temporality::Unspecified,
    }
}

fn resource_attrs(resource: Option<&Resource>) -> BTreeMap<String, String> {
    resource.map(|r| attrs(&r.attributes)).unwrap_or_default()
}

fn scope_name(scope: Option<&InstrumentationScope>) -> String {
    scope.map(|s| s.name.clone()).unwrap_or_default()
}

/// Attributes as `key → rendered value` (a repeated key keeps its last value).
fn attrs(attributes: &[KeyValue]) -> BTreeMap<String, String> {
    attributes
        .iter()
        .map(|kv| (kv.key.clone(), render_any_value(kv.value.as_ref())))
        .collect()
}

/// An attribute value or log body as text: a string as is, a bool `true`/`false`, an int in
/// decimal, a double with `{}` (`1.5`, `3`), bytes in lowercase hex, an array or key-value list
/// as compact JSON (`["a",1]`, `{"k":"v"}`, keys sorted), an empty value as `""`.
pub fn render_any_value(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        None => String::new(),
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BytesValue(bytes)) => hex(bytes),
        Some(any_value::Value::StringValueStrindex(index)) => index.to_string(),
        Some(other @ (any_value::Value::ArrayValue(_) | any_value::Value::KvlistValue(_))) => {
            any_value_json(Some(other)).to_string()
        }
    }
}

fn any_value_json(value: Option<&any_value::Value>) -> Value {
    match value {
        None => Value::Null,
        Some(any_value::Value::StringValue(s)) => Value::String(s.clone()),
        Some(any_value::Value::BoolValue(b)) => Value::Bool(*b),
        Some(any_value::Value::IntValue(i)) => Value::from(*i),
        Some(any_value::Value::DoubleValue(d)) => serde_json::Number::from_f64(*d)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(d.to_string())),
        Some(any_value::Value::BytesValue(bytes)) => Value::String(hex(bytes)),
        Some(any_value::Value::StringValueStrindex(index)) => Value::from(*index),
        Some(any_value::Value::ArrayValue(array)) => Value::Array(
            array
                .values
                .iter()
                .map(|v| any_value_json(v.value.as_ref()))
                .collect(),
        ),
        Some(any_value::Value::KvlistValue(list)) => Value::Object(
            list.values
                .iter()
                .map(|kv| {
                    (
                        kv.key.clone(),
                        any_value_json(kv.value.as_ref().and_then(|v| v.value.as_ref())),
                    )
                })
                .collect(),
        ),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

#[cfg(test)]
mod tests;
