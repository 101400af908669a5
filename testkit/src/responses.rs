//! A mock OpenAI Responses API that the real `codex exec` accepts.
//!
//! offload has to be tested against the real Codex CLI, and the real CLI only talks to a model
//! server. This one listens on 127.0.0.1 (an OS-chosen port), speaks just enough HTTP/1.1 by hand
//! on `std::net` for `codex` (one thread per connection, one request per connection, every reply
//! `connection: close`), and answers each `POST …/responses` with the next [`Reply`] of a script:
//! a streamed answer, a tool call, an HTTP error, or silence. Every request is recorded so a test
//! can check what codex sent (for instance the `function_call_output` after a tool call).
//!
//! The shapes are the ones codex 0.169.0 was seen to accept (PROTOCOLS.md §5 and the fixtures in
//! `shared/tests/fixtures/codex/`): a stream is `response.created`, one
//! `response.output_item.done` per output item, then `response.completed` carrying the usage.
//! Rate limits travel as `x-codex-*` response headers, which codex copies into its rollout file.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::io::{self, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use crate::http::RecordedRequest;
use crate::http::{path_only, push_headers, read_request, write_json};

use serde::Serialize;
use serde_json::{Value, json};

/// Token figures a streamed reply reports in `response.completed`.
///
/// codex passes them through unchanged to `turn.completed` (`input_tokens`,
/// `cached_input_tokens`, `output_tokens`, `reasoning_output_tokens`); the total it sends on is
/// `input + output`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub input: u64,
    pub cached: u64,
    pub output: u64,
    pub reasoning: u64,
}

impl Default for Usage {
    /// Small non-zero figures, so a test that forgets to set them still sees numbers flow through.
    fn default() -> Self {
        Usage {
            input: 100,
            cached: 0,
            output: 10,
            reasoning: 0,
        }
    }
}

/// The `x-codex-*` rate-limit headers the real service sends with every response.
///
/// codex 0.169.0 writes them to the rollout's `token_count` event as
/// `rate_limits: {limit_id: "codex", primary: {used_percent, window_minutes, resets_at}, secondary: …}`.
/// `*_reset_at` are epoch seconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RateHeaders {
    pub primary_used: f64,
    pub primary_window_minutes: u64,
    pub primary_reset_at: i64,
    pub secondary_used: f64,
    pub secondary_window_minutes: u64,
    pub secondary_reset_at: i64,
}

impl RateHeaders {
    /// The usual windows (5 h = 300 min primary, weekly = 10080 min secondary) with the given
    /// used percentages, resetting in 2 hours and in 3 days from now.
    pub fn used(primary_used: f64, secondary_used: f64) -> Self {
        let now = now_epoch();
        RateHeaders {
            primary_used,
            primary_window_minutes: 300,
            primary_reset_at: now + 2 * 3600,
            secondary_used,
            secondary_window_minutes: 10080,
            secondary_reset_at: now + 3 * 86400,
        }
    }

    /// The headers as sent, lowercase names.
    pub fn headers(&self) -> Vec<(String, String)> {
        [
            (
                "x-codex-primary-used-percent",
                self.primary_used.to_string(),
            ),
            (
                "x-codex-primary-window-minutes",
                self.primary_window_minutes.to_string(),
            ),
            (
                "x-codex-primary-reset-at",
                self.primary_reset_at.to_string(),
            ),
            (
                "x-codex-secondary-used-percent",
                self.secondary_used.to_string(),
            ),
            (
                "x-codex-secondary-window-minutes",
                self.secondary_window_minutes.to_string(),
            ),
            (
                "x-codex-secondary-reset-at",
                self.secondary_reset_at.to_string(),
            ),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect()
    }
}

/// One answer to one `POST …/responses`.
///
/// Build it with the constructors and refine it with [`Reply::usage`], [`Reply::rate_limits`] and
/// [`Reply::header`].
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// `200`, `content-type: text/event-stream`: `response.created`, one
    /// `response.output_item.done` per item, then `response.completed` with `usage` unless
    /// `completed` is false (codex then fails the turn). The body ends when the server closes
    /// the connection.
    Stream {
        items: Vec<Value>,
        usage: Usage,
        completed: bool,
        headers: Vec<(String, String)>,
    },
    /// An HTTP error (or any status) with a JSON body.
    Status {
        code: u16,
        body: Value,
        headers: Vec<(String, String)>,
    },
    /// Read the request and never answer, until the server is dropped.
    HangBeforeHeaders,
    /// Send `200` and the SSE headers, then nothing, until the server is dropped.
    HangAfterHeaders { headers: Vec<(String, String)> },
    /// Read the request, wait this long (or until the server is dropped), then answer with the
    /// inner reply: a model that takes its time.
    Delayed { after: Duration, reply: Box<Reply> },
}

impl Reply {
    /// An assistant message, then `response.completed` with [`Usage::default`].
    pub fn message(text: impl Into<String>) -> Self {
        Reply::output(vec![message_item(&text.into())])
    }

    /// A `function_call` output item (such as `exec_command` with `{"cmd": "echo hi"}`), then
    /// `response.completed`. codex runs the tool and POSTs again with a `function_call_output`;
    /// the next reply of the script answers that. `arguments` is the JSON text of the arguments:
    /// a `serde_json::Value` or a `&str` both work.
    pub fn tool_call(
        name: impl Into<String>,
        call_id: impl Into<String>,
        arguments: impl fmt::Display,
    ) -> Self {
        Reply::output(vec![json!({
            "type": "function_call",
            "id": next_id("fc"),
            "name": name.into(),
            "call_id": call_id.into(),
            "arguments": arguments.to_string(),
        })])
    }

    /// Any output items (raw Responses API JSON), then `response.completed`.
    pub fn output(items: Vec<Value>) -> Self {
        Reply::Stream {
            items,
            usage: Usage::default(),
            completed: true,
            headers: Vec::new(),
        }
    }

    /// An assistant message but no `response.completed`: the stream just ends.
    pub fn incomplete(text: impl Into<String>) -> Self {
        Reply::Stream {
            items: vec![message_item(&text.into())],
            usage: Usage::default(),
            completed: false,
            headers: Vec::new(),
        }
    }

    /// An HTTP status with a JSON body, e.g. `Reply::status(500, json!({"error": {…}}))`.
    pub fn status(code: u16, body: Value) -> Self {
        Reply::Status {
            code,
            body,
            headers: Vec::new(),
        }
    }

    /// `429` with the body codex 0.169.0 turns into "You've hit your usage limit. … try again at
    /// …" (`{"error":{"type":"usage_limit_reached","message":…,"plan_type":"plus","resets_at":…}}`).
    /// `resets_at` is epoch seconds.
    pub fn usage_limit(resets_at: i64) -> Self {
        Reply::status(429, usage_limit_body(resets_at))
    }

    /// Read the request, never answer.
    pub fn hang_before_headers() -> Self {
        Reply::HangBeforeHeaders
    }

    /// Send `200` and the SSE headers, then nothing.
    pub fn hang_after_headers() -> Self {
        Reply::HangAfterHeaders {
            headers: Vec::new(),
        }
    }

    /// This reply, sent only after `after` (a slow model).
    pub fn after(self, after: Duration) -> Self {
        Reply::Delayed {
            after,
            reply: Box::new(self),
        }
    }

    /// The token figures for `response.completed` (streams only; ignored otherwise).
    pub fn usage(mut self, figures: Usage) -> Self {
        match &mut self {
            Reply::Stream { usage, .. } => *usage = figures,
            Reply::Delayed { reply, .. } => {
                let inner = std::mem::replace(reply.as_mut(), Reply::HangBeforeHeaders);
                **reply = inner.usage(figures);
            }
            _ => {}
        }
        self
    }

    /// Send the `x-codex-*` rate-limit headers with this reply.
    pub fn rate_limits(mut self, limits: RateHeaders) -> Self {
        if let Some(headers) = self.headers_mut() {
            headers.extend(limits.headers());
        }
        self
    }

    /// Send one more response header with this reply (ignored by the hang-before-headers reply).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        if let Some(headers) = self.headers_mut() {
            headers.push((name.into().to_ascii_lowercase(), value.into()));
        }
        self
    }

    fn headers_mut(&mut self) -> Option<&mut Vec<(String, String)>> {
        match self {
            Reply::Stream { headers, .. }
            | Reply::Status { headers, .. }
            | Reply::HangAfterHeaders { headers } => Some(headers),
            Reply::HangBeforeHeaders => None,
            Reply::Delayed { reply, .. } => reply.headers_mut(),
        }
    }
}

/// The 429 body codex 0.169.0 recognises as the usage limit (see [`Reply::usage_limit`]).
pub fn usage_limit_body(resets_at: i64) -> Value {
    json!({
        "error": {
            "type": "usage_limit_reached",
            "message": "The usage limit has been reached",
            "plan_type": "plus",
            "resets_at": resets_at,
        }
    })
}

impl RecordedRequest {
    /// Whether this is a model turn (`POST …/responses`), the only requests that use the script.
    pub fn is_responses(&self) -> bool {
        self.method == "POST" && path_only(&self.path).ends_with("/responses")
    }
}

/// A port on 127.0.0.1 where nothing listens (connecting is refused), for "server down" tests.
///
/// The OS could hand the port to someone else afterwards; on a test machine that is rare.
pub fn refused_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("bind 127.0.0.1:0")
}

/// The running mock server. Dropping it stops it: no more connections are accepted, hung and
/// open connections are closed, and its threads are joined.
pub struct MockResponses {
    shared: Arc<Shared>,
    addr: SocketAddr,
    acceptor: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    stopped: Condvar,
}

struct State {
    script: VecDeque<Reply>,
    default: Reply,
    requests: Vec<RecordedRequest>,
    /// A clone of every open connection, to close them on drop.
    open: BTreeMap<u64, TcpStream>,
    workers: Vec<JoinHandle<()>>,
    next_connection: u64,
    next_response: u64,
    stopped: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl MockResponses {
    /// Start with an empty script; every turn gets `Reply::message("ok")`.
    pub fn start() -> io::Result<Self> {
        Self::with_script(Vec::new())
    }

    /// Start with these replies, used in order, one per `POST …/responses`; after them, the
    /// default reply (`Reply::message("ok")` unless changed by [`MockResponses::set_default`]).
    pub fn with_script(replies: Vec<Reply>) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                script: replies.into(),
                default: Reply::message("ok"),
                requests: Vec::new(),
                open: BTreeMap::new(),
                workers: Vec::new(),
                next_connection: 0,
                next_response: 0,
                stopped: false,
            }),
            stopped: Condvar::new(),
        });
        let accepting = Arc::clone(&shared);
        let acceptor = thread::Builder::new()
            .name("mock-responses-accept".into())
            .spawn(move || accept_loop(&accepting, &listener))?;
        Ok(MockResponses {
            shared,
            addr,
            acceptor: Some(acceptor),
        })
    }

    /// Append a reply to the script.
    pub fn push(&self, reply: Reply) {
        self.shared.lock().script.push_back(reply);
    }

    /// The reply used once the script is exhausted.
    pub fn set_default(&self, reply: Reply) {
        self.shared.lock().default = reply;
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT/v1`, the provider `base_url` for codex.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port())
    }

    /// Every request received so far, in arrival order (recorded before it is answered).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Only the model turns (`POST …/responses`).
    pub fn responses_requests(&self) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(RecordedRequest::is_responses)
            .collect()
    }

    /// How many scripted replies are still unused.
    pub fn remaining(&self) -> usize {
        self.shared.lock().script.len()
    }
}

impl Drop for MockResponses {
    fn drop(&mut self) {
        {
            let mut state = self.shared.lock();
            state.stopped = true;
            for stream in state.open.values() {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
        self.shared.stopped.notify_all();
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
            .name(format!("mock-responses-conn-{id}"))
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

/// Answer one request on one connection, then close it.
fn serve(shared: &Shared, mut stream: TcpStream) -> io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let Some(request) = read_request(&mut reader)? else {
        return Ok(());
    };
    let (mut reply, response_id) = {
        let mut state = shared.lock();
        let reply = if request.is_responses() {
            state.next_response += 1;
            let scripted = state.script.pop_front();
            Some(scripted.unwrap_or_else(|| state.default.clone()))
        } else {
            None
        };
        state.requests.push(request.clone());
        (reply, format!("resp_mock_{}", state.next_response))
    };
    while let Some(Reply::Delayed {
        after,
        reply: inner,
    }) = reply
    {
        if !wait_until_stopped_or(shared, after) {
            return Ok(());
        }
        reply = Some(*inner);
    }
    match reply {
        None => {
            let body = json!({"error": {"message": format!("mock-responses: no route for {} {}", request.method, request.path), "type": "not_found"}});
            write_json(&mut stream, 404, &body, &[])?;
        }
        Some(Reply::Status {
            code,
            body,
            headers,
        }) => write_json(&mut stream, code, &body, &headers)?,
        Some(Reply::Stream {
            items,
            usage,
            completed,
            headers,
        }) => {
            write_sse_head(&mut stream, &headers)?;
            let mut events = vec![json!({
                "type": "response.created",
                "response": {"id": response_id},
            })];
            for (index, item) in items.into_iter().enumerate() {
                events.push(json!({
                    "type": "response.output_item.done",
                    "output_index": index,
                    "item": item,
                }));
            }
            if completed {
                events.push(json!({
                    "type": "response.completed",
                    "response": {
                        "id": response_id,
                        "usage": {
                            "input_tokens": usage.input,
                            "input_tokens_details": {"cached_tokens": usage.cached},
                            "output_tokens": usage.output,
                            "output_tokens_details": {"reasoning_tokens": usage.reasoning},
                            "total_tokens": usage.input + usage.output,
                        },
                    },
                }));
            }
            let mut body = String::new();
            for event in events {
                let kind = event["type"].as_str().unwrap_or_default().to_string();
                body.push_str(&format!("event: {kind}\ndata: {event}\n\n"));
            }
            stream.write_all(body.as_bytes())?;
            stream.flush()?;
        }
        Some(Reply::HangBeforeHeaders) => wait_until_stopped(shared),
        Some(Reply::Delayed { .. }) => unreachable!("unwrapped above"),
        Some(Reply::HangAfterHeaders { headers }) => {
            write_sse_head(&mut stream, &headers)?;
            wait_until_stopped(shared);
        }
    }
    let _ = stream.shutdown(Shutdown::Write);
    Ok(())
}

fn wait_until_stopped(shared: &Shared) {
    let mut state = shared.lock();
    while !state.stopped {
        state = shared
            .stopped
            .wait(state)
            .unwrap_or_else(PoisonError::into_inner);
    }
}

/// Wait `after`; false when the server was dropped first.
fn wait_until_stopped_or(shared: &Shared, after: Duration) -> bool {
    let deadline = std::time::Instant::now() + after;
    let mut state = shared.lock();
    while !state.stopped {
        let now = std::time::Instant::now();
        if now >= deadline {
            return true;
        }
        state = shared
            .stopped
            .wait_timeout(state, deadline - now)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
    false
}

fn write_sse_head(stream: &mut TcpStream, extra: &[(String, String)]) -> io::Result<()> {
    let mut head = String::from(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n",
    );
    push_headers(&mut head, extra);
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.flush()
}

fn message_item(text: &str) -> Value {
    json!({
        "type": "message",
        "role": "assistant",
        "id": next_id("msg"),
        "status": "completed",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    })
}

fn next_id(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("{prefix}_mock_{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn now_epoch() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn post(port: u16, body: &str, chunked: bool) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let request = if chunked {
            format!(
                "POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
                body.len()
            )
        } else {
            format!(
                "POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
        };
        stream.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn scripted_replies_come_in_order_then_the_default() {
        let mock = MockResponses::with_script(vec![
            Reply::message("first").usage(Usage {
                input: 7,
                cached: 3,
                output: 2,
                reasoning: 1,
            }),
            Reply::usage_limit(1_800_000_000),
        ])
        .unwrap();
        let first = post(mock.port(), r#"{"model":"m"}"#, false);
        assert!(first.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(first.contains("content-type: text/event-stream"));
        assert!(first.contains(r#""text":"first""#));
        assert!(first.contains(r#""input_tokens":7"#));
        assert!(first.contains(r#""cached_tokens":3"#));
        assert!(first.contains(r#""total_tokens":9"#));
        let second = post(mock.port(), "{}", true);
        assert!(second.starts_with("HTTP/1.1 429 Too Many Requests\r\n"));
        assert!(second.contains("usage_limit_reached"));
        let third = post(mock.port(), "not json", false);
        assert!(third.contains(r#""text":"ok""#));

        let requests = mock.requests();
        assert_eq!(requests.len(), 3);
        assert_eq!(requests[0].body, json!({"model": "m"}));
        assert_eq!(requests[1].body, json!({}), "chunked body is decoded");
        assert_eq!(requests[2].body, Value::Null);
        assert_eq!(requests[2].raw_body, b"not json");
        assert_eq!(requests[0].header("content-length"), Some("13"));
    }

    #[test]
    fn rate_limit_headers_are_sent() {
        let mock = MockResponses::start().unwrap();
        mock.set_default(Reply::message("x").rate_limits(RateHeaders {
            primary_used: 42.5,
            primary_window_minutes: 300,
            primary_reset_at: 1_795_504_590,
            secondary_used: 13.0,
            secondary_window_minutes: 10080,
            secondary_reset_at: 1_795_587_390,
        }));
        let reply = post(mock.port(), "{}", false);
        assert!(reply.contains("x-codex-primary-used-percent: 42.5\r\n"));
        assert!(reply.contains("x-codex-secondary-window-minutes: 10080\r\n"));
        assert!(reply.contains("x-codex-secondary-reset-at: 1795587390\r\n"));
    }

    #[test]
    fn incomplete_has_no_completed_event_and_unknown_paths_get_404() {
        let mock = MockResponses::with_script(vec![Reply::incomplete("partial")]).unwrap();
        let reply = post(mock.port(), "{}", false);
        assert!(reply.contains("partial"));
        assert!(!reply.contains("response.completed"));

        let mut stream = TcpStream::connect(("127.0.0.1", mock.port())).unwrap();
        stream
            .write_all(b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).unwrap();
        assert!(out.starts_with("HTTP/1.1 404"));
        assert_eq!(mock.remaining(), 0);
        assert_eq!(mock.responses_requests().len(), 1);
    }

    #[test]
    fn drop_closes_hung_connections() {
        let mock = MockResponses::with_script(vec![
            Reply::hang_before_headers(),
            Reply::hang_after_headers(),
        ])
        .unwrap();
        let port = mock.port();
        let wait_for = |count: usize| {
            while mock.requests().len() < count {
                thread::sleep(Duration::from_millis(10));
            }
        };
        let before = thread::spawn(move || post(port, "{}", false));
        wait_for(1);
        let after = thread::spawn(move || post(port, "{}", false));
        wait_for(2);
        thread::sleep(Duration::from_millis(50));
        assert!(!before.is_finished() && !after.is_finished());
        drop(mock);
        assert_eq!(before.join().unwrap(), "");
        assert!(after.join().unwrap().starts_with("HTTP/1.1 200 OK"));
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    }

    #[test]
    fn a_delayed_reply_waits_then_answers_and_drop_ends_the_wait() {
        let mock = MockResponses::with_script(vec![
            Reply::message("late").after(Duration::from_millis(300)),
            Reply::message("never").after(Duration::from_secs(600)),
        ])
        .unwrap();
        let started = std::time::Instant::now();
        let reply = post(mock.port(), "{}", false);
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert!(reply.contains("late"), "{reply}");
        let port = mock.port();
        let waiting = thread::spawn(move || post(port, "{}", false));
        while mock.requests().len() < 2 {
            thread::sleep(Duration::from_millis(10));
        }
        let dropped = std::time::Instant::now();
        drop(mock);
        assert_eq!(waiting.join().unwrap(), "");
        assert!(dropped.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn refused_port_refuses() {
        let port = refused_port();
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    }
}
