//! Claude Code's statusline stdin, read leniently (PROTOCOLS.md §4): unknown keys ignored,
//! `null` is absent, a field of the wrong type is absent, and a malformed document still
//! yields an [`Input`] with nothing in it. Only what the segments use is read.

use serde_json::Value;

/// What the statusline uses from its stdin.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Input {
    pub session_id: Option<String>,
    pub version: Option<String>,
    /// Claude's tokens in this session (input + output), when sent.
    pub claude_tokens: Option<u64>,
    /// Claude's own 5-hour limit (subscription logins only).
    pub claude_five_hour: Option<ClaudeLimit>,
    /// The project folder (`workspace.project_dir`, else `cwd`).
    pub project_dir: Option<String>,
}

/// Claude's own rate-limit window.
#[derive(Clone, Debug, PartialEq)]
pub struct ClaudeLimit {
    pub used_percent: f64,
    /// Epoch seconds (sent as a number, or as an ISO string).
    pub resets_at: Option<i64>,
}

impl Input {
    /// Parse stdin; never fails (malformed input is an empty `Input`).
    pub fn parse(bytes: &[u8]) -> Input {
        let Ok(v) = serde_json::from_slice::<Value>(bytes) else {
            return Input::default();
        };
        let s = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
        let n = |v: &Value| {
            v.as_u64()
                .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
        };
        let cw = &v["context_window"];
        let claude_tokens = match (n(&cw["total_input_tokens"]), n(&cw["total_output_tokens"])) {
            (None, None) => None,
            (i, o) => Some(i.unwrap_or(0).saturating_add(o.unwrap_or(0))),
        };
        let five = &v["rate_limits"]["five_hour"];
        let claude_five_hour = five["used_percentage"].as_f64().map(|used| ClaudeLimit {
            used_percent: used,
            resets_at: epoch(&five["resets_at"]),
        });
        Input {
            session_id: s(&v["session_id"]),
            version: s(&v["version"]),
            claude_tokens,
            claude_five_hour,
            project_dir: s(&v["workspace"]["project_dir"]).or_else(|| s(&v["cwd"])),
        }
    }
}

/// Epoch seconds from a number, a numeric string, or an RFC 3339 string.
fn epoch(v: &Value) -> Option<i64> {
    if let Some(n) = v.as_i64() {
        return Some(n);
    }
    if let Some(f) = v.as_f64() {
        return Some(f as i64);
    }
    let s = v.as_str()?;
    s.parse::<i64>().ok().or_else(|| {
        chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.timestamp())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_is_empty() {
        for bad in [&b""[..], b"{", b"[]", b"\xff", b"null"] {
            assert_eq!(Input::parse(bad), Input::default());
        }
    }

    #[test]
    fn claude_limits_as_epoch_or_iso() {
        let a = Input::parse(
            br#"{"rate_limits":{"five_hour":{"used_percentage":23.5,"resets_at":1738425600}}}"#,
        );
        assert_eq!(a.claude_five_hour.unwrap().resets_at, Some(1_738_425_600));
        let b = Input::parse(br#"{"rate_limits":{"five_hour":{"used_percentage":23.5,"resets_at":"2025-02-01T16:00:00Z"}}}"#);
        assert_eq!(b.claude_five_hour.unwrap().resets_at, Some(1_738_425_600));
        let c = Input::parse(
            br#"{"rate_limits":null,"session_id":5,"context_window":{"total_input_tokens":null}}"#,
        );
        assert_eq!(c, Input::default());
    }
}
