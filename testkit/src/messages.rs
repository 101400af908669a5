//! A mock Anthropic Messages API that the real Claude Code accepts.
//!
//! offload's hook and statusline only mean something inside the real Claude Code, and Claude
//! Code only runs against a model server. This one listens on 127.0.0.1 (an OS-chosen port),
//! speaks just enough HTTP/1.1 by hand on `std::net` (one thread per connection, one request per
//! connection, every reply `connection: close`), and answers every `POST /v1/messages` in SSE.
//!
//! Claude Code sends two kinds of model requests (PROTOCOLS.md §2): turns of the conversation,
//! which carry a `tools` array, and side requests without one (session titles and the like;
//! 2.1.197 sends its title request with an empty `tools` array, so that counts as none).
//! Only turns consume the script of [`Step`]s, in order, so a test scripts exactly the
//! conversation it cares about; side requests get a short text. After the script every turn gets
//! `end_turn` with the text `done`. A tool call's result comes back in the next turn's request,
//! which is answered by the next step; [`MockMessages::tool_results`] collects those results.
//!
//! A subagent (the `Agent` tool) talks to the same server with its own turns. By default they
//! take steps from the same script, in the order they arrive; since a background agent runs
//! alongside the main conversation, that order is a race. [`MockMessages::script_for`] gives
//! the turns of one conversation their own script: a turn whose first user message contains a
//! marker (put it in the `Agent` call's `prompt`) takes its steps from there.

use std::collections::{BTreeMap, VecDeque};
use std::io::{self, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Duration;

pub use crate::http::RecordedRequest;
use crate::http::{path_only, read_request, write_json};

use serde::Serialize;
use serde_json::{Value, json};

/// Token figures each streamed reply reports (`message_start.message.usage` and
/// `message_delta.usage`). Claude Code adds them up into its cost and context figures, which the
/// statusline receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub input: u64,
    pub output: u64,
    pub cache_creation: u64,
    pub cache_read: u64,
}

impl Default for Usage {
    /// Small non-zero figures, so a test that forgets to set them still sees numbers flow through.
    fn default() -> Self {
        Usage {
            input: 100,
            output: 10,
            cache_creation: 0,
            cache_read: 0,
        }
    }
}

/// One tool call inside a [`Step::ToolUses`] message.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolCall {
    pub name: String,
    pub input: Value,
}

/// One answer to one turn (a `POST /v1/messages` that carries `tools`).
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// An assistant text, `stop_reason: end_turn`.
    Text(String),
    /// One `tool_use` block (id `toolu_mock…`, generated), `stop_reason: tool_use`. Claude Code
    /// runs the tool (hooks first) and sends the result in its next turn.
    ToolUse { name: String, input: Value },
    /// Several `tool_use` blocks in one assistant message (Claude Code runs them all and
    /// answers with all their results in one request).
    ToolUses(Vec<ToolCall>),
    /// An HTTP error with a JSON body instead of a stream. Claude Code (2.1.330) retries every
    /// error: a 400 five more times within half a second, after which `claude -p` exits 1 with
    /// the result `API Error: 400 <message>`; a 401, 500 or 529 with growing backoff (six
    /// requests in 20 s, still going). To test a retry, script one error and then a success;
    /// to test a failure, make the default a 400 ([`MockMessages::set_default`]).
    Status { code: u16, body: Value },
}

impl Step {
    /// [`Step::Text`].
    pub fn text(text: impl Into<String>) -> Self {
        Step::Text(text.into())
    }

    /// [`Step::ToolUse`], e.g. `Step::tool_use("Write", json!({"file_path": p, "content": "x"}))`.
    pub fn tool_use(name: impl Into<String>, input: Value) -> Self {
        Step::ToolUse {
            name: name.into(),
            input,
        }
    }

    /// [`Step::ToolUses`] from `(name, input)` pairs.
    pub fn tool_uses<N: Into<String>>(calls: Vec<(N, Value)>) -> Self {
        Step::ToolUses(
            calls
                .into_iter()
                .map(|(name, input)| ToolCall {
                    name: name.into(),
                    input,
                })
                .collect(),
        )
    }

    /// [`Step::Status`] with an Anthropic-style error body
    /// (`{"type":"error","error":{"type":…,"message":…}}`).
    pub fn status(code: u16, message: impl Into<String>) -> Self {
        let kind = match code {
            400 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            429 => "rate_limit_error",
            529 => "overloaded_error",
            _ => "api_error",
        };
        Step::Status {
            code,
            body: json!({"type": "error", "error": {"type": kind, "message": message.into()}}),
        }
    }
}

impl RecordedRequest {
    /// Whether this is a model request (`POST /v1/messages`, any query).
    pub fn is_messages(&self) -> bool {
        self.method == "POST" && path_only(&self.path) == "/v1/messages"
    }

    /// A model request without tools (no `tools` array, or an empty one, as 2.1.197's session
    /// title request sends): a side request, which never takes a step of the script.
    pub fn is_side(&self) -> bool {
        self.is_messages() && !self.has_tools()
    }

    /// A model request with a non-empty `tools` array: a turn, answered by the next step.
    pub fn is_turn(&self) -> bool {
        self.is_messages() && self.has_tools()
    }

    fn has_tools(&self) -> bool {
        self.body["tools"]
            .as_array()
            .is_some_and(|tools| !tools.is_empty())
    }

    /// The `system` prompt as one text (string, or the `text` of its blocks joined by newlines).
    pub fn system_text(&self) -> String {
        content_text(&self.body["system"])
    }

    /// The text of the first user message (the prompt that started this conversation, with
    /// any reminders Claude Code put beside it).
    pub fn first_user_text(&self) -> String {
        self.body["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|message| message["role"] == "user")
            .map(|message| content_text(&message["content"]))
            .unwrap_or_default()
    }

    /// The names of the tools offered in this request.
    pub fn tool_names(&self) -> Vec<String> {
        self.body["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|tool| tool["name"].as_str().map(str::to_string))
            .collect()
    }

    /// The `tool_result` blocks in this request's messages (the whole conversation so far).
    pub fn tool_results(&self) -> Vec<ToolResult> {
        let mut found = Vec::new();
        for message in self.body["messages"].as_array().into_iter().flatten() {
            if message["role"] != "user" {
                continue;
            }
            for block in message["content"].as_array().into_iter().flatten() {
                if block["type"] == "tool_result" {
                    found.push(ToolResult {
                        tool_use_id: block["tool_use_id"].as_str().unwrap_or_default().into(),
                        content: content_text(&block["content"]),
                        is_error: block["is_error"].as_bool().unwrap_or(false),
                    });
                }
            }
        }
        found
    }
}

/// A `tool_result` block Claude Code sent back after running (or refusing) a tool call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ToolResult {
    pub tool_use_id: String,
    /// The content as text: a string as is, the `text` of content blocks joined by newlines.
    pub content: String,
    pub is_error: bool,
}

/// The running mock server. Dropping it stops it: no more connections are accepted, open
/// connections are closed, and its threads are joined.
pub struct MockMessages {
    shared: Arc<Shared>,
    addr: SocketAddr,
    acceptor: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    stopped: Condvar,
}

struct State {
    script: VecDeque<Step>,
    /// Scripts for the turns whose first user message contains the marker (checked in order).
    routes: Vec<(String, VecDeque<Step>)>,
    default: Step,
    side_text: String,
    usage: Usage,
    requests: Vec<RecordedRequest>,
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
}

impl MockMessages {
    /// Start with an empty script: every turn gets `end_turn` with the text `done`.
    pub fn start() -> io::Result<Self> {
        Self::with_script(Vec::new())
    }

    /// Start with these steps, used in order, one per turn; after them, the default step
    /// (`Step::text("done")` unless changed by [`MockMessages::set_default`]).
    pub fn with_script(steps: Vec<Step>) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                script: steps.into(),
                routes: Vec::new(),
                default: Step::text("done"),
                side_text: "Mock title".into(),
                usage: Usage::default(),
                requests: Vec::new(),
                open: BTreeMap::new(),
                workers: Vec::new(),
                next_connection: 0,
                stopped: false,
            }),
            stopped: Condvar::new(),
        });
        let accepting = Arc::clone(&shared);
        let acceptor = thread::Builder::new()
            .name("mock-messages-accept".into())
            .spawn(move || accept_loop(&accepting, &listener))?;
        Ok(MockMessages {
            shared,
            addr,
            acceptor: Some(acceptor),
        })
    }

    /// Append a step to the script.
    pub fn push(&self, step: Step) {
        self.shared.lock().script.push_back(step);
    }

    /// Give the turns whose first user message contains `marker` (a subagent whose `Agent`
    /// prompt carries it) their own script, so they never take the main script's steps. Once it
    /// is used up they get the default step. Calling it again for the same marker appends.
    pub fn script_for(&self, marker: impl Into<String>, steps: Vec<Step>) {
        let marker = marker.into();
        let mut state = self.shared.lock();
        match state.routes.iter_mut().find(|(m, _)| *m == marker) {
            Some((_, script)) => script.extend(steps),
            None => state.routes.push((marker, steps.into())),
        }
    }

    /// The step used once the script is exhausted.
    pub fn set_default(&self, step: Step) {
        self.shared.lock().default = step;
    }

    /// The text every side request gets (default `Mock title`).
    pub fn set_side_text(&self, text: impl Into<String>) {
        self.shared.lock().side_text = text.into();
    }

    /// The token figures every streamed reply reports from now on.
    pub fn set_usage(&self, usage: Usage) {
        self.shared.lock().usage = usage;
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT`, the `ANTHROPIC_BASE_URL` for Claude Code.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port())
    }

    /// Every request received so far, side requests and `HEAD /` included, in arrival order
    /// (recorded before it is answered).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    /// Only the turns (model requests with `tools`), the ones that took steps.
    pub fn turns(&self) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(RecordedRequest::is_turn)
            .collect()
    }

    /// How many steps of the main script are still unused (see [`MockMessages::script_for`]
    /// for the others).
    pub fn remaining(&self) -> usize {
        self.shared.lock().script.len()
    }

    /// How many steps of the script for `marker` are still unused.
    pub fn remaining_for(&self, marker: &str) -> usize {
        let state = self.shared.lock();
        state
            .routes
            .iter()
            .find(|(m, _)| m == marker)
            .map_or(0, |(_, script)| script.len())
    }

    /// Every `tool_result` block Claude Code sent back, once each (requests repeat the whole
    /// conversation), in the order they first arrived.
    pub fn tool_results(&self) -> Vec<ToolResult> {
        let mut seen = std::collections::BTreeSet::new();
        self.requests()
            .iter()
            .flat_map(RecordedRequest::tool_results)
            .filter(|result| seen.insert(result.tool_use_id.clone()))
            .collect()
    }
}

impl Drop for MockMessages {
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
            .name(format!("mock-messages-conn-{id}"))
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

/// What one request gets.
enum Answer {
    Head,
    NotFound,
    Stream {
        blocks: Vec<Value>,
        stop_reason: &'static str,
        usage: Usage,
    },
    Status {
        code: u16,
        body: Value,
    },
}

/// Answer one request on one connection, then close it.
fn serve(shared: &Shared, mut stream: TcpStream) -> io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let Some(request) = read_request(&mut reader)? else {
        return Ok(());
    };
    let answer = {
        let mut state = shared.lock();
        let answer = if request.method == "HEAD" && path_only(&request.path) == "/" {
            Answer::Head
        } else if request.is_side() {
            Answer::Stream {
                blocks: vec![text_block(&state.side_text)],
                stop_reason: "end_turn",
                usage: state.usage,
            }
        } else if request.is_turn() {
            let first = request.first_user_text();
            let State {
                script,
                routes,
                default,
                usage,
                ..
            } = &mut *state;
            let script = routes
                .iter_mut()
                .find(|(marker, _)| first.contains(marker.as_str()))
                .map_or(script, |(_, routed)| routed);
            let step = script.pop_front().unwrap_or_else(|| default.clone());
            step_answer(step, *usage)
        } else {
            Answer::NotFound
        };
        state.requests.push(request.clone());
        answer
    };
    match answer {
        Answer::Head => {
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")?;
            stream.flush()?;
        }
        Answer::NotFound => {
            let body = json!({"type": "error", "error": {"type": "not_found_error", "message": format!("mock-messages: no route for {} {}", request.method, request.path)}});
            write_json(&mut stream, 404, &body, &[])?;
        }
        Answer::Status { code, body } => write_json(&mut stream, code, &body, &[])?,
        Answer::Stream {
            blocks,
            stop_reason,
            usage,
        } => {
            let model = request.body["model"].as_str().unwrap_or("claude-mock");
            let body = sse_body(model, &blocks, stop_reason, usage);
            stream.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n",
            )?;
            stream.write_all(body.as_bytes())?;
            stream.flush()?;
        }
    }
    let _ = stream.shutdown(Shutdown::Write);
    Ok(())
}

fn step_answer(step: Step, usage: Usage) -> Answer {
    let tool_use = |name: String, input: Value| json!({"type": "tool_use", "id": next_id("toolu"), "name": name, "input": input});
    match step {
        Step::Text(text) => Answer::Stream {
            blocks: vec![text_block(&text)],
            stop_reason: "end_turn",
            usage,
        },
        Step::ToolUse { name, input } => Answer::Stream {
            blocks: vec![tool_use(name, input)],
            stop_reason: "tool_use",
            usage,
        },
        Step::ToolUses(calls) => Answer::Stream {
            blocks: calls
                .into_iter()
                .map(|call| tool_use(call.name, call.input))
                .collect(),
            stop_reason: "tool_use",
            usage,
        },
        Step::Status { code, body } => Answer::Status { code, body },
    }
}

fn text_block(text: &str) -> Value {
    json!({"type": "text", "text": text})
}

/// The SSE events of one assistant message: `message_start`, per block `content_block_start`,
/// one `content_block_delta` (`text_delta` or `input_json_delta`) and `content_block_stop`,
/// then `message_delta` (stop reason, usage) and `message_stop`.
fn sse_body(model: &str, blocks: &[Value], stop_reason: &str, usage: Usage) -> String {
    let mut events = vec![json!({
        "type": "message_start",
        "message": {
            "id": next_id("msg"),
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": null,
            "stop_sequence": null,
            "usage": {
                "input_tokens": usage.input,
                "cache_creation_input_tokens": usage.cache_creation,
                "cache_read_input_tokens": usage.cache_read,
                "output_tokens": 1,
            },
        },
    })];
    for (index, block) in blocks.iter().enumerate() {
        let (start, delta) = if block["type"] == "tool_use" {
            (
                json!({"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}),
                json!({"type": "input_json_delta", "partial_json": block["input"].to_string()}),
            )
        } else {
            (
                json!({"type": "text", "text": ""}),
                json!({"type": "text_delta", "text": block["text"]}),
            )
        };
        events.push(json!({"type": "content_block_start", "index": index, "content_block": start}));
        events.push(json!({"type": "content_block_delta", "index": index, "delta": delta}));
        events.push(json!({"type": "content_block_stop", "index": index}));
    }
    events.push(json!({
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": null},
        "usage": {
            "input_tokens": usage.input,
            "cache_creation_input_tokens": usage.cache_creation,
            "cache_read_input_tokens": usage.cache_read,
            "output_tokens": usage.output,
        },
    }));
    events.push(json!({"type": "message_stop"}));
    let mut body = String::new();
    for event in events {
        let kind = event["type"].as_str().unwrap_or_default().to_string();
        body.push_str(&format!("event: {kind}\ndata: {event}\n\n"));
    }
    body
}

/// A string as is; an array of blocks as the `text` of its text blocks joined by newlines.
fn content_text(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|block| block["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn next_id(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!(
        "{prefix}_01mock{:018}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn send(port: u16, head: &str, body: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let request = format!(
            "{head}\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).unwrap();
        out
    }

    fn post(port: u16, body: Value) -> String {
        send(
            port,
            "POST /v1/messages?beta=true HTTP/1.1",
            &body.to_string(),
        )
    }

    /// The `data:` payloads of an SSE reply.
    fn events(reply: &str) -> Vec<Value> {
        reply
            .lines()
            .filter_map(|line| line.strip_prefix("data: "))
            .map(|data| serde_json::from_str(data).unwrap())
            .collect()
    }

    fn turn(messages: Value) -> Value {
        json!({"model": "claude-x", "stream": true, "tools": [{"name": "Write"}], "messages": messages})
    }

    #[test]
    fn turns_take_steps_in_order_and_side_requests_do_not() {
        let mock = MockMessages::with_script(vec![
            Step::tool_use("Write", json!({"file_path": "/p/a.txt", "content": "hi"})),
            Step::text("finished"),
        ])
        .unwrap();
        let side = post(mock.port(), json!({"model": "m", "messages": []}));
        assert!(side.contains("Mock title"), "{side}");
        let empty = post(
            mock.port(),
            json!({"model": "m", "tools": [], "messages": []}),
        );
        assert!(empty.contains("Mock title"), "{empty}");
        assert_eq!(mock.remaining(), 2, "a side request takes no step");

        let first = post(mock.port(), turn(json!([])));
        assert!(first.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(first.contains("content-type: text/event-stream"));
        let kinds: Vec<_> = events(&first)
            .iter()
            .map(|e| e["type"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            kinds,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        let events = events(&first);
        assert_eq!(events[0]["message"]["model"], "claude-x");
        assert_eq!(events[1]["content_block"]["name"], "Write");
        let id = events[1]["content_block"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(id.starts_with("toolu_"), "{id}");
        let input: Value =
            serde_json::from_str(events[2]["delta"]["partial_json"].as_str().unwrap()).unwrap();
        assert_eq!(input["file_path"], "/p/a.txt");
        assert_eq!(events[4]["delta"]["stop_reason"], "tool_use");
        assert_eq!(events[4]["usage"]["output_tokens"], 10);

        let result = json!([{"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": id, "content": [{"type": "text", "text": "denied: R-MARK"}], "is_error": true}
        ]}]);
        let second = post(mock.port(), turn(result.clone()));
        assert!(second.contains(r#""text":"finished""#), "{second}");
        assert!(second.contains(r#""stop_reason":"end_turn""#));
        let third = post(mock.port(), turn(result));
        assert!(
            third.contains(r#""text":"done""#),
            "the default after the script"
        );

        assert_eq!(
            mock.tool_results(),
            [ToolResult {
                tool_use_id: id,
                content: "denied: R-MARK".into(),
                is_error: true
            }],
            "each result once, though two requests carried it"
        );
        assert_eq!(mock.requests().len(), 5);
        assert_eq!(mock.turns().len(), 3);
        assert!(mock.requests()[0].is_side());
    }

    #[test]
    fn parallel_tool_uses_are_blocks_of_one_message() {
        let mock = MockMessages::with_script(vec![Step::tool_uses(vec![
            ("Read", json!({"file_path": "/a"})),
            ("Read", json!({"file_path": "/b"})),
        ])])
        .unwrap();
        let events = events(&post(mock.port(), turn(json!([]))));
        let starts: Vec<_> = events
            .iter()
            .filter(|e| e["type"] == "content_block_start")
            .collect();
        assert_eq!(starts.len(), 2);
        assert_eq!(starts[1]["index"], 1);
        assert_ne!(
            starts[0]["content_block"]["id"],
            starts[1]["content_block"]["id"]
        );
    }

    #[test]
    fn a_marked_conversation_takes_its_own_script() {
        let mock = MockMessages::with_script(vec![Step::text("main")]).unwrap();
        mock.script_for("SUB-1", vec![Step::text("sub")]);
        let user =
            |text: &str| json!([{"role": "user", "content": [{"type": "text", "text": text}]}]);
        let sub = post(mock.port(), turn(user("explore SUB-1 please")));
        assert!(sub.contains(r#""text":"sub""#), "{sub}");
        let main = post(mock.port(), turn(user("hello")));
        assert!(main.contains(r#""text":"main""#), "{main}");
        let after = post(mock.port(), turn(user("SUB-1")));
        assert!(after.contains(r#""text":"done""#), "{after}");
        assert_eq!((mock.remaining(), mock.remaining_for("SUB-1")), (0, 0));
    }

    #[test]
    fn head_is_ok_errors_and_unknown_paths() {
        let mock = MockMessages::with_script(vec![Step::status(401, "bad key")]).unwrap();
        let head = send(mock.port(), "HEAD / HTTP/1.1", "");
        assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
        let missing = send(mock.port(), "GET /v1/models HTTP/1.1", "");
        assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
        assert!(missing.contains("not_found_error"));
        let error = post(mock.port(), turn(json!([])));
        assert!(error.starts_with("HTTP/1.1 401"), "{error}");
        assert!(error.contains("authentication_error"));
        assert_eq!(mock.requests().len(), 3);
    }

    #[test]
    fn drop_stops_the_server() {
        let mock = MockMessages::start().unwrap();
        let port = mock.port();
        drop(mock);
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    }
}
