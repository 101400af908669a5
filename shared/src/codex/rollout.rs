//! Codex's rate limits, read from where they really are: the session rollout file
//! `$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<thread_id>.jsonl`. The `--json` stream
//! never carries them.
//!
//! In a rollout, `event_msg` lines of type `token_count` carry a `rate_limits` object per limit
//! family. Only the `codex` family is offload's (others exist); windows are keyed by
//! `window_minutes` (300 = 5 hours, 10080 = a week), not by the `primary`/`secondary` slot;
//! `resets_at` is epoch seconds; `info` may be null. Files are read from the tail: the snapshot
//! wanted is the last one, and a rollout can grow large in a long session.
//!
//! The same `token_count` lines carry the thread's token usage so far in
//! `info.total_token_usage` (cumulative over every turn of the thread, whichever limit family
//! the line is about): what a resumed thread had used before its new turn ([`last_total_usage`]).

use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, Duration as ChronoDuration, Local, Utc};
use serde::{Deserialize, Serialize};

use crate::ledger::Tokens;

/// Minutes in Codex's 5-hour window.
pub const FIVE_HOURS: u64 = 300;
/// Minutes in Codex's weekly window.
pub const WEEK: u64 = 10_080;

/// One rate-limit window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RateWindow {
    pub window_minutes: u64,
    pub used_percent: f64,
    /// Epoch seconds; absent when codex did not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resets_at: Option<i64>,
}

/// The `codex` family's limits at one moment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RateLimitSnapshot {
    /// When codex recorded it (the rollout line's timestamp), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captured_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub windows: Vec<RateWindow>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_type: Option<String>,
}

impl RateLimitSnapshot {
    /// The window of this length, if present.
    pub fn window(&self, minutes: u64) -> Option<&RateWindow> {
        self.windows.iter().find(|w| w.window_minutes == minutes)
    }

    /// The 5-hour window.
    pub fn five_hour(&self) -> Option<&RateWindow> {
        self.window(FIVE_HOURS)
    }

    /// The weekly window.
    pub fn weekly(&self) -> Option<&RateWindow> {
        self.window(WEEK)
    }
}

#[derive(Deserialize)]
struct Line {
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    payload: Option<Payload>,
}

#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    rate_limits: Option<RawLimits>,
    #[serde(default)]
    info: Option<Info>,
}

#[derive(Deserialize)]
struct Info {
    #[serde(default)]
    total_token_usage: Option<crate::codex::events::Usage>,
}

#[derive(Deserialize)]
struct RawLimits {
    #[serde(default)]
    limit_id: Option<String>,
    #[serde(default)]
    primary: Option<RawWindow>,
    #[serde(default)]
    secondary: Option<RawWindow>,
    #[serde(default)]
    plan_type: Option<String>,
}

#[derive(Deserialize)]
struct RawWindow {
    #[serde(default)]
    used_percent: Option<f64>,
    #[serde(default)]
    window_minutes: Option<u64>,
    #[serde(default)]
    resets_at: Option<i64>,
}

/// The `codex` snapshot in one rollout line, if it holds one. A line without `limit_id` is
/// taken as `codex` (older codex wrote one family only).
pub fn snapshot_from_line(line: &str) -> Option<RateLimitSnapshot> {
    if !line.contains("token_count") || !line.contains("rate_limits") {
        return None;
    }
    let parsed: Line = serde_json::from_str(line.trim()).ok()?;
    if parsed.kind != "event_msg" {
        return None;
    }
    let payload = parsed.payload?;
    if payload.kind != "token_count" {
        return None;
    }
    let limits = payload.rate_limits?;
    if limits.limit_id.as_deref().is_some_and(|id| id != "codex") {
        return None;
    }
    let windows: Vec<RateWindow> = [limits.primary, limits.secondary]
        .into_iter()
        .flatten()
        .filter_map(|w| {
            Some(RateWindow {
                window_minutes: w.window_minutes?,
                used_percent: w.used_percent.unwrap_or(0.0),
                resets_at: w.resets_at,
            })
        })
        .collect();
    if windows.is_empty() {
        return None;
    }
    Some(RateLimitSnapshot {
        captured_at: parsed
            .timestamp
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .map(|t| t.with_timezone(&Utc)),
        windows,
        plan_type: limits.plan_type,
    })
}

/// The thread's usage so far in one rollout line (`info.total_token_usage` of a `token_count`
/// event), as offload counts tokens (total = input + output), if the line holds it.
pub fn total_usage_from_line(line: &str) -> Option<Tokens> {
    if !line.contains("token_count") || !line.contains("total_token_usage") {
        return None;
    }
    let parsed: Line = serde_json::from_str(line.trim()).ok()?;
    if parsed.kind != "event_msg" {
        return None;
    }
    let payload = parsed.payload.filter(|p| p.kind == "token_count")?;
    Some(payload.info?.total_token_usage?.tokens())
}

/// The last `codex` snapshot among the last `max_bytes` of `path`. A torn last line (codex
/// still writing) is skipped.
pub fn last_snapshot(path: &Path, max_bytes: u64) -> io::Result<Option<RateLimitSnapshot>> {
    last_of(path, max_bytes, snapshot_from_line)
}

/// The thread's usage so far: the last `info.total_token_usage` among the last `max_bytes` of
/// `path` (every turn ends with one, so it is near the end). `None` when no line holds one (a
/// thread whose every turn failed before the model answered).
pub fn last_total_usage(path: &Path, max_bytes: u64) -> io::Result<Option<Tokens>> {
    last_of(path, max_bytes, total_usage_from_line)
}

/// The last line among the last `max_bytes` of `path` that `pick` finds something in. The
/// partial first line of the window and a torn last line are never given to it whole: the
/// first is dropped, the second does not parse.
fn last_of<T>(
    path: &Path,
    max_bytes: u64,
    pick: impl Fn(&str) -> Option<T>,
) -> io::Result<Option<T>> {
    let mut f = crate::ledger::open_log_read(path)?;
    let len = f.metadata()?.len();
    let start = len.saturating_sub(max_bytes);
    f.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::with_capacity((len - start) as usize);
    f.take(max_bytes).read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let mut lines: Vec<&str> = text.split('\n').collect();
    if start > 0 && !lines.is_empty() {
        lines.remove(0); // partial first line
    }
    Ok(lines.into_iter().rev().find_map(pick))
}

/// The rollout file of `thread_id`, looked for only in the day folders around `near` (local and
/// UTC dates, a day either side): never a walk of the whole sessions tree.
pub fn find_rollout(codex_home: &Path, thread_id: &str, near: DateTime<Utc>) -> Option<PathBuf> {
    if thread_id.is_empty() || thread_id.contains('/') {
        return None;
    }
    let suffix = format!("-{thread_id}.jsonl");
    day_dirs(codex_home, near).into_iter().find_map(|dir| {
        std::fs::read_dir(&dir).ok()?.flatten().find_map(|e| {
            let name = e.file_name();
            let name = name.to_str()?;
            (name.starts_with("rollout-") && name.ends_with(&suffix)).then(|| e.path())
        })
    })
}

/// The day folders (`sessions/YYYY/MM/DD`) that may hold a rollout written around `near`,
/// most likely first, without duplicates.
pub fn day_dirs(codex_home: &Path, near: DateTime<Utc>) -> Vec<PathBuf> {
    let local = near.with_timezone(&Local).date_naive();
    let utc = near.date_naive();
    let mut dates = vec![local, utc];
    for d in [local, utc] {
        dates.push(d - ChronoDuration::days(1));
        dates.push(d + ChronoDuration::days(1));
    }
    let mut dirs: Vec<PathBuf> = Vec::new();
    for d in dates {
        let p = codex_home
            .join("sessions")
            .join(format!("{:04}", d.year()))
            .join(format!("{:02}", d.month()))
            .join(format!("{:02}", d.day()));
        if !dirs.contains(&p) {
            dirs.push(p);
        }
    }
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const CODEX_LINE: &str = r#"{"timestamp":"2026-11-24T06:40:00.123Z","type":"event_msg","payload":{"type":"token_count","info":null,"rate_limits":{"limit_id":"codex","primary":{"used_percent":42.5,"window_minutes":300,"resets_at":1795504590},"secondary":{"used_percent":13.0,"window_minutes":10080,"resets_at":1795587390},"credits":{"has_credits":false},"plan_type":null}}}"#;
    const OTHER_FAMILY: &str = r#"{"timestamp":"2026-11-24T06:41:00Z","type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":1}},"rate_limits":{"limit_id":"codex_other","primary":{"used_percent":99.0,"window_minutes":300,"resets_at":1}}}}"#;

    #[test]
    fn reads_windows_by_minutes_not_slot() {
        let swapped = CODEX_LINE
            .replace("\"window_minutes\":300", "\"window_minutes\":TMP")
            .replace("\"window_minutes\":10080", "\"window_minutes\":300")
            .replace("\"window_minutes\":TMP", "\"window_minutes\":10080");
        let s = snapshot_from_line(&swapped).unwrap();
        assert_eq!(s.five_hour().unwrap().used_percent, 13.0);
        assert_eq!(s.weekly().unwrap().used_percent, 42.5);
    }

    #[test]
    fn takes_the_last_codex_snapshot_skipping_other_families_and_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("rollout.jsonl");
        let mut f = std::fs::File::create(&p).unwrap();
        writeln!(f, r#"{{"type":"session_meta","payload":{{"id":"x"}}}}"#).unwrap();
        writeln!(f, "{CODEX_LINE}").unwrap();
        writeln!(f, "{OTHER_FAMILY}").unwrap();
        write!(f, "{}", &CODEX_LINE[..80]).unwrap(); // torn
        drop(f);
        let s = last_snapshot(&p, 1 << 20).unwrap().unwrap();
        assert_eq!(s.five_hour().unwrap().used_percent, 42.5);
        assert_eq!(s.five_hour().unwrap().resets_at, Some(1_795_504_590));
        assert_eq!(s.weekly().unwrap().resets_at, Some(1_795_587_390));
        assert_eq!(
            s.captured_at.unwrap().to_rfc3339(),
            "2026-11-24T06:40:00.123+00:00"
        );
    }

    #[test]
    fn tail_window_smaller_than_file_still_finds_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("rollout.jsonl");
        let mut f = std::fs::File::create(&p).unwrap();
        for _ in 0..200 {
            writeln!(
                f,
                r#"{{"type":"response_item","payload":{{"text":"{}"}}}}"#,
                "x".repeat(100)
            )
            .unwrap();
        }
        writeln!(f, "{CODEX_LINE}").unwrap();
        drop(f);
        let s = last_snapshot(&p, CODEX_LINE.len() as u64 + 50).unwrap();
        assert!(s.is_some());
        assert!(last_snapshot(&p, 10).unwrap().is_none());
    }

    #[test]
    fn the_threads_usage_so_far_is_the_last_total_of_any_family() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("rollout.jsonl");
        let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/codex/rollout-two-families.jsonl");
        // The fixture's one total (100 in, 10 out) sits between a codex and another family's
        // line, both with `info: null`.
        assert_eq!(
            last_total_usage(&fixture, 1 << 20).unwrap(),
            Some(Tokens {
                input: 100,
                cached_input: 0,
                output: 10,
                reasoning: 0,
                total: 110
            })
        );
        let total = |input: u64| {
            format!(
                r#"{{"timestamp":"2026-11-29T21:50:25Z","type":"event_msg","payload":{{"type":"token_count","info":{{"total_token_usage":{{"input_tokens":{input},"cached_input_tokens":200,"output_tokens":50,"reasoning_output_tokens":5,"total_tokens":1}},"last_token_usage":{{"input_tokens":1}}}},"rate_limits":null}}}}"#
            )
        };
        let mut f = std::fs::File::create(&p).unwrap();
        writeln!(f, "{}", total(1000)).unwrap();
        writeln!(f, "{}", total(2500)).unwrap();
        writeln!(f, "{CODEX_LINE}").unwrap(); // info null: says nothing of usage
        write!(f, "{}", &total(9999)[..120]).unwrap(); // torn
        drop(f);
        let t = last_total_usage(&p, 1 << 20).unwrap().unwrap();
        assert_eq!(
            (t.input, t.cached_input, t.output, t.reasoning, t.total),
            (2500, 200, 50, 5, 2550),
            "total = input + output, as offload counts it"
        );
        std::fs::write(&p, format!("{CODEX_LINE}\n")).unwrap();
        assert_eq!(last_total_usage(&p, 1 << 20).unwrap(), None);
        assert!(last_total_usage(&dir.path().join("missing.jsonl"), 1 << 20).is_err());
    }

    #[test]
    fn no_limits_no_snapshot() {
        assert!(snapshot_from_line(r#"{"type":"event_msg","payload":{"type":"token_count","info":null,"rate_limits":null}}"#).is_none());
        assert!(snapshot_from_line("token_count rate_limits garbage").is_none());
    }

    #[test]
    fn finds_rollout_in_day_folder() {
        let home = tempfile::tempdir().unwrap();
        let now = Utc::now();
        let dir = &day_dirs(home.path(), now)[0];
        std::fs::create_dir_all(dir).unwrap();
        let name = "rollout-2026-11-24T06-40-00-01a20c32-7777.jsonl";
        std::fs::write(dir.join(name), "").unwrap();
        std::fs::write(dir.join("rollout-2026-11-24T06-40-00-other.jsonl"), "").unwrap();
        assert_eq!(
            find_rollout(home.path(), "01a20c32-7777", now).unwrap(),
            dir.join(name)
        );
        assert!(find_rollout(home.path(), "nope", now).is_none());
        assert!(find_rollout(home.path(), "../x", now).is_none());
    }
}
