//! The ledger: offload's one true record of what happened, and the summaries that make it
//! cheap to ask.
//!
//! `events.jsonl` is append-only and the source of truth: one JSON object per line,
//! `{"v":1,"ts":…,"session":…,"kind":…,…}`. Every number offload shows comes from folding these
//! events, and [`Ledger::rebuild`] can always recompute the summaries from the log.
//!
//! The summaries (`totals.json`, `sessions/<id>.json`) exist so that the hook and the
//! statusline, which run on every tool call and every render, read one small file instead of
//! the whole log. They are updated by the writer inside the same exclusive lock as its append,
//! and replaced atomically (temp file + rename), so a reader needs no lock at all and never
//! sees half a summary.
//!
//! Locking uses the standard library's `flock`-based `File::try_lock` (Rust 1.89+), which is
//! what `fs2` provides, without the extra crate. Waits are bounded: a writer gives up with an
//! error naming the lock file and the process holding it (`/proc/locks`). Writers hold the lock
//! for an append and a summary update (milliseconds); readers (`offload stats`, `doctor`,
//! `--rebuild`'s fold) take it only to read the log's length, then parse up to that length
//! without it, streaming in 8 MiB chunks (an append-only log does not change below a length
//! once read); `--rebuild` takes it again only to fold what was appended meanwhile and to
//! write.
//!
//! **What it promises.**
//! - *Durable*: an attempt's start and end, an approval and a tampering record are on disk
//!   (`fdatasync`, and the folder's entry when the log is new) before the writer returns, so
//!   what `offload run` reported survives a power loss. Denials and turns are not synced: a
//!   power loss can cost the last second or so of them (they only count in `offload stats`).
//!   A write that fails (a full disk) is cut back to where it began: no half line stays.
//! - *Self-verifying*: each summary keeps the offset it folded to and a checksum of the line
//!   ending there ([`line_sum`]), and counters it could hold ([`Totals::plausible`]). Every
//!   reader checks them (one read of the line): a summary whose log lost its tail, was
//!   truncated, rotated or replaced, a `{}`/`[]`/wrong-shaped or absurd summary, or a folder
//!   in its place (kept aside), heals: the next writer rebuilds, and so does a reader of a
//!   session summary. A large log (over 8 MiB) is rebuilt by a background `offload __rebuild`
//!   rather than on the hook's or a run's own path; meanwhile a summary that does not match is
//!   not used (the guard fails closed, the statusline leaves the total out).
//! - *Consistent*: summaries are replaced atomically (temp file and rename), so a reader sees
//!   the old or the new one, never half; counters saturate instead of wrapping, and an
//!   attempt's tokens are capped ([`MAX_ATTEMPT_TOKENS`]). Summaries are not synced: a power
//!   loss can leave one behind the log, which the next writer folds forward, or torn, which
//!   the checks above find.
//!
//! Crash safety comes from offsets, not from luck: each summary records how far into
//! `events.jsonl` it has folded (`events_len`). A writer that finds the log longer than
//! `totals.json` says (a previous writer died between its append and its summary update) folds
//! the missing range first; a session summary already past an event's offset is not folded
//! twice. A line torn by a killed writer is terminated by the next writer and thereafter counted
//! as a skipped line by every fold alike.
//!
//! Scale (`scripts/bench.sh ledger`, 1 000 000 events, 225 MB): `offload stats` 0.84 s and
//! 38 MB (the log folded in parallel parts), `--rebuild` 2.9 to 3.4 s and 63 MB, `doctor` 0.1 s
//! (a large log's summaries are checked by their checksums), a hook denial 3.2 ms, the
//! statusline 2.3 ms. A writer never folds more than a few MiB past the summaries on its own
//! path (a crash's zero-filled tail goes to the background rebuild). The log is neither rotated nor compacted: at a few hundred bytes per event, a year
//! of heavy use stays within these figures.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::codex::rollout::RateLimitSnapshot;
use crate::fsutil::{create_private_dir, write_atomic};
use crate::outcome::Outcome;
use crate::paths::Paths;

/// Version written in every event and summary.
pub const VERSION: u32 = 1;
/// How long a writer waits for the ledger lock by default before giving up with an error.
pub const WRITE_WAIT: Duration = Duration::from_secs(10);
/// How long a reader waits for a shared lock before reading what is there anyway.
pub const READ_WAIT: Duration = Duration::from_secs(2);

/// Token counts of an attempt (or a sum of attempts).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Tokens {
    pub input: u64,
    pub cached_input: u64,
    pub output: u64,
    pub reasoning: u64,
    /// input + output.
    pub total: u64,
}

impl Tokens {
    /// Add another count, saturating.
    pub fn add(&mut self, o: &Tokens) {
        self.input = self.input.saturating_add(o.input);
        self.cached_input = self.cached_input.saturating_add(o.cached_input);
        self.output = self.output.saturating_add(o.output);
        self.reasoning = self.reasoning.saturating_add(o.reasoning);
        self.total = self.total.saturating_add(o.total);
    }
}

/// One line of `events.jsonl`.
///
/// Read through [`RawEvent`]: one flat struct with every kind's fields, which serde parses in
/// one pass, where the derived form (`flatten` over an internally tagged enum) buffers every
/// line into an intermediate tree first and was three to four times slower on a large log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawEvent")]
pub struct Event {
    pub v: u32,
    pub ts: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    #[serde(flatten)]
    pub body: Body,
}

/// What happened. Unknown kinds (from a newer offload) read as [`Body::Unknown`] and count
/// for nothing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Body {
    /// A real user prompt began a turn.
    #[serde(rename = "turn.started")]
    TurnStarted {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        prompt_id: Option<String>,
        /// The project folder Claude Code works in (what `offload approve` matches a session by).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        project: Option<String>,
    },
    /// `offload run` is about to spawn codex.
    #[serde(rename = "attempt.started")]
    AttemptStarted(AttemptStarted),
    /// An attempt ended, however it ended.
    #[serde(rename = "attempt.finished")]
    AttemptFinished(Box<AttemptFinished>),
    /// Codex's rate limits, as read from its rollout.
    #[serde(rename = "rate_limits")]
    RateLimits(RateLimitSnapshot),
    /// The guard denied a tool call.
    #[serde(rename = "guard.denied")]
    GuardDenied {
        tool: String,
        reason: String,
        /// Recorded in warn mode: it would have been denied, and was not.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        warn: bool,
    },
    /// The user approved a native fallback.
    #[serde(rename = "approval.granted")]
    ApprovalGranted {
        source: String,
        /// The terminal `offload approve` ran in (source `terminal`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        terminal: Option<String>,
        /// Why offload cannot vouch for that terminal (see
        /// [`crate::claude_marker::judge_terminal`]): the approval holds, and the statusline
        /// and doctor flag it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unverified: Option<String>,
    },
    /// A Bash command Claude ran changed offload's own records or config behind the guard
    /// (found by the hook's check around it, see `policy::hook`): the turn stays locked.
    #[serde(rename = "guard.tamper")]
    Tamper { what: String },
    /// The review gate judged a stop of a turn that changed code (see `shared::review`).
    #[serde(rename = "review")]
    Review(Review),
    #[serde(other)]
    Unknown,
}

/// An event's time, as chrono reads it, with a fast path for the one shape offload writes
/// (`2026-11-29T12:34:56.123456789Z`): chrono's general RFC 3339 parser was a tenth of the
/// time `offload stats` spends on a large log.
fn de_timestamp<'de, D: serde::Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    struct Visit;
    impl serde::de::Visitor<'_> for Visit {
        type Value = DateTime<Utc>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an RFC 3339 time")
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<DateTime<Utc>, E> {
            match utc_timestamp(v) {
                Some(t) => Ok(t),
                None => v
                    .parse::<DateTime<chrono::FixedOffset>>()
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(E::custom),
            }
        }
    }
    d.deserialize_str(Visit)
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (or `+00:00`) read directly; `None` for any other shape
/// (which chrono then reads, or refuses).
fn utc_timestamp(s: &str) -> Option<DateTime<Utc>> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        b[from..to].iter().try_fold(0u32, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let mut i = 19;
    let mut nanos = 0u32;
    if b[i] == b'.' {
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if !(1..=9).contains(&digits) {
            return None;
        }
        nanos = num(i + 1, i + 1 + digits)? * 10u32.pow((9 - digits) as u32);
        i += 1 + digits;
    }
    if !matches!(&b[i..], b"Z" | b"+00:00") || second > 59 {
        return None;
    }
    let date = chrono::NaiveDate::from_ymd_opt(year as i32, month, day)?;
    Some(
        date.and_hms_nano_opt(hour, minute, second, nanos)?
            .and_utc(),
    )
}

/// Every field of every kind of event, as a line holds them (see [`Event`]).
#[derive(Deserialize)]
struct RawEvent {
    v: u32,
    #[serde(deserialize_with = "de_timestamp")]
    ts: DateTime<Utc>,
    #[serde(default)]
    session: Option<String>,
    kind: String,
    #[serde(default)]
    prompt_id: Option<String>,
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    attempt: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    sandbox: Option<String>,
    #[serde(default)]
    work_type: Option<String>,
    #[serde(default)]
    cwd: Option<String>,
    #[serde(default)]
    pid: Option<u32>,
    #[serde(default)]
    outcome: Option<Outcome>,
    #[serde(default)]
    exit_code: Option<u8>,
    #[serde(default)]
    codex_exit: Option<i32>,
    #[serde(default)]
    duration_ms: Option<u64>,
    #[serde(default)]
    tokens: Option<Tokens>,
    #[serde(default)]
    thread_id: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    unconfigured_codex: Option<String>,
    #[serde(default)]
    resumed_from: Option<String>,
    #[serde(default)]
    job: Option<String>,
    #[serde(default)]
    trace: Option<TraceRecord>,
    #[serde(default)]
    tool: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    warn: Option<bool>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    terminal: Option<String>,
    #[serde(default)]
    unverified: Option<String>,
    #[serde(default)]
    captured_at: Option<DateTime<Utc>>,
    #[serde(default)]
    windows: Option<Vec<crate::codex::rollout::RateWindow>>,
    #[serde(default)]
    plan_type: Option<String>,
    #[serde(default)]
    what: Option<String>,
    #[serde(default)]
    verdict: Option<ReviewVerdict>,
    #[serde(default)]
    blocked: Option<bool>,
    #[serde(default)]
    files: Option<u64>,
}

impl TryFrom<RawEvent> for Event {
    type Error = String;

    fn try_from(r: RawEvent) -> Result<Event, String> {
        fn need<T>(v: Option<T>, name: &str) -> Result<T, String> {
            v.ok_or_else(|| format!("missing field `{name}`"))
        }
        let body = match r.kind.as_str() {
            "turn.started" => Body::TurnStarted {
                prompt_id: r.prompt_id,
                project: r.project,
            },
            "attempt.started" => Body::AttemptStarted(AttemptStarted {
                attempt: need(r.attempt, "attempt")?,
                model: need(r.model, "model")?,
                sandbox: need(r.sandbox, "sandbox")?,
                work_type: r.work_type,
                cwd: need(r.cwd, "cwd")?,
                pid: r.pid.unwrap_or_default(),
                resumed_from: r.resumed_from,
            }),
            "attempt.finished" => Body::AttemptFinished(Box::new(AttemptFinished {
                attempt: need(r.attempt, "attempt")?,
                outcome: need(r.outcome, "outcome")?,
                exit_code: need(r.exit_code, "exit_code")?,
                codex_exit: r.codex_exit,
                model: need(r.model, "model")?,
                sandbox: need(r.sandbox, "sandbox")?,
                work_type: r.work_type,
                cwd: need(r.cwd, "cwd")?,
                duration_ms: need(r.duration_ms, "duration_ms")?,
                tokens: r.tokens.unwrap_or_default(),
                thread_id: r.thread_id,
                error: r.error,
                unconfigured_codex: r.unconfigured_codex,
                resumed_from: r.resumed_from,
                job: r.job,
                trace: r.trace,
            })),
            "rate_limits" => Body::RateLimits(RateLimitSnapshot {
                captured_at: r.captured_at,
                windows: r.windows.unwrap_or_default(),
                plan_type: r.plan_type,
            }),
            "guard.denied" => Body::GuardDenied {
                tool: need(r.tool, "tool")?,
                reason: need(r.reason, "reason")?,
                warn: r.warn.unwrap_or_default(),
            },
            "guard.tamper" => Body::Tamper {
                what: need(r.what, "what")?,
            },
            "review" => Body::Review(Review {
                verdict: need(r.verdict, "verdict")?,
                blocked: r.blocked.unwrap_or_default(),
                files: r.files.unwrap_or_default(),
                attempt: r.attempt,
                reason: r.reason,
            }),
            "approval.granted" => Body::ApprovalGranted {
                source: need(r.source, "source")?,
                terminal: r.terminal,
                unverified: r.unverified,
            },
            _ => Body::Unknown,
        };
        Ok(Event {
            v: r.v,
            ts: r.ts,
            session: r.session,
            body,
        })
    }
}

impl Body {
    /// Events that no summary holds: only `events.jsonl` records them (an attempt's start, the
    /// guard's denials, and kinds from a newer offload). Appending them does not rewrite the
    /// summaries, which keeps the hook's deny path as fast as its allow path and `offload run`'s
    /// first record cheap; `offload stats` counts them from the log.
    pub fn is_log_only(&self) -> bool {
        matches!(
            self,
            Body::AttemptStarted(_) | Body::GuardDenied { .. } | Body::Review(_) | Body::Unknown
        )
    }
}

/// Body of `review`: one stop the review gate judged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Review {
    pub verdict: ReviewVerdict,
    /// The stop was blocked with the findings.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub blocked: bool,
    /// Files the turn changed.
    #[serde(default)]
    pub files: u64,
    /// The review's attempt (`offload run`), when one ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<String>,
    /// Why there was no review, or what it found (first 300 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What the review gate made of a stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReviewVerdict {
    /// Codex reviewed the changes and found no problem.
    Allow,
    /// Codex reviewed the changes and found problems.
    Findings,
    /// No review happened (codex failed, timed out, answered without a verdict; the diff was
    /// too big; the project is not a git repository; …).
    Unreviewed,
    /// Not reviewed again: the turn's rounds were used up.
    Limit,
    /// Not reviewed here: the same diff was being reviewed by another hook run.
    Busy,
    /// Anything a newer offload records.
    #[serde(other)]
    Other,
}

/// Body of `attempt.started`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttemptStarted {
    pub attempt: String,
    pub model: String,
    pub sandbox: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_type: Option<String>,
    pub cwd: String,
    #[serde(default)]
    pub pid: u32,
    /// The codex thread this attempt continues (`offload run --resume`), if it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed_from: Option<String>,
}

/// Body of `attempt.finished`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttemptFinished {
    pub attempt: String,
    pub outcome: Outcome,
    /// offload's exit code for this attempt.
    pub exit_code: u8,
    /// codex's own exit code, when it exited by itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub codex_exit: Option<i32>,
    pub model: String,
    pub sandbox: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_type: Option<String>,
    pub cwd: String,
    pub duration_ms: u64,
    /// The attempt's own tokens. codex reports a resumed thread's usage cumulatively; a
    /// resumed attempt records what its turn added (see `codex::resume`), so sums over
    /// attempts are true.
    #[serde(default)]
    pub tokens: Tokens,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The codex it ran when that was not the configured one and was chosen from inside Claude
    /// Code (`CODEX_BIN` set in Claude's command): recorded, but it unlocks nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unconfigured_codex: Option<String>,
    /// The codex thread this attempt continued (`offload run --resume`), if it is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed_from: Option<String>,
    /// The background job (`offload run --background`) this attempt ran in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// The attempt's span (see `telemetry`): its ids and the trace it joined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceRecord>,
}

/// An attempt's place in a trace (W3C Trace Context ids, lowercase hex).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceRecord {
    pub trace_id: String,
    pub span_id: String,
    /// The span `offload run` was started in (Claude Code's Bash tool), when it was given one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_span_id: Option<String>,
    /// Trace flags (bit 0: sampled).
    #[serde(default)]
    pub flags: u8,
    /// `TRACESTATE`, passed along.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

impl Event {
    /// A new event stamped now.
    pub fn now(session: Option<&str>, body: Body) -> Event {
        Event {
            v: VERSION,
            ts: Utc::now(),
            session: session.map(str::to_owned),
            body,
        }
    }
}

/// All-time summary (`totals.json`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Totals {
    pub v: u32,
    /// Bytes of `events.jsonl` folded into this summary.
    pub events_len: u64,
    /// The checksum of the log's line that ends at `events_len` (see [`line_sum`]; 0 for an
    /// empty log): how a reader tells the summary still matches the log.
    pub tail_sum: u64,
    /// Event lines read (valid or not).
    pub lines: u64,
    /// Lines that were not valid events (torn by a crash, or corrupted).
    pub skipped_lines: u64,
    /// Finished attempts that succeeded or failed: `successes + failures`.
    pub attempts: u64,
    pub successes: u64,
    pub failures: u64,
    /// Attempts the user interrupted, counted apart from the three above (so a summary that
    /// holds them reads the same to a version that does not know them).
    #[serde(skip_serializing_if = "is_zero")]
    pub interrupted: u64,
    /// Tokens of every finished attempt, interrupted ones included.
    pub tokens: Tokens,
    pub turns: u64,
    pub approvals: u64,
    /// The newest Codex rate-limit snapshot recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limits: Option<RateLimitSnapshot>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_event: Option<DateTime<Utc>>,
}

/// The last finished attempt of a session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LastAttempt {
    pub attempt: String,
    pub ts: DateTime<Utc>,
    /// The session's turn number when it finished.
    pub turn: u64,
    pub outcome: Outcome,
    pub model: String,
    pub sandbox: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_type: Option<String>,
    /// Why it did not succeed (first 300 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The folder codex worked in (a success unlocks edits of the project it worked on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
}

/// An approval of a native fallback.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Approval {
    pub ts: DateTime<Utc>,
    pub turn: u64,
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unverified: Option<String>,
}

/// Per-session summary (`sessions/<id>.json`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionSummary {
    pub v: u32,
    pub session: String,
    /// End offset in `events.jsonl` of the last event folded in.
    pub events_len: u64,
    /// The checksum of that event's line (see [`line_sum`]).
    pub tail_sum: u64,
    /// Number of real user turns so far (0 before the first).
    pub turn: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub turn_started: Option<DateTime<Utc>>,
    /// Finished attempts that succeeded or failed: `successes + failures`.
    pub attempts: u64,
    pub successes: u64,
    pub failures: u64,
    /// Attempts the user interrupted, counted apart (see [`Totals::interrupted`]).
    #[serde(skip_serializing_if = "is_zero")]
    pub interrupted: u64,
    /// Tokens of every finished attempt, interrupted ones included.
    pub tokens: Tokens,
    /// The newest attempt that succeeded or failed. An interrupted attempt is never here nor
    /// in the three below: it unlocks nothing and locks nothing, so the guard passes over it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_attempt: Option<LastAttempt>,
    /// The newest attempt that succeeded and counts (ran the configured codex), of any kind,
    /// and the newest one that could write (not `read-only`): what unlocks exploration and
    /// edits. With the newest failure, the guard's verdict is a function of all the attempts,
    /// not of which finished last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_success: Option<LastAttempt>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_write_success: Option<LastAttempt>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<LastAttempt>,
    /// Set once an attempt was folded in by a version that keeps the three above; a summary
    /// without it knows only `last_attempt`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub split_outcomes: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
    /// The newest tampering the hook found in this session: (turn, when, what).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tamper: Option<(u64, DateTime<Utc>, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_event: Option<DateTime<Utc>>,
    /// Its first event folded in (summaries written before this field have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_event: Option<DateTime<Utc>>,
    /// The project of its latest turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
}

impl Totals {
    /// Fold one line of the log in: count it, and apply it if it is an event.
    pub fn count(&mut self, line: &Line<'_>) {
        self.lines = self.lines.saturating_add(1);
        match line {
            Line::Event(ev, _) => self.apply(ev),
            Line::Bad(_) => self.skipped_lines = self.skipped_lines.saturating_add(1),
        }
    }

    /// Fold one event in. Log-only events (see [`Body::is_log_only`]) change nothing.
    pub fn apply(&mut self, ev: &Event) {
        self.v = VERSION;
        if ev.body.is_log_only() {
            return;
        }
        self.last_event = Some(self.last_event.map_or(ev.ts, |t| t.max(ev.ts)));
        match &ev.body {
            Body::TurnStarted { .. } => self.turns = self.turns.saturating_add(1),
            Body::AttemptFinished(f) => {
                if f.outcome.is_interrupted() {
                    self.interrupted = self.interrupted.saturating_add(1);
                } else {
                    self.attempts = self.attempts.saturating_add(1);
                    if f.outcome.is_success() {
                        self.successes = self.successes.saturating_add(1);
                    } else {
                        self.failures = self.failures.saturating_add(1);
                    }
                }
                self.tokens.add(&f.tokens.capped());
            }
            Body::RateLimits(s) => {
                let newer = match (&self.rate_limits, s.captured_at) {
                    (Some(old), Some(new)) => old.captured_at.is_none_or(|o| new >= o),
                    _ => true,
                };
                if newer {
                    self.rate_limits = Some(s.clone());
                }
            }
            Body::ApprovalGranted { .. } => self.approvals = self.approvals.saturating_add(1),
            Body::Tamper { .. } => {}
            Body::AttemptStarted(_)
            | Body::GuardDenied { .. }
            | Body::Review(_)
            | Body::Unknown => {}
        }
    }
}

impl SessionSummary {
    /// An empty summary for a session.
    pub fn new(id: &str) -> SessionSummary {
        SessionSummary {
            v: VERSION,
            session: id.to_owned(),
            ..SessionSummary::default()
        }
    }

    /// Fold one event of this session in; `end` is its end offset in the log. Log-only events
    /// (see [`Body::is_log_only`]) leave the summary untouched.
    pub fn apply(&mut self, ev: &Event, end: u64) {
        if ev.body.is_log_only() {
            return;
        }
        self.v = VERSION;
        self.events_len = end;
        self.last_event = Some(self.last_event.map_or(ev.ts, |t| t.max(ev.ts)));
        self.first_event = Some(self.first_event.map_or(ev.ts, |t| t.min(ev.ts)));
        match &ev.body {
            Body::TurnStarted { project, .. } => {
                self.turn = self.turn.saturating_add(1);
                self.turn_started = Some(ev.ts);
                if project.is_some() {
                    self.project.clone_from(project);
                }
            }
            Body::AttemptFinished(f) => {
                self.tokens.add(&f.tokens.capped());
                if f.outcome.is_interrupted() {
                    // Counted, and passed over by the guard (see `last_attempt`).
                    self.interrupted = self.interrupted.saturating_add(1);
                    return;
                }
                self.attempts = self.attempts.saturating_add(1);
                if f.outcome.is_success() {
                    self.successes = self.successes.saturating_add(1);
                } else {
                    self.failures = self.failures.saturating_add(1);
                }
                let last = LastAttempt {
                    attempt: f.attempt.clone(),
                    ts: ev.ts,
                    turn: self.turn,
                    outcome: f.outcome,
                    model: f.model.clone(),
                    sandbox: f.sandbox.clone(),
                    work_type: f.work_type.clone(),
                    error: f.error.as_ref().map(|e| e.chars().take(300).collect()),
                    cwd: Some(f.cwd.clone()),
                };
                self.split_outcomes = true;
                if f.unconfigured_codex.is_none() {
                    if !f.outcome.is_success() {
                        self.last_failure = Some(last.clone());
                    } else {
                        if f.sandbox != "read-only" {
                            self.last_write_success = Some(last.clone());
                        }
                        self.last_success = Some(last.clone());
                    }
                }
                self.last_attempt = Some(last);
            }
            Body::ApprovalGranted {
                source,
                terminal,
                unverified,
            } => {
                self.approval = Some(Approval {
                    ts: ev.ts,
                    turn: self.turn,
                    source: source.clone(),
                    terminal: terminal.clone(),
                    unverified: unverified.clone(),
                });
            }
            Body::Tamper { what } => {
                self.tamper = Some((self.turn, ev.ts, what.clone()));
            }
            Body::RateLimits(_)
            | Body::AttemptStarted(_)
            | Body::GuardDenied { .. }
            | Body::Review(_)
            | Body::Unknown => {}
        }
    }
}

/// Why a ledger operation failed.
#[derive(Debug)]
pub enum LedgerError {
    /// The lock stayed held by someone else longer than the bounded wait; `holder` says who,
    /// when it can be seen.
    LockTimeout {
        path: PathBuf,
        waited: Duration,
        holder: Option<String>,
    },
    /// An I/O error on a named path.
    Io { path: PathBuf, source: io::Error },
    /// The events are in `events.jsonl` (durably, for those that must be), but the summaries
    /// could not be brought up to date (a full disk): the next write does it.
    SummariesBehind(Box<LedgerError>),
}

impl LedgerError {
    /// Whether the events were recorded all the same (only the summaries lag behind).
    pub fn recorded(&self) -> bool {
        matches!(self, LedgerError::SummariesBehind(_))
    }
}

impl std::fmt::Display for LedgerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LedgerError::LockTimeout {
                path,
                waited,
                holder,
            } => write!(
                f,
                "the ledger lock {} stayed held for the {:.1}s this process waited, by {}",
                path.display(),
                waited.as_secs_f64(),
                holder
                    .as_deref()
                    .unwrap_or("another process (not visible here)")
            ),
            LedgerError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            LedgerError::SummariesBehind(e) => write!(
                f,
                "recorded in the log, but its summaries could not be updated ({e}); the next write updates them"
            ),
        }
    }
}

impl std::error::Error for LedgerError {}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> LedgerError + '_ {
    move |source| LedgerError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What a full read of `events.jsonl` found.
#[derive(Clone, Debug, Default)]
pub struct LogRead {
    pub events: Vec<Event>,
    /// Non-blank lines (valid or not), not counting a torn tail.
    pub lines: u64,
    /// Complete lines that were not valid events.
    pub skipped: u64,
    /// The file ends in a partial line (a writer died mid-append, or is appending now).
    pub torn_tail: bool,
    /// Bytes read.
    pub len: u64,
}

/// The result of folding the whole log.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Folded {
    pub totals: Totals,
    pub sessions: BTreeMap<String, SessionSummary>,
}

/// What [`Ledger::rebuild`] did.
#[derive(Clone, Debug, PartialEq)]
pub struct RebuildReport {
    pub events: u64,
    pub skipped_lines: u64,
    pub sessions: usize,
    /// Whether the summaries on disk differed from the rebuilt ones.
    pub changed: bool,
    /// Whether a torn last line had to be terminated.
    pub repaired_tail: bool,
}

/// Handle on the ledger in a state folder. Cheap: no I/O until used.
#[derive(Clone, Debug)]
pub struct Ledger {
    paths: Paths,
    write_wait: Duration,
    read_wait: Duration,
}

impl Ledger {
    pub fn new(paths: Paths) -> Ledger {
        Ledger {
            paths,
            write_wait: WRITE_WAIT,
            read_wait: READ_WAIT,
        }
    }

    /// Change how long a writer waits for the lock (hooks wait less than the runner).
    pub fn with_write_wait(mut self, wait: Duration) -> Ledger {
        self.write_wait = wait;
        self
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// The all-time summary, without any lock (it is replaced atomically). `None` when absent
    /// or unreadable.
    pub fn totals(&self) -> Option<Totals> {
        let mut t: Totals = read_json(&self.paths.totals()).ok().flatten()?;
        let log = open_log_read(&self.paths.events()).ok();
        if !t.matches(log.as_ref()) {
            return None;
        }
        // Lines past the summary (appended by a writer that died before its summary update,
        // or could not write it) are folded in here too, without writing anything.
        if let Some(log) = &log
            && let Some(tail) = unfolded(log, t.events_len)
        {
            fold_lines(&tail, t.events_len, |line| t.count(&line));
        }
        Some(t)
    }

    /// A session's summary, without any lock, once it is checked against the log (see
    /// [`SessionSummary::matches`]). One that does not match (the log lost its tail, was
    /// truncated or replaced; the summary is `{}`, of the wrong shape or absurd) heals: the
    /// summaries are rebuilt from the log under the lock, and the rebuilt one is returned.
    /// `None` when there is none.
    pub fn session(&self, id: &str) -> Option<SessionSummary> {
        let path = self.paths.session(id);
        let read = read_json::<SessionSummary>(&path);
        let log = open_log_read(&self.paths.events()).ok();
        match read {
            Ok(Some(mut s)) if s.matches(id, log.as_ref()) => {
                // This session's events past its summary (see `totals`), folded in here.
                if let Some(log) = &log
                    && let Some(tail) = unfolded(log, s.events_len)
                {
                    fold_lines(&tail, s.events_len, |line| {
                        if let Line::Event(ev, end) = line
                            && !ev.body.is_log_only()
                            && ev.session.as_deref() == Some(id)
                        {
                            s.apply(ev, end);
                        }
                    });
                }
                return Some(s);
            }
            Ok(None) if !path.exists() => return None,
            _ => {}
        }
        // Heal (a failure leaves it unknown: the guard then fails closed). A large log is
        // rebuilt in the background, and the summary is unknown until then.
        let len = log
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map_or(0, |m| m.len());
        if len > INLINE_REBUILD_MAX && self.spawn_rebuild() {
            return None;
        }
        self.rebuild().ok()?;
        read_json::<SessionSummary>(&path).ok().flatten()
    }

    /// Append events and update the summaries, all inside the exclusive lock.
    pub fn append(&self, events: &[Event]) -> Result<(), LedgerError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(256 * events.len());
        for ev in events {
            serde_json::to_writer(&mut buf, ev).map_err(|e| LedgerError::Io {
                path: self.paths.events(),
                source: e.into(),
            })?;
            buf.push(b'\n');
        }
        let log_only = events.iter().all(|e| e.body.is_log_only());
        let _lock = match self.lock(true, self.write_wait) {
            Ok(l) => l,
            // Lines no summary holds (a hook's denials) are not dropped when the lock stays
            // busy: they go in as one append (`O_APPEND`: the kernel places the whole line at
            // the end, between any two other appends), and the next writer folds them in.
            Err(LedgerError::LockTimeout { .. }) if log_only && buf.len() <= 64 << 10 => {
                let path = self.paths.events();
                let mut log = open_log(&path)?;
                return log.write_all(&buf).map_err(io_err(&path));
            }
            Err(e) => return Err(e),
        };
        let events_path = self.paths.events();
        let mut log = open_log(&events_path)?;
        repair_tail(&mut log).map_err(io_err(&events_path))?;
        let before = log.metadata().map_err(io_err(&events_path))?.len();
        if let Err(e) = log.write_all(&buf) {
            // A full disk (or any failed write) leaves no part of the events behind.
            let _ = log.set_len(before);
            return Err(LedgerError::Io {
                path: events_path,
                source: e,
            });
        }
        // What decides the guard and the numbers is on disk before the writer says so: an
        // attempt's start and end, an approval, tampering (about 1 ms on an SSD). A denial is
        // not synced: a crash can lose the last ones, which only count in `offload stats`.
        if events.iter().any(|e| {
            matches!(
                e.body,
                Body::AttemptStarted(_)
                    | Body::AttemptFinished(_)
                    | Body::ApprovalGranted { .. }
                    | Body::Tamper { .. }
            )
        }) {
            log.sync_data().map_err(io_err(&events_path))?;
            if before == 0 {
                // A new log: its folder entry too.
                if let Some(dir) = events_path.parent().and_then(|d| File::open(d).ok()) {
                    let _ = dir.sync_all();
                }
            }
        }
        if events.iter().all(|e| e.body.is_log_only()) && self.paths.totals().exists() {
            // Nothing a summary holds changed: the next writer folds these lines in (as the
            // no-ops they are) when it brings the summaries forward.
            return Ok(());
        }
        // Where this append ended (an append without the lock may have landed just before it).
        let after = log
            .stream_position()
            .ok()
            .filter(|end| *end >= before + buf.len() as u64)
            .unwrap_or(before + buf.len() as u64);
        self.update_summaries(&mut log, after)
            .map_err(|e| LedgerError::SummariesBehind(Box::new(e)))
    }

    /// Bring the summaries up to `len` bytes of the log (the lock must be held).
    fn update_summaries(&self, log: &mut File, len: u64) -> Result<(), LedgerError> {
        let events_path = self.paths.events();
        let totals = match read_json::<Totals>(&self.paths.totals()) {
            Ok(Some(t)) if t.events_len <= len && t.matches(Some(log)) => Some(t),
            _ => None,
        };
        let Some(mut totals) = totals else {
            return self.rebuild_soon(log, len);
        };
        // What lies past the summaries is usually a line or two; more than a large log's worth
        // (a crash's zero-filled tail of any length) is not folded on this writer's path.
        if len - totals.events_len > INLINE_REBUILD_MAX {
            return self.rebuild_soon(log, len);
        }
        // Streamed all the same: memory stays within a chunk and the longest line.
        let file: &File = log;
        let mut sessions: BTreeMap<String, SessionSummary> = BTreeMap::new();
        let mut full = false;
        stream_range(file, totals.events_len, len, |line| {
            totals.count(&line);
            let Line::Event(ev, end) = line else { return };
            if ev.body.is_log_only() {
                return;
            }
            let Some(id) = ev.session.as_deref() else {
                return;
            };
            if !sessions.contains_key(id) {
                match read_json::<SessionSummary>(&self.paths.session(id)) {
                    Ok(None) => {
                        sessions.insert(id.to_owned(), SessionSummary::new(id));
                    }
                    Ok(Some(s)) if s.matches(id, Some(file)) => {
                        sessions.insert(id.to_owned(), s);
                    }
                    _ => {
                        full = true;
                        return;
                    }
                }
            }
            if let Some(s) = sessions.get_mut(id)
                && s.events_len < end
            {
                s.apply(ev, end);
            }
        })
        .map_err(io_err(&events_path))?;
        if full {
            return self.rebuild_soon(log, len);
        }
        totals.events_len = len;
        totals.tail_sum = sum_at(log, len).unwrap_or_default();
        for s in sessions.values_mut() {
            s.tail_sum = sum_at(log, s.events_len).unwrap_or_default();
        }
        sessions_dir(&self.paths.sessions_dir())?;
        for (id, s) in &sessions {
            write_json(&self.paths.session(id), s)?;
        }
        write_json(&self.paths.totals(), &totals)
    }

    /// Bring every summary up to `len` bytes of the log from scratch (the lock must be held):
    /// here when the log is small; for a large one, by a background `offload __rebuild`, so that
    /// no writer (the hook, `offload run`) folds a large log on its own path; meanwhile the
    /// summaries stay as they are (readers check them, and the guard fails closed on one that
    /// does not match).
    fn rebuild_soon(&self, log: &mut File, len: u64) -> Result<(), LedgerError> {
        if len > INLINE_REBUILD_MAX && self.spawn_rebuild() {
            return Ok(());
        }
        self.write_full(log).map(|_| ())
    }

    /// Start `offload __rebuild` for this state folder in the background, unless one runs
    /// already. False when it cannot be started (no `offload` beside this program).
    fn spawn_rebuild(&self) -> bool {
        use std::os::unix::process::CommandExt;
        let marker = self.paths.state_dir.join("rebuild.pid");
        let running = fs::read_to_string(&marker).ok().and_then(|t| {
            let (pid, start) = t.trim().split_once(':')?;
            let pid: u32 = pid.parse().ok()?;
            (crate::process::start_time(pid)? == start.parse::<u64>().ok()?).then_some(())
        });
        if running.is_some() {
            return true;
        }
        let Some(bin) = std::env::current_exe()
            .ok()
            .and_then(|e| Some(e.parent()?.join("offload")))
            .filter(|b| b.is_file())
        else {
            return false;
        };
        let mut cmd = std::process::Command::new(bin);
        cmd.arg("__rebuild")
            .env(crate::env::OFFLOAD_HOME, &self.paths.state_dir)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        // SAFETY: one async-signal-safe call between fork and exec: its own session, so that
        // it outlives a hook or a run that ends meanwhile.
        unsafe {
            cmd.pre_exec(|| {
                libc::setsid();
                Ok(())
            });
        }
        match cmd.spawn() {
            Ok(child) => {
                let pid = child.id();
                let start = crate::process::start_time(pid).unwrap_or(0);
                let _ = write_atomic(&marker, format!("{pid}:{start}\n").as_bytes());
                true
            }
            Err(_) => false,
        }
    }

    /// Fold the whole log and write every summary, removing orphaned session files.
    fn write_full(&self, log: &mut File) -> Result<Folded, LedgerError> {
        let events_path = self.paths.events();
        let len = log.metadata().map_err(io_err(&events_path))?.len();
        let folded = scan_file(log, len, None)
            .map_err(io_err(&events_path))?
            .folded;
        self.write_folded(&folded)?;
        Ok(folded)
    }

    /// Write every summary of a fold, removing orphaned session files and the temp files of
    /// writers killed mid-write (the lock must be held).
    fn write_folded(&self, folded: &Folded) -> Result<(), LedgerError> {
        for d in [&self.paths.state_dir, &self.paths.sessions_dir()] {
            crate::fsutil::sweep_temp_files(d, Duration::from_secs(3600));
        }
        let dir = self.paths.sessions_dir();
        sessions_dir(&dir)?;
        for (id, s) in &folded.sessions {
            write_json(&self.paths.session(id), s)?;
        }
        let keep: std::collections::HashSet<PathBuf> = folded
            .sessions
            .keys()
            .map(|id| self.paths.session(id))
            .collect();
        if let Ok(entries) = fs::read_dir(&dir) {
            for e in entries.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "json") && !keep.contains(&p) {
                    let _ = fs::remove_file(&p);
                }
            }
        }
        write_json(&self.paths.totals(), &folded.totals)
    }

    /// Recompute every summary from `events.jsonl` (`offload stats --rebuild`).
    pub fn rebuild(&self) -> Result<RebuildReport, LedgerError> {
        let events_path = self.paths.events();
        let before = self.on_disk_summaries();
        let checkpoint = Some(before.totals.events_len);
        // Fold what the log holds now without the lock (writers go on appending), then take
        // the lock only to fold what they appended meanwhile and to write the summaries.
        let early = match self.settled_len()? {
            Some((file, len)) => {
                let ino = file.metadata().map_err(io_err(&events_path))?.ino();
                Some((
                    scan_file(&file, len, checkpoint).map_err(io_err(&events_path))?,
                    ino,
                ))
            }
            None => None,
        };
        let _lock = self.lock(true, self.write_wait)?;
        let mut log = open_log(&events_path)?;
        // A torn tail is terminated when the disk allows; a full disk leaves it torn (and
        // left out), and the rebuild goes on.
        let repaired_tail = repair_tail(&mut log).unwrap_or(false);
        let meta = log.metadata().map_err(io_err(&events_path))?;
        let len = meta.len();
        let scan = match early {
            // The same file, only grown: go on from where the unlocked fold stopped.
            Some((scan, ino)) if ino == meta.ino() && scan.folded.totals.events_len <= len => {
                let mut scan =
                    scan_on(&log, scan, len, checkpoint).map_err(io_err(&events_path))?;
                seal(&mut scan.folded, &log);
                scan
            }
            _ => scan_file(&log, len, checkpoint).map_err(io_err(&events_path))?,
        };
        let changed = *scan.expected() != before;
        let folded = scan.folded;
        self.write_folded(&folded)?;
        Ok(RebuildReport {
            events: folded.totals.lines - folded.totals.skipped_lines,
            skipped_lines: folded.totals.skipped_lines,
            sessions: folded.sessions.len(),
            changed,
            repaired_tail,
        })
    }

    /// The summaries as they are on disk now (for comparison with a fold).
    pub fn on_disk_summaries(&self) -> Folded {
        let mut sessions = BTreeMap::new();
        if let Ok(entries) = fs::read_dir(self.paths.sessions_dir()) {
            for e in entries.flatten() {
                if let Ok(Some(s)) = read_json::<SessionSummary>(&e.path()) {
                    sessions.insert(s.session.clone(), s);
                }
            }
        }
        Folded {
            totals: read_json(&self.paths.totals())
                .ok()
                .flatten()
                .unwrap_or_default(),
            sessions,
        }
    }

    /// Read every event under a shared lock (waiting at most the read wait, then reading what is
    /// there). A torn last line is skipped and reported.
    pub fn read_log(&self) -> Result<LogRead, LedgerError> {
        let mut read = LogRead::default();
        let (len, torn) = self.for_each_line(|line| match line {
            Line::Event(ev, _) => {
                read.lines += 1;
                read.events.push(ev.clone());
            }
            Line::Bad(_) => {
                read.lines += 1;
                read.skipped += 1;
            }
        })?;
        read.len = len;
        read.torn_tail = torn;
        Ok(read)
    }

    /// The log's length now, taken under a shared lock held only for that (so that no append
    /// is half-way); without the lock, after the read wait, the length as it is.
    fn settled_len(&self) -> Result<Option<(File, u64)>, LedgerError> {
        let path = self.paths.events();
        let file = match open_log_read(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(LedgerError::Io { path, source: e }),
        };
        let len = {
            let _lock = self.lock(false, self.read_wait).ok();
            file.metadata().map_err(io_err(&path))?.len()
        };
        Ok(Some((file, len)))
    }

    /// Walk every complete line of the log as long as it is now, streaming, without holding
    /// the lock while parsing: appends that land meanwhile are past the length taken and are
    /// left for the next reader. Returns the length read and whether it ends in a partial line.
    pub fn for_each_line(&self, f: impl FnMut(Line<'_>)) -> Result<(u64, bool), LedgerError> {
        let Some((file, len)) = self.settled_len()? else {
            return Ok((0, false));
        };
        let torn = stream_lines(&file, len, f).map_err(io_err(&self.paths.events()))?;
        Ok((len, torn))
    }

    /// Walk the complete lines from `from` (a line start) on, at most about `max` bytes of
    /// them (always at least one line), without holding the lock while parsing. Returns the
    /// offset just past the last line walked (`from` when there is none yet) and the log's
    /// length.
    pub fn for_each_line_from(
        &self,
        from: u64,
        max: u64,
        f: impl FnMut(Line<'_>),
    ) -> Result<(u64, u64), LedgerError> {
        let path = self.paths.events();
        let Some((file, len)) = self.settled_len()? else {
            return Ok((0, 0));
        };
        if from >= len {
            return Ok((from.min(len), len));
        }
        let mut to = len.min(from.saturating_add(max.max(1)));
        let mut end = complete_len(&file, to, true).map_err(io_err(&path))?;
        // One line longer than `max`: take it whole (a line past MAX_LINE is skipped unread).
        while end <= from && to < len {
            to = len.min(to.saturating_add((MAX_LINE as u64).max(max)));
            end = complete_len(&file, to, true).map_err(io_err(&path))?;
        }
        if end <= from {
            return Ok((from, len));
        }
        stream_range(&file, from, end, f).map_err(io_err(&path))?;
        Ok((end, len))
    }

    /// The checksum of the log's line ending at `end` ([`line_sum`]; 0 for 0), or `None` when
    /// no line ends there: what a reader that keeps an offset checks the log against.
    pub fn sum_at(&self, end: u64) -> Option<u64> {
        let file = open_log_read(&self.paths.events()).ok()?;
        sum_at(&file, end)
    }

    /// Fold the log as long as it is now in `parts` parallel parts (split at line starts),
    /// each into its own `T`, in the log's order; and whether the log ends in a partial line.
    /// Like [`Ledger::for_each_line`], without holding the lock while parsing.
    pub fn fold_parts<T: Send>(
        &self,
        parts: usize,
        init: impl Fn() -> T + Sync,
        step: impl Fn(&mut T, Line<'_>) + Sync,
    ) -> Result<(Vec<T>, bool), LedgerError> {
        let path = self.paths.events();
        let Some((file, len)) = self.settled_len()? else {
            return Ok((vec![init()], false));
        };
        // Line starts near len·i/parts.
        let mut cuts = vec![0u64];
        for i in 1..parts.max(1) {
            let at = (len / parts as u64)
                .saturating_mul(i as u64)
                .max(*cuts.last().unwrap_or(&0));
            let mut buf = vec![0u8; 64 << 10];
            let mut pos = at;
            let cut = loop {
                if pos >= len {
                    break len;
                }
                let n = file.read_at(&mut buf, pos).map_err(io_err(&path))?;
                if n == 0 {
                    break len;
                }
                if let Some(i) = buf[..n].iter().position(|b| *b == b'\n') {
                    break pos + i as u64 + 1;
                }
                pos += n as u64;
            };
            cuts.push(cut);
        }
        cuts.push(len);
        let results: Vec<io::Result<(T, bool)>> = std::thread::scope(|scope| {
            let handles: Vec<_> = cuts
                .windows(2)
                .map(|w| {
                    let (from, to) = (w[0], w[1]);
                    let (file, init, step) = (&file, &init, &step);
                    scope.spawn(move || {
                        let mut t = init();
                        let torn = stream_range(file, from, to, |line| step(&mut t, line))?;
                        Ok((t, torn))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(io::Error::other("a fold panicked")))
                })
                .collect()
        });
        let mut out = Vec::new();
        let mut torn = false;
        for r in results {
            let (t, tn) = r.map_err(io_err(&path))?;
            out.push(t);
            torn = tn;
        }
        Ok((out, torn))
    }

    /// One streaming fold of the log as it is now, and the summaries on disk: what
    /// [`Ledger::verify`] compares, with the counts `offload doctor` shows.
    pub fn scan(&self) -> Result<(Scan, Folded), LedgerError> {
        let disk = self.on_disk_summaries();
        let Some((file, len)) = self.settled_len()? else {
            return Ok((
                Scan {
                    at_checkpoint: (disk.totals.events_len == 0).then(Folded::default),
                    folded: fold_bytes(b""),
                    ..Scan::default()
                },
                disk,
            ));
        };
        let scan = scan_file(&file, len, Some(disk.totals.events_len))
            .map_err(io_err(&self.paths.events()))?;
        Ok((scan, disk))
    }

    /// Fold the log as it is (read-only), for comparison with the summaries on disk (the second
    /// value): equal when the summaries are right. Log-only lines after the summaries' offset
    /// are not yet folded in, and rightly so (see [`Body::is_log_only`]).
    pub fn verify(&self) -> Result<(Folded, Folded), LedgerError> {
        let (scan, disk) = self.scan()?;
        Ok((scan.expected().clone(), disk))
    }

    fn lock(&self, exclusive: bool, wait: Duration) -> Result<LockGuard, LedgerError> {
        let dir = &self.paths.state_dir;
        create_private_dir(dir).map_err(io_err(dir))?;
        let path = self.paths.lock();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(io_err(&path))?;
        let start = Instant::now();
        let mut pause = Duration::from_micros(200);
        loop {
            let r = if exclusive {
                file.try_lock()
            } else {
                file.try_lock_shared()
            };
            match r {
                Ok(()) => return Ok(LockGuard(file)),
                Err(std::fs::TryLockError::WouldBlock) => {
                    if start.elapsed() >= wait {
                        return Err(LedgerError::LockTimeout {
                            holder: lock_holder(&file),
                            path,
                            waited: start.elapsed(),
                        });
                    }
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(LedgerError::Io { path, source: e });
                }
            }
        }
    }
}

/// Who holds the `flock` on `file`, from `/proc/locks` (Linux): its program, pid and age.
fn lock_holder(file: &File) -> Option<String> {
    let ino = file.metadata().ok()?.ino();
    let locks = fs::read_to_string("/proc/locks").ok()?;
    let pid: u32 = locks.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let at = f.iter().position(|w| *w == "FLOCK")?;
        let pid = f.get(at + 3)?;
        let dev_ino = f.get(at + 4)?;
        (dev_ino.rsplit(':').next()?.parse::<u64>().ok()? == ino)
            .then(|| pid.parse().ok())
            .flatten()
    })?;
    let cmd = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmd: Vec<String> = cmd
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .take(4)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let age = crate::process::started_at(pid)
        .and_then(|t| t.elapsed().ok())
        .map(|d| format!(", running for {:.1}s", d.as_secs_f64()))
        .unwrap_or_default();
    Some(format!("`{}` (pid {pid}{age})", cmd.join(" ")))
}

/// Holds a lock until dropped.
struct LockGuard(File);

impl Drop for LockGuard {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

fn open_log(path: &Path) -> Result<File, LedgerError> {
    let f = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(io_err(path))?;
    regular(f).map_err(io_err(path))
}

/// The log opened for reading, never blocking (a FIFO or a device put in its place is an
/// error, not a hang).
pub fn open_log_read(path: &Path) -> io::Result<File> {
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    regular(f)
}

fn regular(f: File) -> io::Result<File> {
    if f.metadata()?.file_type().is_file() {
        Ok(f)
    } else {
        Err(io::Error::other(
            "not a regular file (something was put in the ledger's place: move it away)",
        ))
    }
}

/// If the log ends in a partial line, terminate it so the next append starts clean.
/// Returns whether it did.
fn repair_tail(log: &mut File) -> io::Result<bool> {
    let len = log.metadata()?.len();
    if len == 0 {
        return Ok(false);
    }
    let mut last = [0u8; 1];
    log.read_exact_at(&mut last, len - 1)?;
    if last[0] == b'\n' {
        return Ok(false);
    }
    log.write_all(b"\n")?;
    Ok(true)
}

/// Fold a whole log (a torn last line is left out).
pub fn fold_bytes(bytes: &[u8]) -> Folded {
    let mut f = Folded::default();
    let complete = match bytes.iter().rposition(|b| *b == b'\n') {
        Some(i) => &bytes[..=i],
        None => &bytes[..0],
    };
    let totals = &mut f.totals;
    let sessions = &mut f.sessions;
    fold_lines(complete, 0, |line| {
        totals.count(&line);
        if let Line::Event(ev, end) = line
            && !ev.body.is_log_only()
            && let Some(id) = ev.session.as_deref()
        {
            sessions
                .entry(id.to_owned())
                .or_insert_with(|| SessionSummary::new(id))
                .apply(ev, end);
        }
    });
    f.totals.v = VERSION;
    f.totals.events_len = complete.len() as u64;
    let sum = |end: u64| {
        let end = end as usize;
        let start = complete[..end.saturating_sub(1)]
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1);
        if end == 0 {
            0
        } else {
            line_sum(&complete[start..end])
        }
    };
    f.totals.tail_sum = sum(f.totals.events_len);
    for s in f.sessions.values_mut() {
        s.tail_sum = sum(s.events_len);
    }
    f
}

/// One complete, non-blank line of the log.
pub enum Line<'a> {
    /// A valid event and the log offset just past its newline.
    Event(&'a Event, u64),
    /// Not a valid event (torn by a crash, corrupted, or not JSON), and the log offset just
    /// past its newline (0 for an overlong line skipped unread).
    Bad(u64),
}

/// Walk the complete lines of `bytes` (which starts at log offset `base`). A final segment
/// without a newline is ignored: it is a torn tail, or an append in progress.
fn fold_lines(bytes: &[u8], base: u64, mut f: impl FnMut(Line<'_>)) {
    let mut start = 0usize;
    while let Some(rel) = bytes[start..].iter().position(|b| *b == b'\n') {
        let line = &bytes[start..start + rel];
        let end = base + (start + rel + 1) as u64;
        start += rel + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Event>(line) {
            Ok(ev) => f(Line::Event(&ev, end)),
            Err(_) => f(Line::Bad(end)),
        }
    }
}

/// Logs larger than this (8 MiB, some 35 000 events) are not rebuilt on a writer's or a
/// reader's own path (see [`Ledger::rebuild_soon`]).
pub const INLINE_REBUILD_MAX: u64 = 8 << 20;

/// How much of the log a streaming read holds in memory at once.
const CHUNK: usize = 8 << 20;
/// A line longer than this is not an event offload wrote: it is skipped as a bad line without
/// being held in memory.
const MAX_LINE: usize = 64 << 20;

/// Walk the complete lines of the first `upto` bytes of `file`, in chunks (memory bounded by
/// [`CHUNK`] plus the longest line, at most [`MAX_LINE`]). Returns whether the range ends in a
/// partial line (a torn tail, or an append in progress).
fn stream_lines(file: &File, upto: u64, f: impl FnMut(Line<'_>)) -> io::Result<bool> {
    stream_range(file, 0, upto, f)
}

/// [`stream_lines`] from offset `from` (the start of a line) to `upto`.
fn stream_range(
    file: &File,
    from: u64,
    upto: u64,
    mut f: impl FnMut(Line<'_>),
) -> io::Result<bool> {
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK.min(upto.saturating_sub(from) as usize) + 1);
    let mut pos = from; // file offset of buf[0]
    let mut read_to = from; // file offset just past what buf holds
    let mut skipping = false; // inside an overlong line: drop bytes up to its newline
    while read_to < upto {
        let want = (CHUNK as u64).min(upto - read_to) as usize;
        let old = buf.len();
        buf.resize(old + want, 0);
        let n = file.read_at(&mut buf[old..], read_to)?;
        buf.truncate(old + n);
        if n == 0 {
            break;
        }
        read_to += n as u64;
        if skipping {
            match buf.iter().position(|b| *b == b'\n') {
                Some(i) => {
                    f(Line::Bad(0));
                    buf.drain(..=i);
                    pos += i as u64 + 1;
                    skipping = false;
                }
                None => {
                    pos += buf.len() as u64;
                    buf.clear();
                    continue;
                }
            }
        }
        if let Some(last) = buf.iter().rposition(|b| *b == b'\n') {
            fold_lines(&buf[..=last], pos, &mut f);
            buf.drain(..=last);
            pos += last as u64 + 1;
        }
        if buf.len() > MAX_LINE {
            pos += buf.len() as u64;
            buf.clear();
            skipping = true;
        }
    }
    Ok(skipping || !buf.is_empty())
}

/// A fold of the log in one streaming pass: the whole of it, and (when asked) the fold of the
/// prefix that ends at a given offset, which is what summaries claiming that offset should be.
#[derive(Clone, Debug, Default)]
pub struct Scan {
    pub folded: Folded,
    /// The fold at the checkpoint, when the checkpoint fell on a line boundary.
    pub at_checkpoint: Option<Folded>,
    /// A line after the checkpoint that a summary holds (or a bad one).
    pub tail_matters: bool,
    /// Bytes scanned.
    pub len: u64,
    /// The scanned range ends in a partial line.
    pub torn_tail: bool,
    /// Valid events seen.
    pub events: u64,
}

impl Scan {
    /// What the summaries on disk should be if they claim the checkpoint (see
    /// [`Ledger::verify`]).
    pub fn expected(&self) -> &Folded {
        match &self.at_checkpoint {
            Some(f) if !self.tail_matters => f,
            _ => &self.folded,
        }
    }
}

/// Fold `upto` bytes of `file` into summaries, one streaming pass; `checkpoint` as in [`Scan`].
fn scan_file(file: &File, upto: u64, checkpoint: Option<u64>) -> io::Result<Scan> {
    let scan = Scan {
        at_checkpoint: (checkpoint == Some(0)).then(Folded::default),
        ..Scan::default()
    };
    scan_on(file, scan, upto, checkpoint)
}

/// Go on folding `scan` (which covers the log up to its totals' `events_len`) up to `upto`.
fn scan_on(file: &File, mut scan: Scan, upto: u64, checkpoint: Option<u64>) -> io::Result<Scan> {
    let from = scan.folded.totals.events_len;
    let mut complete = from;
    let torn = {
        let Scan {
            folded,
            at_checkpoint,
            tail_matters,
            events,
            ..
        } = &mut scan;
        stream_range(file, from, upto, |line| {
            let end = match &line {
                Line::Event(_, end) => Some(*end),
                Line::Bad(end) => (*end > 0).then_some(*end),
            };
            let past = checkpoint.is_some_and(|c| complete >= c);
            if past {
                *tail_matters |= match &line {
                    Line::Event(ev, _) => !ev.body.is_log_only(),
                    Line::Bad(_) => true,
                };
            }
            folded.totals.count(&line);
            if let Line::Event(ev, end) = line {
                *events += 1;
                if !ev.body.is_log_only()
                    && let Some(id) = ev.session.as_deref()
                {
                    folded
                        .sessions
                        .entry(id.to_owned())
                        .or_insert_with(|| SessionSummary::new(id))
                        .apply(ev, end);
                }
            }
            if let Some(e) = end {
                complete = e;
                if checkpoint == Some(e) {
                    let mut snap = folded.clone();
                    snap.totals.v = VERSION;
                    snap.totals.events_len = e;
                    *at_checkpoint = Some(snap);
                }
            }
        })?
    };
    scan.len = upto;
    scan.torn_tail = torn;
    scan.folded.totals.v = VERSION;
    scan.folded.totals.events_len = complete_len(file, upto, torn)?;
    seal(&mut scan.folded, file);
    if let Some(at) = &mut scan.at_checkpoint {
        seal(at, file);
    }
    Ok(scan)
}

/// The offset just past the last newline within `upto` bytes.
fn complete_len(file: &File, upto: u64, torn: bool) -> io::Result<u64> {
    if !torn {
        return Ok(upto);
    }
    let mut end = upto;
    let mut buf = vec![0u8; 64 << 10];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let n = (end - start) as usize;
        file.read_exact_at(&mut buf[..n], start)?;
        if let Some(i) = buf[..n].iter().rposition(|b| *b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

/// The log's complete lines past `from` (a line start), when there are some and they are at
/// most 4 MiB (more is left to the next writer, which folds it under the lock).
fn unfolded(log: &File, from: u64) -> Option<Vec<u8>> {
    let len = log.metadata().ok()?.len();
    if len <= from || len - from > 4 << 20 {
        return None;
    }
    let mut buf = vec![0u8; (len - from) as usize];
    log.read_exact_at(&mut buf, from).ok()?;
    let end = buf.iter().rposition(|b| *b == b'\n')? + 1;
    buf.truncate(end);
    Some(buf)
}

/// The checksum a summary keeps of the last line it folded in: FNV-1a (64 bits) of the line's
/// bytes, its newline included. Not a defence against a forger (that is the hook's business),
/// a check that the log under the summary is still the log it was folded from.
pub fn line_sum(line: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in line {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The checksum of the log's line that ends at offset `end` (0 for `end` 0); `None` when no
/// line ends there (the log is shorter, or `end` falls inside a line) or it cannot be read.
/// One read of at most 1 MiB before `end`.
fn sum_at(file: &File, end: u64) -> Option<u64> {
    if end == 0 {
        return Some(0);
    }
    let len = file.metadata().ok()?.len();
    if end > len {
        return None;
    }
    let mut last = [0u8; 1];
    file.read_exact_at(&mut last, end - 1).ok()?;
    if last[0] != b'\n' {
        return None;
    }
    let mut window = 4096u64;
    loop {
        let start = end.saturating_sub(window);
        let mut buf = vec![0u8; (end - start) as usize];
        file.read_exact_at(&mut buf, start).ok()?;
        // The newline ending the line before, if it is in the window.
        let body = &buf[..buf.len() - 1];
        if let Some(i) = body.iter().rposition(|b| *b == b'\n') {
            return Some(line_sum(&buf[i + 1..]));
        }
        if start == 0 {
            return Some(line_sum(&buf));
        }
        if window >= 1 << 20 {
            return None;
        }
        window *= 16;
    }
}

/// Set the checksums of a fold's summaries from the log they were folded from.
fn seal(folded: &mut Folded, file: &File) {
    folded.totals.tail_sum = sum_at(file, folded.totals.events_len).unwrap_or_default();
    for s in folded.sessions.values_mut() {
        s.tail_sum = sum_at(file, s.events_len).unwrap_or_default();
    }
}

/// A cap on any one attempt's tokens (a thousand billion): no codex reports more, and a
/// summary's token sums cannot exceed it per attempt.
pub const MAX_ATTEMPT_TOKENS: u64 = 1_000_000_000_000;

impl Tokens {
    /// Each figure capped at [`MAX_ATTEMPT_TOKENS`].
    pub fn capped(self) -> Tokens {
        let c = |v: u64| v.min(MAX_ATTEMPT_TOKENS);
        Tokens {
            input: c(self.input),
            cached_input: c(self.cached_input),
            output: c(self.output),
            reasoning: c(self.reasoning),
            total: c(self.total),
        }
    }

    /// Whether sums of `attempts` attempts can be these figures.
    fn plausible(&self, attempts: u64) -> bool {
        let max = attempts.saturating_mul(MAX_ATTEMPT_TOKENS);
        [
            self.input,
            self.cached_input,
            self.output,
            self.reasoning,
            self.total,
        ]
        .iter()
        .all(|v| *v <= max)
    }
}

impl Totals {
    /// Whether this summary can be true of some log (versions, and counters no larger than
    /// the lines it claims: every line is at least two bytes).
    pub fn plausible(&self) -> bool {
        self.v == VERSION
            && self.lines <= self.events_len / 2
            && self.skipped_lines <= self.lines
            && self.attempts <= self.lines
            && self.turns <= self.lines
            && self.approvals <= self.lines
            && self.interrupted <= self.lines
            && self.successes.checked_add(self.failures) == Some(self.attempts)
            && self
                .tokens
                .plausible(self.attempts.saturating_add(self.interrupted))
    }

    /// Whether it is plausible and still matches `log` (the line at its offset is the one it
    /// folded last). Without a log, only an empty summary matches.
    pub fn matches(&self, log: Option<&File>) -> bool {
        self.plausible()
            && match log {
                Some(f) => sum_at(f, self.events_len) == Some(self.tail_sum),
                None => self.events_len == 0,
            }
    }
}

impl SessionSummary {
    /// Whether this summary can be the session `id`'s, of some log.
    pub fn plausible(&self, id: &str) -> bool {
        let lines = self.events_len / 2;
        self.v == VERSION
            && self.session == id
            && self.events_len > 0
            && self.turn <= lines
            && self.attempts <= lines
            && self.interrupted <= lines
            && self.successes.checked_add(self.failures) == Some(self.attempts)
            && self
                .tokens
                .plausible(self.attempts.saturating_add(self.interrupted))
            && self.approval.as_ref().is_none_or(|a| a.turn <= self.turn)
    }

    /// Whether it is plausible and still matches `log`.
    pub fn matches(&self, id: &str, log: Option<&File>) -> bool {
        self.plausible(id) && log.is_some_and(|f| sum_at(f, self.events_len) == Some(self.tail_sum))
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, ()> {
    // Never blocks (a FIFO in a summary's place) and never reads without bound: anything but
    // a regular file of at most 64 MiB is a summary to heal.
    match crate::fsutil::read_regular(path, 64 << 20) {
        Ok(Some(b)) => serde_json::from_slice(&b).map(Some).map_err(|_| ()),
        Ok(None) => Err(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(_) => Err(()),
    }
}

/// The folder of the session summaries, made if missing; something else in its place (a file,
/// a link, a FIFO) is kept aside (nothing is lost) and the folder made.
fn sessions_dir(dir: &Path) -> Result<(), LedgerError> {
    if fs::symlink_metadata(dir).is_ok_and(|m| !m.is_dir()) {
        let aside = dir.with_extension(format!("aside-{}", Utc::now().format("%Y%m%dT%H%M%S%.3f")));
        fs::rename(dir, &aside).map_err(io_err(dir))?;
    }
    create_private_dir(dir).map_err(io_err(dir))
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), LedgerError> {
    let mut bytes = serde_json::to_vec(value).map_err(|e| LedgerError::Io {
        path: path.to_path_buf(),
        source: e.into(),
    })?;
    bytes.push(b'\n');
    if fs::symlink_metadata(path).is_ok_and(|m| !m.is_file()) {
        // Something put a folder (or a FIFO, a link) where a summary goes: kept aside
        // (nothing is lost), replaced.
        let aside = path.with_extension(format!(
            "json.aside-{}",
            Utc::now().format("%Y%m%dT%H%M%S%.3f")
        ));
        fs::rename(path, &aside).map_err(io_err(path))?;
    }
    write_atomic(path, &bytes).map_err(io_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path reads what chrono reads, and leaves every other shape to chrono.
    #[test]
    fn event_times_read_as_chrono_reads_them() {
        let chrono = |s: &str| {
            s.parse::<DateTime<chrono::FixedOffset>>()
                .ok()
                .map(|t| t.with_timezone(&Utc))
        };
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let secs = (next() % 8_000_000_000) as i64 - 1_000_000_000;
            let t = DateTime::from_timestamp(secs, (next() % 1_000_000_000) as u32).unwrap();
            for s in [
                t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, false),
                serde_json::to_value(t)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_string(),
            ] {
                assert_eq!(utc_timestamp(&s), chrono(&s), "{s}");
                assert!(utc_timestamp(&s).is_some(), "the fast path reads {s}");
            }
        }
        for s in [
            "2026-11-29T12:34:56Z",
            "2026-11-29T12:34:56.5Z",
            "2026-02-29T12:34:56Z",
            "2024-02-29T23:59:59.999999999Z",
            "2026-11-29T24:00:00Z",
            "2026-11-29T12:60:00Z",
            "2026-11-29T12:34:60Z",
            "2026-13-01T00:00:00Z",
            "2026-11-29t12:34:56z",
            "2026-11-29 12:34:56Z",
            "2026-11-29T12:34:56.Z",
            "2026-11-29T12:34:56.1234567891Z",
            "2026-11-29T12:34:56+01:00",
            "2026-11-29T12:34:56-00:00",
            "2026-11-29T12:34:56Zjunk",
            "+2026-11-29T12:34:56Z",
            "2026-1-29T12:34:56Z",
            "٢٠٢٦-11-29T12:34:56Z",
        ] {
            let fast = utc_timestamp(s);
            if fast.is_some() {
                assert_eq!(fast, chrono(s), "{s}");
            }
            let line = format!(r#"{{"v":1,"ts":"{s}","kind":"turn.started"}}"#);
            let read = serde_json::from_str::<Event>(&line).ok().map(|e| e.ts);
            assert_eq!(read, chrono(s), "{s}");
        }
    }

    #[test]
    fn every_kind_of_event_reads_back_as_written() {
        use crate::codex::rollout::RateWindow;
        let bodies = vec![
            Body::TurnStarted {
                prompt_id: Some("p".into()),
                project: Some("/w".into()),
            },
            Body::TurnStarted {
                prompt_id: None,
                project: None,
            },
            Body::AttemptStarted(AttemptStarted {
                attempt: "a".into(),
                model: "m".into(),
                sandbox: "read-only".into(),
                work_type: Some("explore".into()),
                cwd: "/w".into(),
                pid: 7,
                resumed_from: Some("t0".into()),
            }),
            Body::AttemptFinished(Box::new(AttemptFinished {
                attempt: "a".into(),
                outcome: Outcome::Timeout,
                exit_code: 12,
                codex_exit: Some(-1),
                model: "m".into(),
                sandbox: "workspace-write".into(),
                work_type: None,
                cwd: "/w".into(),
                duration_ms: 5,
                tokens: Tokens {
                    input: 1,
                    cached_input: 2,
                    output: 3,
                    reasoning: 4,
                    total: 5,
                },
                thread_id: Some("t".into()),
                error: Some("e".into()),
                unconfigured_codex: Some("/tmp/c".into()),
                resumed_from: Some("t".into()),
                job: None,
                trace: None,
            })),
            Body::RateLimits(RateLimitSnapshot {
                captured_at: Some(Utc::now()),
                windows: vec![RateWindow {
                    used_percent: 12.5,
                    window_minutes: 300,
                    resets_at: Some(1_795_000_000),
                }],
                plan_type: Some("plus".into()),
            }),
            Body::GuardDenied {
                tool: "Edit".into(),
                reason: "r".into(),
                warn: true,
            },
            Body::ApprovalGranted {
                source: "terminal".into(),
                terminal: Some("/dev/pts/1".into()),
                unverified: Some("why".into()),
            },
            Body::Review(Review {
                verdict: ReviewVerdict::Findings,
                blocked: true,
                files: 2,
                attempt: Some("a".into()),
                reason: Some("- src/lib.rs:1: bug".into()),
            }),
            Body::Review(Review {
                verdict: ReviewVerdict::Unreviewed,
                blocked: false,
                files: 0,
                attempt: None,
                reason: None,
            }),
        ];
        for body in bodies {
            let ev = Event::now(Some("s"), body);
            let line = serde_json::to_string(&ev).unwrap();
            assert_eq!(serde_json::from_str::<Event>(&line).unwrap(), ev, "{line}");
        }
        // A kind from a newer offload reads as Unknown; a known kind missing a field is bad.
        let unknown: Event =
            serde_json::from_str(r#"{"v":1,"ts":"2026-11-01T00:00:00Z","kind":"x.y","z":1}"#)
                .unwrap();
        assert_eq!(unknown.body, Body::Unknown);
        // A verdict from a newer offload reads as Other.
        let review: Event = serde_json::from_str(
            r#"{"v":1,"ts":"2026-11-01T00:00:00Z","kind":"review","verdict":"maybe"}"#,
        )
        .unwrap();
        assert!(
            matches!(&review.body, Body::Review(r) if r.verdict == ReviewVerdict::Other && !r.blocked)
        );
        assert!(
            serde_json::from_str::<Event>(
                r#"{"v":1,"ts":"2026-11-01T00:00:00Z","kind":"guard.denied","tool":"Edit"}"#
            )
            .is_err()
        );
        assert!(serde_json::from_str::<Event>(r#"{"v":1,"kind":"turn.started"}"#).is_err());
        // Lines written before attempts could continue a thread read as new threads.
        let old: Event = serde_json::from_str(
            r#"{"v":1,"ts":"2026-11-01T00:00:00Z","session":"s","kind":"attempt.finished","attempt":"a","outcome":"success","exit_code":0,"model":"m","sandbox":"read-only","cwd":"/w","duration_ms":1,"tokens":{"input":10,"cached_input":0,"output":1,"reasoning":0,"total":11},"thread_id":"t"}"#,
        )
        .unwrap();
        let Body::AttemptFinished(f) = old.body else {
            panic!("{old:?}")
        };
        assert_eq!((f.resumed_from, f.tokens.total), (None, 11));
        let old: Event = serde_json::from_str(
            r#"{"v":1,"ts":"2026-11-01T00:00:00Z","kind":"attempt.started","attempt":"a","model":"m","sandbox":"read-only","cwd":"/w","pid":3}"#,
        )
        .unwrap();
        assert!(matches!(
            old.body,
            Body::AttemptStarted(AttemptStarted {
                resumed_from: None,
                ..
            })
        ));
    }

    fn ledger() -> (tempfile::TempDir, Ledger) {
        let dir = tempfile::tempdir().unwrap();
        let l = Ledger::new(Paths::in_folder(dir.path().join("state")));
        (dir, l)
    }

    fn finished(session: &str, n: u64, outcome: Outcome) -> Event {
        Event::now(
            Some(session),
            Body::AttemptFinished(Box::new(AttemptFinished {
                unconfigured_codex: None,
                attempt: format!("a{n}"),
                outcome,
                exit_code: outcome.exit_code(true),
                codex_exit: Some(0),
                model: "gpt-5.3-codex".into(),
                sandbox: "read-only".into(),
                work_type: None,
                cwd: "/w".into(),
                duration_ms: 10,
                tokens: Tokens {
                    input: 100 * n,
                    cached_input: 0,
                    output: n,
                    reasoning: 0,
                    total: 101 * n,
                },
                thread_id: None,
                error: None,
                resumed_from: None,
                job: None,
                trace: None,
            })),
        )
    }

    fn assert_consistent(l: &Ledger) {
        let (folded, disk) = l.verify().unwrap();
        assert_eq!(folded, disk, "summaries on disk equal a fold of the log");
    }

    fn denied(session: &str) -> Event {
        Event::now(
            Some(session),
            Body::GuardDenied {
                tool: "Edit".into(),
                reason: "route-first".into(),
                warn: false,
            },
        )
    }

    /// Every way a summary can disagree with the log heals on the next read or write, and the
    /// numbers are the log's again.
    #[test]
    fn summaries_that_no_longer_match_the_log_heal() {
        type Harm = Box<dyn Fn(&Ledger)>;
        let damage: Vec<(&str, Harm)> = vec![
            // An append lost to a crash: the last two lines gone.
            (
                "lost tail",
                Box::new(|l: &Ledger| {
                    let text = std::fs::read_to_string(l.paths.events()).unwrap();
                    let lines: Vec<&str> = text.lines().collect();
                    let kept = lines[..lines.len() - 2].join("\n") + "\n";
                    std::fs::write(l.paths.events(), kept).unwrap();
                }),
            ),
            (
                "zero-filled tail",
                Box::new(|l: &Ledger| {
                    let len = std::fs::metadata(l.paths.events()).unwrap().len();
                    let f = OpenOptions::new()
                        .write(true)
                        .open(l.paths.events())
                        .unwrap();
                    f.write_all_at(&vec![0u8; 300], len - 300).unwrap();
                }),
            ),
            (
                "truncated",
                Box::new(|l: &Ledger| {
                    let f = OpenOptions::new()
                        .write(true)
                        .open(l.paths.events())
                        .unwrap();
                    f.set_len(0).unwrap();
                }),
            ),
            (
                "session {}",
                Box::new(|l: &Ledger| std::fs::write(l.paths.session("s1"), "{}").unwrap()),
            ),
            (
                "session []",
                Box::new(|l: &Ledger| std::fs::write(l.paths.session("s1"), "[]").unwrap()),
            ),
            (
                "session of another id",
                Box::new(|l: &Ledger| {
                    let mut s = l.session("s1").unwrap();
                    s.session = "s2".into();
                    std::fs::write(l.paths.session("s1"), serde_json::to_vec(&s).unwrap()).unwrap();
                }),
            ),
            (
                "absurd counters",
                Box::new(|l: &Ledger| {
                    let mut t: Totals = read_json(&l.paths.totals()).unwrap().unwrap();
                    t.attempts = u64::MAX;
                    t.tokens.total = u64::MAX;
                    std::fs::write(l.paths.totals(), serde_json::to_vec(&t).unwrap()).unwrap();
                    let mut s: SessionSummary = read_json(&l.paths.session("s1")).unwrap().unwrap();
                    s.successes = u64::MAX;
                    std::fs::write(l.paths.session("s1"), serde_json::to_vec(&s).unwrap()).unwrap();
                }),
            ),
            (
                "events_len 0",
                Box::new(|l: &Ledger| {
                    let mut t: Totals = read_json(&l.paths.totals()).unwrap().unwrap();
                    t.events_len = 0;
                    t.tail_sum = 0;
                    std::fs::write(l.paths.totals(), serde_json::to_vec(&t).unwrap()).unwrap();
                }),
            ),
            (
                "a folder in place",
                Box::new(|l: &Ledger| {
                    std::fs::remove_file(l.paths.totals()).unwrap();
                    std::fs::create_dir(l.paths.totals()).unwrap();
                    std::fs::remove_file(l.paths.session("s1")).unwrap();
                    std::fs::create_dir(l.paths.session("s1")).unwrap();
                }),
            ),
            (
                "a FIFO in place",
                Box::new(|l: &Ledger| {
                    for p in [l.paths.totals(), l.paths.session("s1")] {
                        std::fs::remove_file(&p).unwrap();
                        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
                        // SAFETY: a plain call with a valid path.
                        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
                    }
                }),
            ),
            (
                "rotated",
                Box::new(|l: &Ledger| {
                    std::fs::rename(l.paths.events(), l.paths.events().with_extension("old"))
                        .unwrap();
                    let ev = serde_json::to_string(&finished("s9", 9, Outcome::Success)).unwrap();
                    std::fs::write(l.paths.events(), ev + "\n").unwrap();
                }),
            ),
        ];
        for (what, harm) in damage {
            let (_d, l) = ledger();
            for n in 1..=4 {
                l.append(&[finished("s1", n, Outcome::Success)]).unwrap();
            }
            harm(&l);
            // The next writers: six denials (log-only) and one attempt.
            for _ in 0..6 {
                l.append(&[denied("s1")]).unwrap();
            }
            l.append(&[finished("s1", 5, Outcome::Failed)]).unwrap();
            assert_consistent(&l);
            let t = l.totals().expect(what);
            let read = l.read_log().unwrap();
            let attempts = read
                .events
                .iter()
                .filter(|e| matches!(e.body, Body::AttemptFinished(_)))
                .count() as u64;
            assert_eq!(t.attempts, attempts, "{what}: totals equal the log");
            assert!(t.tokens.total < 10_000, "{what}: {:?}", t.tokens);
            let s = l.session("s1").expect(what);
            let mine = read
                .events
                .iter()
                .filter(|e| e.session.as_deref() == Some("s1"))
                .filter(|e| matches!(e.body, Body::AttemptFinished(_)))
                .count() as u64;
            assert_eq!(s.attempts, mine, "{what}: the session equals the log");
        }
    }

    /// Readers never hold the lock while they parse: a writer appends while a reader is in
    /// the middle of the log. A writer that does time out says who holds the lock.
    #[test]
    fn readers_do_not_block_writers_and_a_stuck_lock_is_named() {
        let (_d, l) = ledger();
        for n in 1..=3 {
            l.append(&[finished("s1", n, Outcome::Success)]).unwrap();
        }
        let mut appended_while_reading = None;
        l.for_each_line(|_| {
            if appended_while_reading.is_none() {
                let w = l.clone().with_write_wait(Duration::from_millis(200));
                let t = Instant::now();
                w.append(&[finished("s1", 9, Outcome::Success)]).unwrap();
                appended_while_reading = Some(t.elapsed());
            }
        })
        .unwrap();
        assert!(appended_while_reading.unwrap() < Duration::from_millis(200));
        let held = l.lock(true, Duration::from_secs(1)).unwrap();
        let w = l.clone().with_write_wait(Duration::from_millis(100));
        let e = w
            .append(&[finished("s1", 10, Outcome::Success)])
            .unwrap_err()
            .to_string();
        // The holder is named from /proc/locks (seen missing once under a heavily parallel
        // test run, hence either form).
        assert!(
            e.contains("ledger.lock stayed held")
                && (e.contains(&format!("pid {}", std::process::id()))
                    || e.contains("another process")),
            "{e}"
        );
        // A denial is not dropped: it goes in as one append without the lock.
        w.append(&[denied("s1")]).unwrap();
        drop(held);
        w.append(&[finished("s1", 11, Outcome::Success)]).unwrap();
        let read = l.read_log().unwrap();
        let denials = read
            .events
            .iter()
            .filter(|e| matches!(e.body, Body::GuardDenied { .. }))
            .count();
        assert_eq!((denials, read.skipped), (1, 0));
        assert_consistent(&l);
    }

    /// An attempt that reached the log but not the summaries (its writer died between the
    /// two, or the disk was full for the summaries) counts at once for readers, and the next
    /// writer folds it in for good.
    #[test]
    fn lines_past_the_summaries_count_for_readers_at_once() {
        let (_d, l) = ledger();
        for n in 1..=2 {
            l.append(&[finished("s1", n, Outcome::Success)]).unwrap();
        }
        let mut line = serde_json::to_vec(&finished("s1", 3, Outcome::Success)).unwrap();
        line.push(b'\n');
        OpenOptions::new()
            .append(true)
            .open(l.paths.events())
            .unwrap()
            .write_all(&line)
            .unwrap();
        assert_eq!(l.session("s1").unwrap().attempts, 3);
        assert_eq!(l.totals().unwrap().attempts, 3);
        l.append(&[denied("s1")]).unwrap();
        l.append(&[finished("s1", 4, Outcome::Success)]).unwrap();
        assert_consistent(&l);
        assert_eq!(l.session("s1").unwrap().attempts, 4);
    }

    /// A reader heals too: a session summary that no longer matches is rebuilt when read.
    #[test]
    fn a_reader_heals_a_summary_that_no_longer_matches() {
        let (_d, l) = ledger();
        for n in 1..=3 {
            l.append(&[finished("s1", n, Outcome::Success)]).unwrap();
        }
        let text = std::fs::read_to_string(l.paths.events()).unwrap();
        let first_two: String = text.lines().take(2).map(|x| format!("{x}\n")).collect();
        std::fs::write(l.paths.events(), first_two).unwrap();
        assert_eq!(l.totals(), None, "an unchecked total is not shown");
        assert_eq!(l.session("s1").unwrap().attempts, 2, "healed on read");
        assert_eq!(l.totals().unwrap().attempts, 2);
        // Counters saturate instead of wrapping.
        let mut t = Totals {
            v: VERSION,
            lines: u64::MAX,
            ..Totals::default()
        };
        t.count(&Line::Bad(1));
        assert_eq!(t.lines, u64::MAX);
    }

    #[test]
    fn event_line_shape() {
        let ev = Event::now(
            Some("s1"),
            Body::TurnStarted {
                prompt_id: None,
                project: None,
            },
        );
        let line = serde_json::to_string(&ev).unwrap();
        assert!(line.starts_with("{\"v\":1,\"ts\":\""), "{line}");
        assert!(
            line.ends_with(",\"session\":\"s1\",\"kind\":\"turn.started\"}"),
            "{line}"
        );
        let back: Event = serde_json::from_str(&line).unwrap();
        assert_eq!(back, ev);
    }

    #[test]
    fn unknown_kinds_read_and_count_for_nothing() {
        let ev: Event = serde_json::from_str(
            r#"{"v":2,"ts":"2026-11-24T06:00:00Z","session":"s","kind":"future.thing","x":[1]}"#,
        )
        .unwrap();
        assert_eq!(ev.body, Body::Unknown);
        let mut t = Totals::default();
        t.apply(&ev);
        assert_eq!((t.attempts, t.turns), (0, 0));
    }

    #[test]
    fn append_updates_totals_and_sessions() {
        let (_d, l) = ledger();
        l.append(&[
            Event::now(
                Some("s1"),
                Body::TurnStarted {
                    prompt_id: None,
                    project: None,
                },
            ),
            finished("s1", 1, Outcome::Success),
        ])
        .unwrap();
        l.append(&[
            finished("s2", 2, Outcome::Failed),
            finished("s1", 3, Outcome::Limited),
        ])
        .unwrap();
        l.append(&[finished("", 4, Outcome::Success)]).unwrap();
        let mut sessionless = finished("x", 5, Outcome::Success);
        sessionless.session = None;
        l.append(&[sessionless]).unwrap();
        let t = l.totals().unwrap();
        assert_eq!((t.attempts, t.successes, t.failures), (5, 3, 2));
        assert_eq!(t.tokens.total, 101 * 15);
        let s1 = l.session("s1").unwrap();
        assert_eq!(
            (s1.attempts, s1.successes, s1.failures, s1.turn),
            (2, 1, 1, 1)
        );
        assert_eq!(s1.tokens.input, 400);
        let last = s1.last_attempt.unwrap();
        assert_eq!(
            (last.attempt.as_str(), last.outcome, last.turn),
            ("a3", Outcome::Limited, 1)
        );
        assert_eq!(l.session("s2").unwrap().failures, 1);
        assert!(l.session("nobody").is_none());
        assert_consistent(&l);
    }

    /// An interrupted attempt is counted apart: not in S/F, never the last attempt, its
    /// tokens counted; the summaries stay what an older reader expects (`successes +
    /// failures == attempts`). An outcome from a newer offload reads, as a failure.
    #[test]
    fn interrupted_attempts_are_counted_apart_and_unknown_outcomes_read() {
        let (_d, l) = ledger();
        l.append(&[finished("s1", 1, Outcome::Failed)]).unwrap();
        l.append(&[finished("s1", 2, Outcome::Interrupted)])
            .unwrap();
        let s = l.session("s1").unwrap();
        assert_eq!(
            (s.attempts, s.successes, s.failures, s.interrupted),
            (1, 0, 1, 1)
        );
        assert_eq!(s.tokens.input, 300, "an interrupted attempt's tokens count");
        assert_eq!(s.last_attempt.as_ref().unwrap().attempt, "a1");
        assert_eq!(s.last_failure.as_ref().unwrap().attempt, "a1");
        assert!(s.last_success.is_none() && s.last_write_success.is_none());
        l.append(&[finished("s1", 3, Outcome::Success)]).unwrap();
        l.append(&[finished("s1", 4, Outcome::Interrupted)])
            .unwrap();
        let s = l.session("s1").unwrap();
        assert_eq!(s.last_attempt.as_ref().unwrap().attempt, "a3");
        assert_eq!(s.last_success.as_ref().unwrap().attempt, "a3");
        let t = l.totals().unwrap();
        assert_eq!(
            (t.attempts, t.successes, t.failures, t.interrupted),
            (2, 1, 1, 2)
        );
        let on_disk: serde_json::Value =
            serde_json::from_slice(&fs::read(l.paths().totals()).unwrap()).unwrap();
        assert_eq!(
            (&on_disk["attempts"], &on_disk["interrupted"]),
            (&serde_json::json!(2), &serde_json::json!(2))
        );
        // A line from a newer offload with an outcome this one does not know.
        let line = serde_json::to_string(&finished("s1", 5, Outcome::Failed))
            .unwrap()
            .replace("\"outcome\":\"failed\"", "\"outcome\":\"abandoned\"");
        let mut f = OpenOptions::new()
            .append(true)
            .open(l.paths().events())
            .unwrap();
        f.write_all(format!("{line}\n").as_bytes()).unwrap();
        drop(f);
        let read = l.read_log().unwrap();
        assert_eq!(read.skipped, 0, "the line reads");
        assert!(matches!(
            &read.events.last().unwrap().body,
            Body::AttemptFinished(f) if f.outcome == Outcome::Unknown
        ));
        l.append(&[denied("s1")]).unwrap();
        l.append(&[finished("s1", 6, Outcome::Interrupted)])
            .unwrap();
        let s = l.session("s1").unwrap();
        assert_eq!((s.failures, s.interrupted), (2, 3));
        assert_eq!(s.last_failure.as_ref().unwrap().attempt, "a5");
        assert_consistent(&l);
        assert!(!l.rebuild().unwrap().changed);
    }

    #[test]
    fn torn_tail_is_terminated_skipped_and_counted() {
        let (_d, l) = ledger();
        l.append(&[finished("s", 1, Outcome::Success)]).unwrap();
        let line = serde_json::to_string(&finished("s", 2, Outcome::Success)).unwrap();
        let mut f = OpenOptions::new()
            .append(true)
            .open(l.paths().events())
            .unwrap();
        f.write_all(&line.as_bytes()[..line.len() / 2]).unwrap();
        drop(f);
        let read = l.read_log().unwrap();
        assert!(read.torn_tail);
        assert_eq!((read.events.len(), read.skipped), (1, 0));
        l.append(&[finished("s", 3, Outcome::Success)]).unwrap();
        let read = l.read_log().unwrap();
        assert!(!read.torn_tail);
        assert_eq!((read.events.len(), read.skipped, read.lines), (2, 1, 3));
        let t = l.totals().unwrap();
        assert_eq!((t.attempts, t.skipped_lines, t.lines), (2, 1, 3));
        assert_consistent(&l);
    }

    #[test]
    fn writer_dying_before_summaries_is_caught_up_once() {
        let (_d, l) = ledger();
        l.append(&[finished("s", 1, Outcome::Success)]).unwrap();
        // A writer appended and wrote the session summary, then died before totals.json.
        let stale_totals = fs::read(l.paths().totals()).unwrap();
        l.append(&[finished("s", 2, Outcome::Success)]).unwrap();
        fs::write(l.paths().totals(), &stale_totals).unwrap();
        // And another appended and died before any summary.
        let line = serde_json::to_string(&finished("s", 3, Outcome::Failed)).unwrap() + "\n";
        let mut f = OpenOptions::new()
            .append(true)
            .open(l.paths().events())
            .unwrap();
        f.write_all(line.as_bytes()).unwrap();
        drop(f);
        l.append(&[finished("s", 4, Outcome::Success)]).unwrap();
        let s = l.session("s").unwrap();
        assert_eq!((s.attempts, s.successes, s.failures), (4, 3, 1));
        assert_eq!(l.totals().unwrap().attempts, 4);
        assert_consistent(&l);
    }

    #[test]
    fn corrupt_or_missing_summaries_are_rebuilt() {
        let (_d, l) = ledger();
        l.append(&[
            finished("s", 1, Outcome::Success),
            finished("t", 2, Outcome::Success),
        ])
        .unwrap();
        fs::write(l.paths().session("s"), "{\"v\":1,\"sess").unwrap();
        l.append(&[finished("s", 3, Outcome::Success)]).unwrap();
        assert_eq!(l.session("s").unwrap().attempts, 2);
        fs::remove_file(l.paths().totals()).unwrap();
        l.append(&[finished("t", 4, Outcome::Success)]).unwrap();
        assert_eq!(l.totals().unwrap().attempts, 4);
        assert_consistent(&l);
    }

    #[test]
    fn rebuild_reports_and_matches() {
        let (_d, l) = ledger();
        for i in 0..20 {
            l.append(&[finished(&format!("s{}", i % 3), i, Outcome::Success)])
                .unwrap();
        }
        let r = l.rebuild().unwrap();
        assert_eq!((r.events, r.sessions, r.changed), (20, 3, false));
        fs::write(l.paths().session("s1"), "{}").unwrap();
        fs::write(l.paths().session("orphan"), "{}").unwrap();
        let r = l.rebuild().unwrap();
        assert!(r.changed);
        assert!(!l.paths().session("orphan").exists());
        assert_consistent(&l);
    }

    #[test]
    fn denials_are_log_only_and_folded_in_later() {
        let (_d, l) = ledger();
        let denied = || {
            Event::now(
                Some("s"),
                Body::GuardDenied {
                    tool: "Edit".into(),
                    reason: "route-first".into(),
                    warn: false,
                },
            )
        };
        // The very first event creates the summaries even when log-only.
        l.append(&[denied()]).unwrap();
        assert_eq!(l.totals().unwrap().lines, 1);
        assert!(
            l.session("s").is_none(),
            "a denial alone makes no session summary"
        );
        l.append(&[finished("s", 1, Outcome::Success)]).unwrap();
        let before = fs::read(l.paths().totals()).unwrap();
        let session_before = fs::read(l.paths().session("s")).unwrap();
        l.append(&[denied(), denied()]).unwrap();
        assert_eq!(
            fs::read(l.paths().totals()).unwrap(),
            before,
            "summaries not rewritten"
        );
        assert_eq!(fs::read(l.paths().session("s")).unwrap(), session_before);
        assert_consistent(&l);
        assert!(
            !l.rebuild().unwrap().changed,
            "pending log-only lines are not a difference"
        );
        l.append(&[denied()]).unwrap();
        l.append(&[finished("s", 2, Outcome::Failed)]).unwrap();
        let t = l.totals().unwrap();
        assert_eq!(
            (t.lines, t.attempts),
            (6, 2),
            "the next writer folded the denials in"
        );
        assert_consistent(&l);
        assert_eq!(l.read_log().unwrap().events.len(), 6);
    }

    #[test]
    fn newest_rate_limit_snapshot_wins() {
        use crate::codex::rollout::RateWindow;
        let snap = |secs: i64, used: f64| RateLimitSnapshot {
            captured_at: DateTime::from_timestamp(secs, 0),
            windows: vec![RateWindow {
                window_minutes: 300,
                used_percent: used,
                resets_at: None,
            }],
            plan_type: None,
        };
        let (_d, l) = ledger();
        l.append(&[Event::now(None, Body::RateLimits(snap(200, 50.0)))])
            .unwrap();
        l.append(&[Event::now(None, Body::RateLimits(snap(100, 10.0)))])
            .unwrap();
        let t = l.totals().unwrap();
        assert_eq!(
            t.rate_limits.unwrap().five_hour().unwrap().used_percent,
            50.0
        );
        assert_consistent(&l);
    }

    #[test]
    fn files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let (_d, l) = ledger();
        l.append(&[finished("s", 1, Outcome::Success)]).unwrap();
        for p in [
            l.paths().events(),
            l.paths().totals(),
            l.paths().session("s"),
        ] {
            assert_eq!(
                fs::metadata(&p).unwrap().permissions().mode() & 0o777,
                0o600,
                "{p:?}"
            );
        }
        let dir = fs::metadata(&l.paths().state_dir).unwrap();
        assert_eq!(dir.permissions().mode() & 0o777, 0o700);
    }

    #[test]
    fn writer_gives_up_after_bounded_wait_naming_the_lock() {
        let (_d, l) = ledger();
        l.append(&[finished("s", 1, Outcome::Success)]).unwrap();
        let held = File::open(l.paths().lock()).unwrap();
        held.lock().unwrap();
        let quick = l.clone().with_write_wait(Duration::from_millis(50));
        let err = quick
            .append(&[finished("s", 2, Outcome::Success)])
            .unwrap_err();
        assert!(err.to_string().contains("ledger.lock"), "{err}");
        // Readers still read (after their bounded wait).
        assert_eq!(l.totals().unwrap().attempts, 1);
        drop(held);
        quick.append(&[finished("s", 2, Outcome::Success)]).unwrap();
        assert_eq!(l.totals().unwrap().attempts, 2);
    }
}
