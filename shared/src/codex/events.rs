//! `codex exec --json` events, one JSON object per stdout line, and the fold offload keeps
//! while reading them ([`Observation`]).
//!
//! Observed shapes (0.169.0): `thread.started {thread_id}`, `turn.started`, `item.started` /
//! `item.updated` / `item.completed {item}`, `turn.completed {usage}`, `turn.failed {error}`,
//! and top-level `error {message}`. A top-level `error` is not fatal by itself (codex sends
//! `Reconnecting...` warnings that way); the turn fails only with `turn.failed`, a non-zero
//! exit, or no `turn.completed` at all.

use serde::Deserialize;

use crate::ledger::Tokens;

/// One line of `codex exec --json` output.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "type")]
pub enum ThreadEvent {
    #[serde(rename = "thread.started")]
    ThreadStarted {
        #[serde(default)]
        thread_id: Option<String>,
    },
    #[serde(rename = "turn.started")]
    TurnStarted,
    #[serde(rename = "turn.completed")]
    TurnCompleted {
        #[serde(default)]
        usage: Usage,
    },
    #[serde(rename = "turn.failed")]
    TurnFailed {
        #[serde(default)]
        error: ErrorBody,
    },
    #[serde(rename = "item.started")]
    ItemStarted { item: Item },
    #[serde(rename = "item.updated")]
    ItemUpdated { item: Item },
    #[serde(rename = "item.completed")]
    ItemCompleted { item: Item },
    #[serde(rename = "error")]
    Error {
        #[serde(default)]
        message: String,
    },
    #[serde(other)]
    Unknown,
}

/// `{"message": ...}` inside `turn.failed`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub message: String,
}

/// Token usage of a turn, as codex reports it (no total; cumulative over a resumed thread).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Usage {
    #[serde(deserialize_with = "lenient_u64")]
    pub input_tokens: u64,
    #[serde(deserialize_with = "lenient_u64")]
    pub cached_input_tokens: u64,
    #[serde(deserialize_with = "lenient_u64")]
    pub cache_write_input_tokens: u64,
    #[serde(deserialize_with = "lenient_u64")]
    pub output_tokens: u64,
    #[serde(deserialize_with = "lenient_u64")]
    pub reasoning_output_tokens: u64,
}

impl Usage {
    /// offload's token record: total = input + output (codex sends no total); each figure
    /// capped at [`crate::ledger::MAX_ATTEMPT_TOKENS`] as every reader of the ledger caps it, so
    /// that the log, the summaries and `offload stats` say the same of an absurd report.
    pub fn tokens(&self) -> Tokens {
        Tokens {
            input: self.input_tokens,
            cached_input: self.cached_input_tokens,
            output: self.output_tokens,
            reasoning: self.reasoning_output_tokens,
            total: self.input_tokens.saturating_add(self.output_tokens),
        }
        .capped()
    }
}

/// `null`, a missing key, a negative or fractional number all read as a sane u64.
fn lenient_u64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match v {
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f > 0.0).map(|f| f as u64))
            .unwrap_or(0),
        _ => 0,
    })
}

/// A thread item (`item.*` events).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "type")]
pub enum Item {
    #[serde(rename = "agent_message")]
    AgentMessage {
        #[serde(default)]
        text: String,
    },
    #[serde(rename = "reasoning")]
    Reasoning {
        #[serde(default)]
        text: String,
    },
    #[serde(rename = "command_execution")]
    CommandExecution {
        #[serde(default)]
        command: String,
        #[serde(default)]
        aggregated_output: String,
        #[serde(default)]
        exit_code: Option<i64>,
        #[serde(default)]
        status: String,
    },
    #[serde(rename = "file_change")]
    FileChange {
        #[serde(default)]
        changes: Vec<FileChange>,
        #[serde(default)]
        status: String,
    },
    #[serde(rename = "mcp_tool_call")]
    McpToolCall {
        #[serde(default)]
        server: String,
        #[serde(default)]
        tool: String,
        #[serde(default)]
        status: String,
    },
    #[serde(rename = "web_search")]
    WebSearch {
        #[serde(default)]
        query: String,
    },
    #[serde(rename = "todo_list")]
    TodoList {
        #[serde(default)]
        items: Vec<serde_json::Value>,
    },
    #[serde(rename = "error")]
    Error {
        #[serde(default)]
        message: String,
    },
    #[serde(other)]
    Unknown,
}

/// One path in a `file_change` item.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct FileChange {
    pub path: String,
    pub kind: String,
}

impl ThreadEvent {
    /// Parse one stdout line; `None` for blank lines and anything that is not an event object.
    pub fn parse(line: &str) -> Option<ThreadEvent> {
        let line = line.trim();
        if !line.starts_with('{') {
            return None;
        }
        serde_json::from_str(line).ok()
    }
}

/// What offload learned from the event stream so far.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observation {
    pub thread_id: Option<String>,
    pub turn_started: bool,
    pub turn_completed: bool,
    /// The `turn.failed` message, if the turn failed.
    pub turn_failed: Option<String>,
    /// Top-level `error` messages (warnings unless the turn failed).
    pub errors: Vec<String>,
    /// Usage of the last `turn.completed`.
    pub usage: Option<Usage>,
    /// Text of the last completed `agent_message`.
    pub last_message: Option<String>,
    pub commands: u32,
    pub file_changes: u32,
    /// Lines that were not events (noise, or a newer format).
    pub unparsed_lines: u32,
    /// The model codex said it has no metadata for (it then runs it on fallback metadata, see
    /// [`super::catalog::fallback_model`]).
    pub fallback_model: Option<String>,
}

impl Observation {
    /// Fold one stdout line in; returns the event for progress display.
    pub fn feed(&mut self, line: &str) -> Option<ThreadEvent> {
        let Some(ev) = ThreadEvent::parse(line) else {
            if !line.trim().is_empty() {
                self.unparsed_lines += 1;
            }
            return None;
        };
        match &ev {
            ThreadEvent::ThreadStarted { thread_id } if thread_id.is_some() => {
                self.thread_id.clone_from(thread_id);
            }
            ThreadEvent::TurnStarted => self.turn_started = true,
            ThreadEvent::TurnCompleted { usage } => {
                self.turn_completed = true;
                self.usage = Some(*usage);
            }
            ThreadEvent::TurnFailed { error } => self.turn_failed = Some(error.message.clone()),
            ThreadEvent::Error { message } => {
                self.note_fallback(message);
                self.errors.push(message.clone());
            }
            ThreadEvent::ItemCompleted { item } => match item {
                Item::AgentMessage { text } => self.last_message = Some(text.clone()),
                Item::Error { message } => self.note_fallback(message),
                Item::CommandExecution { .. } => self.commands += 1,
                Item::FileChange { .. } => self.file_changes += 1,
                _ => {}
            },
            _ => {}
        }
        Some(ev)
    }

    fn note_fallback(&mut self, message: &str) {
        if self.fallback_model.is_none()
            && let Some(model) = super::catalog::fallback_model(message)
        {
            self.fallback_model = Some(model.chars().take(200).collect());
        }
    }

    /// The message that best explains a failure: `turn.failed`, else the last `error`.
    pub fn failure_message(&self) -> Option<&str> {
        self.turn_failed
            .as_deref()
            .filter(|m| !m.is_empty())
            .or_else(|| self.errors.last().map(String::as_str))
    }
}

/// Does this failure message mean a usage/rate limit, quota, or refused credentials?
/// Matched case-insensitively on the phrases codex 0.169.0 prints (its usage-limit message uses
/// U+2019 in "You’ve", so the match avoids the apostrophe).
pub fn is_limit_message(message: &str) -> bool {
    let m = message.to_lowercase();
    const PHRASES: [&str; 12] = [
        "hit your usage limit",
        "usage limit",
        "usage_limit",
        "rate limit",
        "rate_limit",
        "too many requests",
        "quota exceeded",
        "insufficient_quota",
        "401 unauthorized",
        "403 forbidden",
        "unexpected status 401",
        "unexpected status 403",
    ];
    PHRASES.iter().any(|p| m.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report past any real usage (1e20, u64::MAX) is capped where it is read, so the log
    /// never holds more than any reader counts.
    #[test]
    fn absurd_usage_is_capped_where_it_is_read() {
        let u: Usage = serde_json::from_str(
            r#"{"input_tokens":1e20,"output_tokens":18446744073709551615,"reasoning_output_tokens":-3}"#,
        )
        .unwrap();
        let t = u.tokens();
        let max = crate::ledger::MAX_ATTEMPT_TOKENS;
        assert_eq!(
            (t.input, t.output, t.reasoning, t.total),
            (max, max, 0, max)
        );
    }

    #[test]
    fn success_stream() {
        let mut o = Observation::default();
        for l in [
            r#"{"type":"thread.started","thread_id":"01a20c32-aaaa"}"#,
            r#"{"type":"turn.started"}"#,
            r#"{"type":"item.completed","item":{"id":"item_0","type":"reasoning","text":"hm"}}"#,
            r#"{"type":"item.completed","item":{"id":"item_1","type":"agent_message","text":"hi from mock"}}"#,
            r#"{"type":"turn.completed","usage":{"input_tokens":1234,"cached_input_tokens":1000,"cache_write_input_tokens":0,"output_tokens":56,"reasoning_output_tokens":7}}"#,
        ] {
            assert!(o.feed(l).is_some(), "{l}");
        }
        assert_eq!(o.thread_id.as_deref(), Some("01a20c32-aaaa"));
        assert!(o.turn_completed);
        assert_eq!(o.last_message.as_deref(), Some("hi from mock"));
        let t = o.usage.unwrap().tokens();
        assert_eq!(
            (t.input, t.cached_input, t.output, t.reasoning, t.total),
            (1234, 1000, 56, 7, 1290)
        );
    }

    #[test]
    fn unknown_events_items_and_fields_are_ignored() {
        let mut o = Observation::default();
        assert_eq!(
            o.feed(r#"{"type":"thread.paused","x":1}"#),
            Some(ThreadEvent::Unknown)
        );
        assert!(matches!(
            o.feed(r#"{"type":"item.completed","item":{"type":"hologram","id":"x"}}"#),
            Some(ThreadEvent::ItemCompleted {
                item: Item::Unknown
            })
        ));
        assert!(o.feed("Reading additional input from stdin...").is_none());
        assert!(o.feed("{not json").is_none());
        assert_eq!(o.unparsed_lines, 2);
    }

    #[test]
    fn old_usage_without_keys_and_nulls_defaults_to_zero() {
        let mut o = Observation::default();
        o.feed(r#"{"type":"turn.completed","usage":{"input_tokens":5,"output_tokens":null}}"#);
        assert_eq!(o.usage.unwrap().tokens().total, 5);
        o.feed(r#"{"type":"turn.completed"}"#);
        assert_eq!(o.usage.unwrap(), Usage::default());
    }

    #[test]
    fn a_model_codex_has_no_metadata_for_is_noted() {
        // Real 0.171.0 output for `-m gpt-5.4` (a warning item, not a failure).
        let text = include_str!("../../tests/fixtures/codex/exec-unknown-model-head.jsonl");
        let mut o = Observation::default();
        for line in text.lines() {
            o.feed(line);
        }
        assert_eq!(o.fallback_model.as_deref(), Some("gpt-5.4"));
        assert_eq!(o.turn_failed, None);
        assert!(o.errors.is_empty(), "an item, not a top-level error");
        // A top-level error saying so counts too; the first model named stays.
        let mut o = Observation::default();
        o.feed(r#"{"type":"error","message":"Model metadata for `m1` not found. Defaulting to fallback metadata"}"#);
        o.feed(r#"{"type":"error","message":"Model metadata for `m2` not found."}"#);
        assert_eq!(o.fallback_model.as_deref(), Some("m1"));
        let mut o = Observation::default();
        o.feed(r#"{"type":"item.completed","item":{"type":"error","message":"something else"}}"#);
        assert_eq!(o.fallback_model, None);
    }

    #[test]
    fn failure_message_prefers_turn_failed() {
        let mut o = Observation::default();
        o.feed(r#"{"type":"error","message":"Reconnecting... 1/5"}"#);
        assert_eq!(o.failure_message(), Some("Reconnecting... 1/5"));
        o.feed(r#"{"type":"turn.failed","error":{"message":"boom"}}"#);
        assert_eq!(o.failure_message(), Some("boom"));
    }

    #[test]
    fn limit_messages() {
        assert!(is_limit_message(
            "You\u{2019}ve hit your usage limit. Upgrade to Pro or try again at 7:14 AM."
        ));
        assert!(is_limit_message(
            "unexpected status 401 Unauthorized: bad key"
        ));
        assert!(is_limit_message(
            "Quota exceeded. Check your plan and billing details."
        ));
        assert!(!is_limit_message(
            "We\u{2019}re currently experiencing high demand, which may cause temporary errors."
        ));
        assert!(!is_limit_message("The requested model 'x' does not exist."));
        assert!(!is_limit_message(
            "Codex ran out of room in the model's context window."
        ));
    }
}
