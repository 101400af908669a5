//! What Claude Code sends offload's hooks, and what they answer.
//!
//! Input types are forgiving (PROTOCOLS.md §3): unknown keys are ignored, `null` reads as
//! absent, and every field has a default, because Claude Code adds fields every month and a
//! hook that rejects a payload fails open. Real captured payloads are kept as fixtures in
//! `shared/tests/fixtures/claude/`.
//!
//! Answers: a PreToolUse deny is JSON on stdout with exit 0; context for the model is plain
//! stdout for SessionStart and UserPromptSubmit, and `hookSpecificOutput.additionalContext` for
//! PreToolUse and PostToolUse. A Stop hook blocks the stop with `{"decision":"block","reason":R}`
//! (Claude continues, given R as a "Stop hook" message) and shows the user `systemMessage`. offload never answers `allow`: that would skip the user's own
//! permission rules.

use serde::Deserialize;
use serde_json::{Value, json};

/// One hook invocation's stdin.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct HookInput {
    #[serde(deserialize_with = "lenient_string")]
    pub session_id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub transcript_path: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub cwd: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub hook_event_name: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub permission_mode: Option<String>,
    /// PreToolUse / PostToolUse.
    #[serde(deserialize_with = "lenient_string")]
    pub tool_name: Option<String>,
    pub tool_input: Option<Value>,
    #[serde(deserialize_with = "lenient_string")]
    pub tool_use_id: Option<String>,
    /// UserPromptSubmit.
    #[serde(deserialize_with = "lenient_string")]
    pub prompt: Option<String>,
    /// SessionStart: `startup`, `resume`, `clear`, `compact`, `fork`.
    #[serde(deserialize_with = "lenient_string")]
    pub source: Option<String>,
    /// Set when the hook fires inside a subagent.
    #[serde(deserialize_with = "lenient_string")]
    pub agent_id: Option<String>,
    #[serde(deserialize_with = "lenient_string")]
    pub agent_type: Option<String>,
    /// Stop: Claude is already continuing because a Stop hook blocked its last stop.
    #[serde(deserialize_with = "lenient_bool")]
    pub stop_hook_active: Option<bool>,
}

/// A string, or absent: a value of another type (a newer or odd client) reads as absent rather
/// than failing the whole payload.
pub fn lenient_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        _ => None,
    })
}

/// A boolean, or absent (a value of another type reads as absent).
pub fn lenient_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Bool(b) => Some(b),
        _ => None,
    })
}

/// The hook events offload handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    SessionStart,
    UserPromptSubmit,
    PreToolUse,
    PostToolUse,
    /// A tool call that failed (Claude Code sends this instead of PostToolUse when, for
    /// instance, a Bash command exits non-zero).
    PostToolUseFailure,
    /// Claude Code 2.1.332+: a skill's inline `` !`cmd` `` shell command is about to run.
    PreSkillShellCommand,
    /// Claude is about to finish its answer (the review gate's event).
    Stop,
    /// Anything else: answered with silence.
    Other,
}

impl HookInput {
    /// Parse stdin. Errors say what was wrong, for the block message.
    pub fn parse(bytes: &[u8]) -> Result<HookInput, String> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err("the hook input is empty".into());
        }
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| format!("the hook input is not valid JSON ({e})"))?;
        if !value.is_object() {
            return Err("the hook input is not a JSON object".into());
        }
        drop(value);
        // Read from the bytes, not the tree: a key given twice (`"tool_name": "Edit", …,
        // "tool_name": "Read"`) is refused rather than read as its last value.
        serde_json::from_slice(bytes)
            .map_err(|e| format!("the hook input has an unexpected shape ({e})"))
    }

    pub fn event(&self) -> Event {
        match self.hook_event_name.as_deref() {
            Some("SessionStart") => Event::SessionStart,
            Some("UserPromptSubmit") => Event::UserPromptSubmit,
            Some("PreToolUse") => Event::PreToolUse,
            Some("PostToolUse") => Event::PostToolUse,
            Some("PostToolUseFailure") => Event::PostToolUseFailure,
            Some("PreSkillShellCommand") => Event::PreSkillShellCommand,
            Some("Stop") => Event::Stop,
            _ => Event::Other,
        }
    }

    /// A string field of `tool_input`.
    pub fn input_str(&self, key: &str) -> Option<&str> {
        self.tool_input.as_ref()?.get(key)?.as_str()
    }

    /// The session id, if present and not blank.
    pub fn session(&self) -> Option<&str> {
        self.session_id.as_deref().filter(|s| !s.trim().is_empty())
    }
}

/// Tools whose input Claude Code never submits back as a prompt (file contents, commands,
/// searches, a subagent's task): a phrase in them is not a prompt Claude scheduled.
const NOT_PROMPT_TOOLS: &[&str] = &[
    "Write",
    "Edit",
    "MultiEdit",
    "NotebookEdit",
    "Read",
    "Grep",
    "Glob",
    "Bash",
    "Agent",
    "Task",
    "TodoWrite",
    "WebFetch",
    "WebSearch",
    "Skill",
];

/// Whether `prompt` (holding the approval phrase `phrase`) is text Claude itself wrote earlier
/// in this session into a tool call that can come back as a prompt (`ScheduleWakeup`,
/// `CronCreate`, a tool offload does not know): Claude Code submits such a prompt to the
/// session as if the user had typed it. Looks through the last 16 MiB of the session's
/// transcript (a regular file, read bounded): a string in such a tool call's input that holds
/// the phrase and holds, or is held by, the prompt. Returns the tool's name.
pub fn prompt_claude_wrote(
    transcript: &std::path::Path,
    prompt: &str,
    phrase: &str,
) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let squash = |t: &str| {
        t.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    let (prompt, phrase) = (squash(prompt), squash(phrase));
    if phrase.is_empty() || prompt.is_empty() {
        return None;
    }
    let mut f = std::fs::File::open(transcript).ok()?;
    let meta = f.metadata().ok()?;
    if !meta.is_file() {
        return None;
    }
    let start = meta.len().saturating_sub(16 << 20);
    f.seek(SeekFrom::Start(start)).ok()?;
    let mut bytes = Vec::new();
    f.take(16 << 20).read_to_end(&mut bytes).ok()?;
    fn strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::String(s) => out.push(s),
            Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
            Value::Object(o) => o.values().for_each(|x| strings(x, out)),
            _ => {}
        }
    }
    for line in bytes.split(|b| *b == b'\n') {
        if !line.windows(8).any(|w| w == b"tool_use") {
            continue;
        }
        let Ok(v) = serde_json::from_slice::<Value>(line) else {
            continue;
        };
        let Some(content) = v.pointer("/message/content").and_then(Value::as_array) else {
            continue;
        };
        for item in content {
            if item.get("type").and_then(Value::as_str) != Some("tool_use") {
                continue;
            }
            let name = item.get("name").and_then(Value::as_str).unwrap_or("");
            if NOT_PROMPT_TOOLS.contains(&name) {
                continue;
            }
            let mut found = Vec::new();
            if let Some(input) = item.get("input") {
                strings(input, &mut found);
            }
            if found
                .iter()
                .map(|s| squash(s))
                .any(|s| s.contains(&phrase) && (s.contains(&prompt) || prompt.contains(&s)))
            {
                return Some(name.to_owned());
            }
        }
    }
    None
}

/// The JSON that denies a tool call.
pub fn deny_json(reason: &str) -> String {
    deny_json_for("PreToolUse", reason)
}

/// The JSON that denies what the hook `event` is about (`PreToolUse`, `PreSkillShellCommand`).
pub fn deny_json_for(event: &str, reason: &str) -> String {
    json!({
        "hookSpecificOutput": {
            "hookEventName": event,
            "permissionDecision": "deny",
            "permissionDecisionReason": reason,
        }
    })
    .to_string()
}

/// The JSON that adds context for the model without deciding anything.
pub fn context_json(event: &str, context: &str) -> String {
    json!({
        "hookSpecificOutput": {
            "hookEventName": event,
            "additionalContext": context,
        }
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nulls_unknown_keys_and_missing_fields_are_fine() {
        let h = HookInput::parse(
            br#"{"session_id":null,"hook_event_name":"PreToolUse","tool_name":"Edit","tool_input":{"file_path":"/p/a.rs"},"brand_new":{"x":1}}"#,
        )
        .unwrap();
        assert_eq!(h.session(), None);
        assert_eq!(h.event(), Event::PreToolUse);
        assert_eq!(h.input_str("file_path"), Some("/p/a.rs"));
        assert_eq!(h.input_str("nope"), None);
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        for bad in [&b""[..], b"  \n", b"{", b"[1,2]", b"\xff\xfe", b"null"] {
            assert!(HookInput::parse(bad).is_err(), "{bad:?}");
        }
        let odd = HookInput::parse(br#"{"session_id":5,"tool_name":["Edit"],"cwd":"/p"}"#).unwrap();
        assert_eq!(
            (odd.session(), odd.tool_name.as_deref(), odd.cwd.as_deref()),
            (None, None, Some("/p"))
        );
    }

    #[test]
    fn stop_payloads_as_claude_code_sends_them() {
        for version in ["2.1.197", "2.1.330", "2.1.332"] {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/claude")
                .join(version);
            for (file, active) in [("stop.json", false), ("stop-hook-active.json", true)] {
                let h = HookInput::parse(&std::fs::read(dir.join(file)).unwrap()).unwrap();
                assert_eq!(h.event(), Event::Stop, "{version} {file}");
                assert_eq!(h.stop_hook_active, Some(active), "{version} {file}");
                assert!(h.session().is_some() && h.cwd.is_some());
            }
        }
        let odd = HookInput::parse(br#"{"hook_event_name":"Stop","stop_hook_active":"yes"}"#);
        assert_eq!(odd.unwrap().stop_hook_active, None);
    }

    #[test]
    fn deny_has_the_exact_shape() {
        let v: Value = serde_json::from_str(&deny_json("R")).unwrap();
        assert_eq!(
            v,
            json!({"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"deny","permissionDecisionReason":"R"}})
        );
    }
}
