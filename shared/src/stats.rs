//! What `offload stats` shows, computed from the ledger's events: per day, per Claude Code
//! session and per model, how many Codex attempts there were, how many succeeded, how many
//! tokens went to Codex, how long attempts took, and how often the guard denied native work.
//!
//! Why here and not in the summaries: the summaries (`totals.json`, `sessions/*.json`) exist for
//! the hot paths and hold only what those need. Stats wants breakdowns the hot paths never ask
//! for (per day, per model, durations, denials, which are log-only), so it folds
//! `events.jsonl` itself, once per `offload stats`. Everything here is a pure function of the
//! events, a time zone (days are local days) and "now" (for `--since 7d`), so it is tested
//! without files or clocks.
//!
//! What counts where:
//! - an attempt is an `attempt.finished` event (tokens, outcome, duration and model come from
//!   it); an `attempt.started` without its `attempt.finished` anywhere in the log is
//!   *unfinished* (running now, or its runner was killed);
//! - an attempt the user interrupted (outcome `interrupted`) is counted apart: not in
//!   `attempts`, `successes` or `failures`, so not in the success rate nor in the median
//!   duration; its tokens count;
//! - a denial is a `guard.denied` event, counted by tool and by reason code ([`reason_key`]);
//!   those recorded in warn mode (`warn: true`) are *would deny*, kept apart;
//! - turns are `turn.started` events, approvals `approval.granted`;
//! - an event belongs to the local day of its timestamp; session-less attempts group under
//!   the session key `null`; models group attempts only.
//!
//! The JSON shape (`offload stats --json`, [`SCHEMA`] = 1) is [`Report`] serialized: fields are
//! only ever added, never renamed or removed, within a schema version.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::Serialize;

use crate::ledger::{Body, Event, LogRead, Tokens};

/// Version of the `offload stats --json` shape.
pub const SCHEMA: u32 = 1;

/// Guard denials, in total, by tool name and by reason.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Denials {
    pub total: u64,
    /// Tool name → count, sorted by name.
    pub by_tool: BTreeMap<String, u64>,
    /// Reason code → count, sorted by code (see [`reason_key`]).
    pub by_reason: BTreeMap<String, u64>,
}

/// What a denial's recorded reason counts under: its code as the guard and the hook record it
/// (`route-first`: no Codex attempt yet; `fail-closed`: after a failed attempt; `tamper`:
/// offload's own records, config or wiring; `codex-running`: an attempt still runs;
/// `plan-invalid`: a plan that fails its check; `analysis-limit`: a command past the
/// analyzer's limits; `undone`: a Bash command's change to code undone; `effect-unchecked`:
/// its effect could not be checked; `effect`: what warn mode would have undone). Anything
/// that is not a short code (blank, a sentence, from a damaged or foreign line) is `unknown`.
pub fn reason_key(reason: &str) -> &str {
    let r = reason.trim();
    let code = !r.is_empty()
        && r.len() <= 40
        && r.starts_with(|c: char| c.is_ascii_lowercase())
        && r.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
    if code { r } else { "unknown" }
}

impl Denials {
    fn add(&mut self, tool: &str, reason: &str) {
        self.total += 1;
        bump(&mut self.by_tool, tool);
        bump(&mut self.by_reason, reason_key(reason));
    }

    fn merge(&mut self, o: Denials) {
        self.total += o.total;
        for (t, n) in o.by_tool {
            *self.by_tool.entry(t).or_default() += n;
        }
        for (r, n) in o.by_reason {
            *self.by_reason.entry(r).or_default() += n;
        }
    }

    /// `Edit 4, Agent 2`: tools by count (most first), then by name.
    pub fn describe(&self) -> String {
        most_first(&self.by_tool)
    }

    /// `fail-closed 3, route-first 2`: reasons by count (most first), then by code.
    pub fn describe_reasons(&self) -> String {
        most_first(&self.by_reason)
    }
}

/// One more of `key` (a key is copied only the first time it is seen).
fn bump(counts: &mut BTreeMap<String, u64>, key: &str) {
    match counts.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            counts.insert(key.to_owned(), 1);
        }
    }
}

fn most_first(counts: &BTreeMap<String, u64>) -> String {
    let mut all: Vec<(&String, &u64)> = counts.iter().collect();
    all.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    all.iter()
        .map(|(t, n)| format!("{t} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The figures of one row: a day, a session, a model, or everything.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Group {
    /// The day (`YYYY-MM-DD`, local), the session id (`null`: attempts recorded without a
    /// session), or the model. `null` for the overall total.
    pub key: Option<String>,
    /// Time of the first and last event counted in this group.
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
    /// Real user turns (`turn.started`); always 0 per model.
    pub turns: u64,
    /// Finished attempts that succeeded or failed: `successes + failures` (interrupted ones
    /// are counted apart, in `interrupted`).
    pub attempts: u64,
    pub successes: u64,
    pub failures: u64,
    /// Attempts the user interrupted (outcome `interrupted`): neither successes nor failures.
    pub interrupted: u64,
    /// successes / attempts, rounded to 4 decimals; `null` without attempts.
    pub success_rate: Option<f64>,
    /// Outcome name (`success`, `failed`, `timeout`, `limited`, `missing`, `error`,
    /// `interrupted`; `unknown` for one from a newer offload) → count.
    pub outcomes: BTreeMap<String, u64>,
    /// Tokens of the finished attempts, interrupted ones included: `input` (of which
    /// `cached_input`), `output` (of which `reasoning`), and `total` = input + output.
    pub tokens: Tokens,
    /// Median `duration_ms` of the attempts that succeeded or failed; `null` without.
    pub median_duration_ms: Option<u64>,
    /// Fallback approvals (`approval.granted`); always 0 per model.
    pub approvals: u64,
    /// Tool calls the guard denied; always empty per model.
    pub denied: Denials,
    /// Tool calls the guard would have denied, recorded in warn mode; always empty per model.
    pub would_deny: Denials,
    /// Per session: its project, the folder of its latest turn (`turn.started`), else the
    /// folder of its latest attempt. `null` for days, models and the total, and for a session
    /// that recorded neither.
    pub project: Option<String>,
    /// The newest turn's project and the newest attempt's folder, with their times.
    #[serde(skip)]
    turn_project: Option<(DateTime<Utc>, String)>,
    #[serde(skip)]
    attempt_cwd: Option<(DateTime<Utc>, String)>,
    #[serde(skip)]
    durations: Vec<u64>,
}

/// The newer of two stamped values (the second on a tie: it was folded later).
fn newer(
    a: Option<(DateTime<Utc>, String)>,
    b: Option<(DateTime<Utc>, String)>,
) -> Option<(DateTime<Utc>, String)> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.0 >= a.0 { b } else { a }),
        (a, b) => a.or(b),
    }
}

impl Group {
    fn keyed(key: Option<String>) -> Group {
        Group {
            key,
            ..Group::default()
        }
    }

    fn touch(&mut self, ts: DateTime<Utc>) {
        self.first = Some(self.first.map_or(ts, |t| t.min(ts)));
        self.last = Some(self.last.map_or(ts, |t| t.max(ts)));
    }

    /// Fold one event in (the caller decides which groups it belongs to).
    fn apply(&mut self, ev: &Event) {
        match &ev.body {
            Body::TurnStarted { .. } => self.turns += 1,
            Body::AttemptFinished(f) => {
                if f.outcome.is_interrupted() {
                    self.interrupted += 1;
                } else {
                    self.attempts += 1;
                    if f.outcome.is_success() {
                        self.successes += 1;
                    } else {
                        self.failures += 1;
                    }
                    self.durations.push(f.duration_ms);
                }
                bump(&mut self.outcomes, f.outcome.as_str());
                // Capped as the summaries cap it (a line written by hand can hold anything).
                self.tokens.add(&f.tokens.capped());
            }
            Body::GuardDenied { tool, reason, warn } => {
                if *warn {
                    self.would_deny.add(tool, reason);
                } else {
                    self.denied.add(tool, reason);
                }
            }
            Body::ApprovalGranted { .. } => self.approvals += 1,
            Body::AttemptStarted(_)
            | Body::RateLimits(_)
            | Body::Tamper { .. }
            | Body::Review(_)
            | Body::Unknown => {
                return;
            }
        }
        self.touch(ev.ts);
    }

    /// Note the folder an event of this session names (its project, for a session's group): a
    /// turn's project, a finished attempt's folder (a running attempt's shows when it ends).
    fn note_project(&mut self, ev: &Event) {
        let (slot, folder) = match &ev.body {
            Body::TurnStarted {
                project: Some(p), ..
            } => (&mut self.turn_project, p),
            Body::AttemptFinished(f) => (&mut self.attempt_cwd, &f.cwd),
            _ => return,
        };
        if folder.trim().is_empty() || slot.as_ref().is_some_and(|(t, _)| *t > ev.ts) {
            return;
        }
        *slot = Some((ev.ts, folder.clone()));
    }

    /// Add a group of the same key folded from a later part of the log.
    fn merge(&mut self, o: Group) {
        self.turn_project = newer(self.turn_project.take(), o.turn_project);
        self.attempt_cwd = newer(self.attempt_cwd.take(), o.attempt_cwd);
        self.first = match (self.first, o.first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last = match (self.last, o.last) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.turns += o.turns;
        self.attempts += o.attempts;
        self.successes += o.successes;
        self.failures += o.failures;
        self.interrupted += o.interrupted;
        for (k, n) in o.outcomes {
            *self.outcomes.entry(k).or_default() += n;
        }
        self.tokens.add(&o.tokens);
        self.approvals += o.approvals;
        self.denied.merge(o.denied);
        self.would_deny.merge(o.would_deny);
        self.durations.extend(o.durations);
    }

    fn finish(&mut self) {
        self.project = self
            .turn_project
            .as_ref()
            .or(self.attempt_cwd.as_ref())
            .map(|(_, p)| p.clone());
        self.success_rate = (self.attempts > 0)
            .then(|| (self.successes as f64 / self.attempts as f64 * 10_000.0).round() / 10_000.0);
        self.median_duration_ms = median(&mut self.durations);
    }

    /// Whether anything was counted.
    pub fn is_empty(&self) -> bool {
        self.first.is_none()
    }
}

/// The whole `offload stats` answer; see the module docs for what counts where.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Report {
    /// [`SCHEMA`].
    pub schema: u32,
    /// Events before this time were left out (`--since`).
    pub since: Option<DateTime<Utc>>,
    /// Valid events counted (after `since`).
    pub events: u64,
    /// Complete lines of `events.jsonl` that were not valid events (whole log).
    pub skipped_lines: u64,
    /// The log ends in a partial line (a write in progress, or a writer that died); it was
    /// left out.
    pub torn_tail: bool,
    /// `attempt.started` with no `attempt.finished` anywhere in the log: running now, or lost.
    pub unfinished: u64,
    /// Events stamped more than five minutes after the time of this report (written by a
    /// clock that was ahead): counted like the others, but they open no time window (see the
    /// guard's `attempt_scope`).
    #[serde(default)]
    pub future_events: u64,
    /// Everything (key `null`).
    pub total: Group,
    /// Local days, oldest first; only days with events.
    pub by_day: Vec<Group>,
    /// Sessions, ordered by their first event; the session-less group (key `null`) last.
    pub by_session: Vec<Group>,
    /// Models of finished attempts, most attempts first, then by name.
    pub by_model: Vec<Group>,
}

/// Fold a read of the log into a report. `since` leaves out older events; `tz` decides days.
pub fn report<Tz: TimeZone>(log: &LogRead, since: Option<DateTime<Utc>>, tz: &Tz) -> Report {
    let mut f = Folder::new(since, tz.clone());
    for ev in &log.events {
        f.add(ev);
    }
    f.finish(log.skipped, log.torn_tail)
}

/// A report folded one event at a time, holding only the groups (and the attempts started
/// and not yet finished): what `offload stats` streams the log through.
pub struct Folder<Tz: TimeZone> {
    since: Option<DateTime<Utc>>,
    tz: Tz,
    r: Report,
    days: BTreeMap<NaiveDate, Group>,
    sessions: HashMap<Option<String>, Group>,
    models: HashMap<String, Group>,
    /// Attempts started and not finished so far, and whether each was counted (after `since`).
    pending: HashMap<String, bool>,
    /// Finishes seen before (or without) their start.
    finished_early: HashSet<String>,
    /// The local day of the last hour seen (events come in time order: one time-zone lookup
    /// per hour instead of one per event).
    day_of_hour: Option<(i64, NaiveDate)>,
    /// Past this, an event is from the future.
    future_after: DateTime<Utc>,
}

impl<Tz: TimeZone> Folder<Tz> {
    pub fn new(since: Option<DateTime<Utc>>, tz: Tz) -> Self {
        Folder {
            since,
            tz,
            r: Report {
                schema: SCHEMA,
                since,
                ..Report::default()
            },
            days: BTreeMap::new(),
            sessions: HashMap::new(),
            models: HashMap::new(),
            pending: HashMap::new(),
            finished_early: HashSet::new(),
            day_of_hour: None,
            future_after: Utc::now() + chrono::Duration::minutes(5),
        }
    }

    /// Fold one event in.
    pub fn add(&mut self, ev: &Event) {
        let counted = self.since.is_none_or(|s| ev.ts >= s);
        if let Body::AttemptStarted(s) = &ev.body
            && !self.finished_early.remove(&s.attempt)
        {
            self.pending.insert(s.attempt.clone(), counted);
        }
        if let Body::AttemptFinished(f) = &ev.body
            && self.pending.remove(&f.attempt).is_none()
        {
            self.finished_early.insert(f.attempt.clone());
        }
        if !counted {
            return;
        }
        self.r.events += 1;
        if ev.ts > self.future_after {
            self.r.future_events += 1;
        }
        if !counts(&ev.body) {
            return;
        }
        self.r.total.apply(ev);
        // Time zones change on whole hours (or half and quarter hours: 15 minutes then).
        let quarter = ev.ts.timestamp().div_euclid(900);
        let day = match self.day_of_hour {
            Some((q, d)) if q == quarter => d,
            _ => {
                let d = ev.ts.with_timezone(&self.tz).date_naive();
                self.day_of_hour = Some((quarter, d));
                d
            }
        };
        self.days
            .entry(day)
            .or_insert_with(|| Group::keyed(Some(day.format("%Y-%m-%d").to_string())))
            .apply(ev);
        match self.sessions.get_mut(&ev.session) {
            Some(g) => {
                g.apply(ev);
                g.note_project(ev);
            }
            None => {
                let mut g = Group::keyed(ev.session.clone());
                g.apply(ev);
                g.note_project(ev);
                self.sessions.insert(ev.session.clone(), g);
            }
        }
        if let Body::AttemptFinished(f) = &ev.body {
            match self.models.get_mut(&f.model) {
                Some(g) => g.apply(ev),
                None => {
                    let mut g = Group::keyed(Some(f.model.clone()));
                    g.apply(ev);
                    self.models.insert(f.model.clone(), g);
                }
            }
        }
    }

    /// Add what a fold of the next part of the log found (the parts folded in parallel).
    pub fn merge(&mut self, later: Folder<Tz>) {
        self.r.events += later.r.events;
        self.r.future_events += later.r.future_events;
        self.r.total.merge(later.r.total);
        for (k, g) in later.days {
            match self.days.get_mut(&k) {
                Some(mine) => mine.merge(g),
                None => {
                    self.days.insert(k, g);
                }
            }
        }
        for (k, g) in later.sessions {
            match self.sessions.get_mut(&k) {
                Some(mine) => mine.merge(g),
                None => {
                    self.sessions.insert(k, g);
                }
            }
        }
        for (k, g) in later.models {
            match self.models.get_mut(&k) {
                Some(mine) => mine.merge(g),
                None => {
                    self.models.insert(k, g);
                }
            }
        }
        // Attempts the later part finished that started in this one.
        for a in later.finished_early {
            if self.pending.remove(&a).is_none() {
                self.finished_early.insert(a);
            }
        }
        self.pending.extend(later.pending);
    }

    /// The report, given what the read found about the log's lines.
    pub fn finish(self, skipped: u64, torn_tail: bool) -> Report {
        let mut r = self.r;
        r.skipped_lines = skipped;
        r.torn_tail = torn_tail;
        r.unfinished = self.pending.values().filter(|c| **c).count() as u64;
        r.total.finish();
        r.by_day = self.days.into_values().collect();
        r.by_session = self.sessions.into_values().collect();
        r.by_session.sort_by(|a, b| {
            (a.key.is_none(), a.first, &a.key).cmp(&(b.key.is_none(), b.first, &b.key))
        });
        r.by_model = self.models.into_values().collect();
        r.by_model
            .sort_by(|a, b| b.attempts.cmp(&a.attempts).then_with(|| a.key.cmp(&b.key)));
        for g in r
            .by_day
            .iter_mut()
            .chain(r.by_session.iter_mut())
            .chain(r.by_model.iter_mut())
        {
            g.finish();
        }
        r
    }
}

/// Events that make a group exist (rate-limit snapshots and unknown kinds do not; a started
/// attempt shows when it finishes).
fn counts(body: &Body) -> bool {
    matches!(
        body,
        Body::TurnStarted { .. }
            | Body::AttemptFinished(_)
            | Body::GuardDenied { .. }
            | Body::ApprovalGranted { .. }
    )
}

/// The median of some durations (the mean of the middle two for an even count, rounded down).
pub fn median(values: &mut [u64]) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let mid = values.len() / 2;
    Some(if !values.len().is_multiple_of(2) {
        values[mid]
    } else {
        values[mid - 1] / 2 + values[mid] / 2 + (values[mid - 1] % 2 + values[mid] % 2) / 2
    })
}

/// Parse `--since`: a date (`2026-11-01`, local midnight), an RFC 3339 time
/// (`2026-11-01T09:00:00Z`), or an age before `now` (`7d`, `12h`, `30m`, `1w`, humantime).
pub fn parse_since<Tz: TimeZone>(
    s: &str,
    now: DateTime<Utc>,
    tz: &Tz,
) -> Result<DateTime<Utc>, String> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let midnight = d.and_hms_opt(0, 0, 0).unwrap_or_default();
        // A midnight that a DST change skips falls back to the earliest time that exists.
        return tz
            .from_local_datetime(&midnight)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .or_else(|| {
                (1..=4).find_map(|h| {
                    let later = midnight.checked_add_signed(chrono::Duration::hours(h))?;
                    tz.from_local_datetime(&later)
                        .earliest()
                        .map(|t| t.with_timezone(&Utc))
                })
            })
            .ok_or_else(|| format!("--since {s}: that date has no midnight here"));
    }
    // A bare number is days (`--since 7`, like `7d`).
    let days = s
        .parse::<u32>()
        .ok()
        .filter(|d| *d <= 100_000)
        .map(|d| format!("{d}d"));
    if let Ok(age) = humantime::parse_duration(days.as_deref().unwrap_or(s))
        && let Ok(age) = chrono::Duration::from_std(age)
        && let Some(t) = now.checked_sub_signed(age)
    {
        return Ok(t);
    }
    Err(format!(
        "--since {s:?}: use a date (2026-11-01), an RFC 3339 time (2026-11-01T09:00:00Z), or an age (7d, 12h; a bare number is days)"
    ))
}

/// Attempts per day from the first to the last day of `by_day`, days without events as 0,
/// at most the last `max_days` days.
pub fn daily_attempts(by_day: &[Group], max_days: usize) -> Vec<(NaiveDate, u64)> {
    let parsed: Vec<(NaiveDate, u64)> = by_day
        .iter()
        .filter_map(|g| {
            let d = NaiveDate::parse_from_str(g.key.as_deref()?, "%Y-%m-%d").ok()?;
            Some((d, g.attempts))
        })
        .collect();
    let (Some(first), Some(last)) = (parsed.first(), parsed.last()) else {
        return Vec::new();
    };
    let by: HashMap<NaiveDate, u64> = parsed.iter().copied().collect();
    let mut out = Vec::new();
    let mut d = first.0;
    while d <= last.0 {
        out.push((d, by.get(&d).copied().unwrap_or(0)));
        match d.succ_opt() {
            Some(n) => d = n,
            None => break,
        }
    }
    let skip = out.len().saturating_sub(max_days);
    out.split_off(skip)
}

/// A sparkline, one character per value: `▁▂▃▄▅▆▇█` scaled to the largest value, a space for 0.
pub fn sparkline(values: &[u64]) -> String {
    const TICKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values.iter().copied().max().unwrap_or(0);
    values
        .iter()
        .map(|&v| {
            if v == 0 || max == 0 {
                ' '
            } else {
                // 1..=8 eighths of the largest value, at least one tick for any non-zero value.
                let level = (v as u128 * 8).div_ceil(max as u128) as usize;
                TICKS[level.clamp(1, 8) - 1]
            }
        })
        .collect()
}

/// A horizontal bar `width` cells wide for a fraction 0..=1, in eighths of a cell, padded with
/// `░`: `bar(0.67, 5)` is `███▍░`.
pub fn bar(fraction: f64, width: usize) -> String {
    const PARTIAL: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
    let fraction = if fraction.is_finite() {
        fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let eighths = (fraction * width as f64 * 8.0).round() as usize;
    let full = eighths / 8;
    let mut s = "█".repeat(full);
    let mut used = full;
    if full < width && !eighths.is_multiple_of(8) {
        s.push(PARTIAL[eighths % 8]);
        used += 1;
    }
    s.push_str(&"░".repeat(width - used));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{AttemptFinished, AttemptStarted};
    use crate::outcome::Outcome;
    use chrono::FixedOffset;

    fn ts(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn ev(at: &str, session: Option<&str>, body: Body) -> Event {
        Event {
            v: 1,
            ts: ts(at),
            session: session.map(str::to_owned),
            body,
        }
    }

    fn finished(
        at: &str,
        session: Option<&str>,
        id: &str,
        model: &str,
        outcome: Outcome,
        ms: u64,
        input: u64,
    ) -> Event {
        ev(
            at,
            session,
            Body::AttemptFinished(Box::new(AttemptFinished {
                unconfigured_codex: None,
                attempt: id.into(),
                outcome,
                exit_code: outcome.exit_code(true),
                codex_exit: None,
                model: model.into(),
                sandbox: "read-only".into(),
                work_type: None,
                cwd: "/w".into(),
                duration_ms: ms,
                tokens: Tokens {
                    input,
                    cached_input: input / 2,
                    output: 10,
                    reasoning: 1,
                    total: input + 10,
                },
                thread_id: None,
                error: None,
                resumed_from: None,
                job: None,
                trace: None,
            })),
        )
    }

    fn started(at: &str, session: Option<&str>, id: &str) -> Event {
        ev(
            at,
            session,
            Body::AttemptStarted(AttemptStarted {
                attempt: id.into(),
                model: "m".into(),
                sandbox: "read-only".into(),
                work_type: None,
                cwd: "/w".into(),
                pid: 1,
                resumed_from: None,
            }),
        )
    }

    fn denied(at: &str, session: &str, tool: &str, warn: bool) -> Event {
        ev(
            at,
            Some(session),
            Body::GuardDenied {
                tool: tool.into(),
                reason: "route-first".into(),
                warn,
            },
        )
    }

    fn log(events: Vec<Event>) -> LogRead {
        LogRead {
            lines: events.len() as u64,
            events,
            ..LogRead::default()
        }
    }

    /// An absurd token count (a line written by hand, an old record) counts as the summaries
    /// count it: capped per attempt, never wrapping.
    #[test]
    fn absurd_token_counts_are_capped_as_the_summaries_cap_them() {
        let big = |id: &str| {
            finished(
                "2026-11-20T10:00:00Z",
                Some("s"),
                id,
                "m",
                Outcome::Success,
                5,
                u64::MAX - 100,
            )
        };
        let events = vec![big("a"), big("b")];
        let r = report(&log(events.clone()), None, &Utc);
        let mut totals = crate::ledger::Totals::default();
        for e in &events {
            totals.apply(e);
        }
        assert_eq!(r.total.tokens.input, totals.tokens.input);
        assert_eq!(r.total.tokens.input, 2 * crate::ledger::MAX_ATTEMPT_TOKENS);
    }

    /// Folding the log in parallel parts and merging them gives the report one pass gives.
    #[test]
    fn parts_folded_in_parallel_merge_into_the_same_report() {
        let dir = tempfile::tempdir().unwrap();
        let ledger =
            crate::ledger::Ledger::new(crate::paths::Paths::in_folder(dir.path().join("state")));
        let events = sample().events;
        // Many copies, so that every split falls between a start and its finish somewhere.
        let mut all = Vec::new();
        for _ in 0..40 {
            all.extend(events.iter().cloned());
        }
        ledger.append(&all).unwrap();
        let one = report(&ledger.read_log().unwrap(), None, &Utc);
        for parts in [2, 3, 7] {
            let (folds, torn) = ledger
                .fold_parts(
                    parts,
                    || (Folder::new(None, Utc), 0u64),
                    |(f, skipped), line| match line {
                        crate::ledger::Line::Event(ev, _) => f.add(ev),
                        crate::ledger::Line::Bad(_) => *skipped += 1,
                    },
                )
                .unwrap();
            let mut folds = folds.into_iter();
            let (mut f, mut skipped) = folds.next().unwrap();
            for (later, s) in folds {
                f.merge(later);
                skipped += s;
            }
            assert_eq!(f.finish(skipped, torn), one, "{parts} parts");
        }
    }

    #[test]
    fn events_from_a_clock_ahead_are_counted_and_named() {
        let mut f = Folder::new(None, Utc);
        let mut ahead = denied("2026-11-01T09:00:00Z", "s1", "Edit", false);
        ahead.ts = Utc::now() + chrono::Duration::days(1);
        f.add(&ahead);
        f.add(&denied("2026-11-01T09:00:00Z", "s1", "Edit", false));
        let r = f.finish(0, false);
        assert_eq!((r.events, r.future_events), (2, 1));
    }

    fn sample() -> LogRead {
        log(vec![
            ev(
                "2026-11-01T09:00:00Z",
                Some("s1"),
                Body::TurnStarted {
                    prompt_id: None,
                    project: None,
                },
            ),
            denied("2026-11-01T09:00:01Z", "s1", "Edit", false),
            started("2026-11-01T09:00:02Z", Some("s1"), "a1"),
            finished(
                "2026-11-01T09:00:40Z",
                Some("s1"),
                "a1",
                "gpt-5.3-codex",
                Outcome::Success,
                38_000,
                1000,
            ),
            started("2026-11-01T23:30:00Z", Some("s2"), "a2"),
            finished(
                "2026-11-01T23:31:00Z",
                Some("s2"),
                "a2",
                "gpt-5.4",
                Outcome::Failed,
                60_000,
                3000,
            ),
            denied("2026-11-02T10:00:00Z", "s2", "Agent", false),
            denied("2026-11-02T10:00:01Z", "s2", "Write", true),
            denied("2026-11-02T10:00:02Z", "s2", "Edit", false),
            ev(
                "2026-11-02T10:05:00Z",
                Some("s2"),
                Body::ApprovalGranted {
                    source: "prompt".into(),
                    terminal: None,
                    unverified: None,
                },
            ),
            finished(
                "2026-11-04T08:00:00Z",
                None,
                "a3",
                "gpt-5.3-codex",
                Outcome::Success,
                20_000,
                500,
            ),
            started("2026-11-04T08:10:00Z", Some("s1"), "a4"),
            ev("2026-11-04T08:11:00Z", Some("s1"), Body::Unknown),
        ])
    }

    /// `offload stats --json` and the OTLP export (`telemetry::metrics`) count the same things
    /// under the same names: outcomes, token types, denial tools and reasons, approvals, turns.
    #[test]
    fn the_export_counts_what_stats_counts_under_the_same_names() {
        use crate::telemetry::metrics::Batch;
        use crate::telemetry::otlp::{Data, Value};
        let log = sample();
        let r = report(&log, None, &Utc);
        let mut batch = Batch::new(None, crate::telemetry::metrics::nanos(Utc::now()));
        for ev in &log.events {
            batch.add_event(ev, true);
        }
        let metrics = batch.metrics();
        let sum = |name: &str, key: &str| -> BTreeMap<String, u64> {
            let mut out = BTreeMap::new();
            for m in metrics.iter().filter(|m| m.name == name) {
                let Data::Sum(points) = &m.data else {
                    panic!("{name} is a sum")
                };
                for p in points {
                    let v = p
                        .attrs
                        .iter()
                        .find(|(k, _)| k == key)
                        .map(|(_, v)| match v {
                            Value::Str(s) => s.clone(),
                            other => format!("{other:?}"),
                        })
                        .unwrap_or_default();
                    *out.entry(v).or_default() += p.value as u64;
                }
            }
            out
        };
        assert_eq!(sum("offload.attempt.count", "outcome"), r.total.outcomes);
        let tokens = sum("offload.token.usage", "type");
        let t = &r.total.tokens;
        assert_eq!(tokens["input"], t.input);
        assert_eq!(tokens["cached_input"], t.cached_input);
        assert_eq!(tokens["output"], t.output);
        assert_eq!(tokens["reasoning"], t.reasoning);
        assert_eq!(
            sum("offload.guard.denial.count", "tool"),
            r.total.denied.by_tool
        );
        assert_eq!(
            sum("offload.guard.denial.count", "reason"),
            r.total.denied.by_reason
        );
        assert_eq!(
            sum("offload.guard.would_deny.count", "tool"),
            r.total.would_deny.by_tool
        );
        assert_eq!(
            sum("offload.approval.count", "source")
                .values()
                .sum::<u64>(),
            r.total.approvals
        );
        assert_eq!(
            sum("offload.turn.count", "session.id")
                .values()
                .sum::<u64>(),
            r.total.turns
        );
        // Per model and per session, as by_model and by_session.
        let by_model = sum("offload.attempt.count", "model");
        for g in &r.by_model {
            let key = g.key.clone().unwrap();
            assert_eq!(by_model[&key], g.attempts + g.interrupted, "{key}");
        }
        let duration = metrics
            .iter()
            .find(|m| m.name == "offload.attempt.duration")
            .unwrap();
        let Data::Histogram(points) = &duration.data else {
            panic!("a histogram")
        };
        assert_eq!(points.iter().map(|p| p.count).sum::<u64>(), 3);
        assert_eq!(batch.spans().len(), 3, "a span per finished attempt");
    }

    /// Points never overlap: each covers the part of one hour inside its export's window.
    #[test]
    fn export_windows_are_cut_at_hours_and_never_overlap() {
        use crate::telemetry::metrics::{Batch, nanos};
        use crate::telemetry::otlp::Data;
        let log = sample();
        let start = nanos(ts("2026-11-01T09:00:00.5Z"));
        let end = nanos(ts("2026-11-04T08:30:00Z"));
        let mut batch = Batch::new(Some(start), end);
        for ev in &log.events {
            batch.add_event(ev, false);
        }
        let metrics = batch.metrics();
        let attempts = metrics
            .iter()
            .find(|m| m.name == "offload.attempt.count")
            .unwrap();
        let Data::Sum(points) = &attempts.data else {
            panic!()
        };
        let mut windows: Vec<(u64, u64)> = points.iter().map(|p| (p.start_ns, p.time_ns)).collect();
        windows.sort();
        windows.dedup();
        assert_eq!(windows.len(), 3, "three hours had attempts: {windows:?}");
        for w in &windows {
            assert!(w.0 >= start && w.1 <= end && w.0 < w.1, "{w:?}");
            assert_eq!(
                w.0 / 3_600_000_000_000,
                (w.1 - 1) / 3_600_000_000_000,
                "within one hour"
            );
        }
        for pair in windows.windows(2) {
            assert!(pair[0].1 <= pair[1].0, "no overlap: {pair:?}");
        }
        // The first window starts where the previous export ended, not at the hour.
        assert_eq!(windows[0].0, start);
    }

    #[test]
    fn totals_count_attempts_tokens_denials_and_unfinished() {
        let r = report(&sample(), None, &Utc);
        let t = &r.total;
        assert_eq!((t.attempts, t.successes, t.failures), (3, 2, 1));
        assert_eq!(t.success_rate, Some(0.6667));
        assert_eq!(t.tokens.input, 4500);
        assert_eq!(t.tokens.cached_input, 500 + 1500 + 250);
        assert_eq!(t.tokens.total, 4530);
        assert_eq!(t.median_duration_ms, Some(38_000));
        assert_eq!(t.denied.total, 3);
        assert_eq!(t.denied.by_tool["Edit"], 2);
        assert_eq!(t.would_deny.describe(), "Write 1");
        assert_eq!(t.denied.describe(), "Edit 2, Agent 1");
        assert_eq!((t.turns, t.approvals), (1, 1));
        assert_eq!(t.outcomes["failed"], 1);
        assert_eq!(r.unfinished, 1, "a4 never finished");
        assert_eq!(r.events, 13);
        assert_eq!(t.first, Some(ts("2026-11-01T09:00:00Z")));
        assert_eq!(
            t.last,
            Some(ts("2026-11-04T08:00:00Z")),
            "unknown kinds and starts do not count"
        );
    }

    /// The user's stops are counted apart: not attempts, not failures, not in the success
    /// rate nor the median; their tokens count.
    #[test]
    fn interrupted_attempts_are_counted_apart() {
        let mut l = sample();
        l.events.push(finished(
            "2026-11-04T09:00:00Z",
            Some("s1"),
            "a9",
            "gpt-5.4",
            Outcome::Interrupted,
            900_000,
            70,
        ));
        let r = report(&l, None, &Utc);
        let t = &r.total;
        assert_eq!(
            (t.attempts, t.successes, t.failures, t.interrupted),
            (3, 2, 1, 1)
        );
        assert_eq!(t.success_rate, Some(0.6667));
        assert_eq!(t.median_duration_ms, Some(38_000));
        assert_eq!(t.outcomes["interrupted"], 1);
        assert_eq!(t.tokens.input, 4570);
        let model = r
            .by_model
            .iter()
            .find(|g| g.key.as_deref() == Some("gpt-5.4"))
            .unwrap();
        assert_eq!((model.attempts, model.interrupted), (1, 1));
        assert_eq!(r.by_session[0].interrupted, 1);
    }

    /// Denials count by reason code as well as by tool; a reason that is not a code counts as
    /// `unknown`.
    #[test]
    fn denials_by_reason() {
        let why = |at: &str, tool: &str, reason: &str, warn: bool| {
            ev(
                at,
                Some("s1"),
                Body::GuardDenied {
                    tool: tool.into(),
                    reason: reason.into(),
                    warn,
                },
            )
        };
        let r = report(
            &log(vec![
                why("2026-11-01T09:00:00Z", "Edit", "route-first", false),
                why("2026-11-01T09:00:01Z", "Edit", "fail-closed", false),
                why("2026-11-01T09:00:02Z", "Bash", "fail-closed", false),
                why("2026-11-01T09:00:03Z", "Bash", "tamper", false),
                why("2026-11-01T09:00:04Z", "Bash", "codex-running", false),
                why("2026-11-01T09:00:05Z", "Write", "plan-invalid", false),
                why("2026-11-01T09:00:06Z", "Bash", "analysis-limit", false),
                why("2026-11-01T09:00:07Z", "Edit", "", false),
                why("2026-11-01T09:00:08Z", "Edit", "Denied: see above", false),
                why("2026-11-01T09:00:09Z", "Bash", "effect", true),
            ]),
            None,
            &Utc,
        );
        let d = &r.total.denied;
        assert_eq!(d.total, 9);
        assert_eq!(
            d.describe_reasons(),
            "fail-closed 2, unknown 2, analysis-limit 1, codex-running 1, plan-invalid 1, route-first 1, tamper 1"
        );
        assert_eq!(d.describe(), "Bash 4, Edit 4, Write 1");
        assert_eq!(r.total.would_deny.describe_reasons(), "effect 1");
        assert_eq!(r.by_session[0].denied.by_reason["fail-closed"], 2);
        assert_eq!(reason_key("  route-first "), "route-first");
        assert_eq!(reason_key(&"x".repeat(41)), "unknown");
    }

    /// A session's project: its newest turn's, else its newest attempt's folder; the same
    /// when the log is folded in parts.
    #[test]
    fn sessions_name_their_project() {
        let turn = |at: &str, s: &str, project: Option<&str>| {
            ev(
                at,
                Some(s),
                Body::TurnStarted {
                    prompt_id: None,
                    project: project.map(str::to_owned),
                },
            )
        };
        let mut l = sample();
        l.events
            .push(turn("2026-11-05T09:00:00Z", "s2", Some("/p/new")));
        l.events.push(turn("2026-11-05T09:01:00Z", "s2", None));
        let r = report(&l, None, &Utc);
        let project = |key: Option<&str>| {
            r.by_session
                .iter()
                .find(|g| g.key.as_deref() == key)
                .unwrap()
                .project
                .clone()
        };
        assert_eq!(
            project(Some("s1")).as_deref(),
            Some("/w"),
            "from its attempts"
        );
        assert_eq!(project(Some("s2")).as_deref(), Some("/p/new"), "its turn's");
        assert_eq!(project(None).as_deref(), Some("/w"));
        assert_eq!(r.total.project, None);
        assert!(r.by_day.iter().all(|g| g.project.is_none()));
        // Folded in two parts, the later part's newer turn wins.
        let (a, b) = l.events.split_at(8);
        let mut first = Folder::new(None, Utc);
        a.iter().for_each(|e| first.add(e));
        let mut second = Folder::new(None, Utc);
        b.iter().for_each(|e| second.add(e));
        first.merge(second);
        assert_eq!(first.finish(0, false), r);
    }

    #[test]
    fn groups_by_day_session_and_model() {
        let r = report(&sample(), None, &Utc);
        let days: Vec<_> = r
            .by_day
            .iter()
            .map(|g| (g.key.as_deref().unwrap(), g.attempts, g.denied.total))
            .collect();
        assert_eq!(
            days,
            [
                ("2026-11-01", 2, 1),
                ("2026-11-02", 0, 2),
                ("2026-11-04", 1, 0)
            ]
        );
        let sessions: Vec<_> = r
            .by_session
            .iter()
            .map(|g| (g.key.as_deref(), g.attempts))
            .collect();
        assert_eq!(sessions, [(Some("s1"), 1), (Some("s2"), 1), (None, 1)]);
        let s2 = &r.by_session[1];
        assert_eq!(
            (s2.denied.total, s2.would_deny.total, s2.approvals),
            (2, 1, 1)
        );
        let models: Vec<_> = r
            .by_model
            .iter()
            .map(|g| (g.key.as_deref().unwrap(), g.attempts, g.success_rate))
            .collect();
        assert_eq!(
            models,
            [("gpt-5.3-codex", 2, Some(1.0)), ("gpt-5.4", 1, Some(0.0))]
        );
        assert_eq!(r.by_model[0].median_duration_ms, Some(29_000));
        assert_eq!(r.by_model[0].denied.total, 0, "denials have no model");
    }

    #[test]
    fn days_are_local_days() {
        // 23:30 UTC on the 1st is the 2nd two hours east of Greenwich.
        let east = FixedOffset::east_opt(2 * 3600).unwrap();
        let r = report(&sample(), None, &east);
        let day_of_a2 = r.by_day.iter().find(|g| g.tokens.input == 3000).unwrap();
        assert_eq!(day_of_a2.key.as_deref(), Some("2026-11-02"));
    }

    #[test]
    fn since_leaves_older_events_out() {
        let r = report(&sample(), Some(ts("2026-11-02T00:00:00Z")), &Utc);
        assert_eq!(r.total.attempts, 1);
        assert_eq!(r.total.denied.total, 2);
        assert_eq!(r.by_day.len(), 2);
        assert_eq!(r.events, 7);
        assert_eq!(r.unfinished, 1);
        let empty = report(&sample(), Some(ts("2027-01-01T00:00:00Z")), &Utc);
        assert!(empty.total.is_empty());
        assert_eq!(empty.total.success_rate, None);
        assert_eq!(empty.total.median_duration_ms, None);
    }

    #[test]
    fn log_damage_is_reported() {
        let mut l = sample();
        l.skipped = 2;
        l.torn_tail = true;
        let r = report(&l, None, &Utc);
        assert_eq!((r.skipped_lines, r.torn_tail), (2, true));
    }

    #[test]
    fn json_shape_is_stable() {
        let r = report(&sample(), None, &Utc);
        let v = serde_json::to_value(&r).unwrap();
        let keys = |v: &serde_json::Value, want: &[&str]| {
            let mut got: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
            got.sort();
            want.sort();
            assert_eq!(got, want);
        };
        keys(
            &v,
            &[
                "schema",
                "since",
                "events",
                "skipped_lines",
                "torn_tail",
                "unfinished",
                "future_events",
                "total",
                "by_day",
                "by_session",
                "by_model",
            ],
        );
        keys(
            &v["total"],
            &[
                "key",
                "first",
                "last",
                "turns",
                "attempts",
                "successes",
                "failures",
                "interrupted",
                "success_rate",
                "outcomes",
                "tokens",
                "median_duration_ms",
                "approvals",
                "denied",
                "would_deny",
                "project",
            ],
        );
        keys(
            &v["total"]["tokens"],
            &["input", "cached_input", "output", "reasoning", "total"],
        );
        keys(&v["total"]["denied"], &["total", "by_tool", "by_reason"]);
        let text = serde_json::to_string(&r).unwrap();
        assert!(text.starts_with("{\"schema\":1,\"since\":null,"), "{text}");
        assert_eq!(v["by_session"][2]["key"], serde_json::Value::Null);
        assert_eq!(v["total"]["denied"]["by_tool"]["Agent"], 1);
        assert_eq!(v["total"]["first"], "2026-11-01T09:00:00Z");
    }

    #[test]
    fn medians() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [5]), Some(5));
        assert_eq!(median(&mut [9, 1, 5]), Some(5));
        assert_eq!(median(&mut [4, 1, 3, 2]), Some(2));
        assert_eq!(median(&mut [u64::MAX, u64::MAX]), Some(u64::MAX));
    }

    #[test]
    fn since_forms() {
        let now = ts("2026-11-24T12:00:00Z");
        assert_eq!(
            parse_since("2026-11-01", now, &Utc).unwrap(),
            ts("2026-11-01T00:00:00Z")
        );
        let east = FixedOffset::east_opt(3600).unwrap();
        assert_eq!(
            parse_since("2026-11-01", now, &east).unwrap(),
            ts("2026-10-31T23:00:00Z")
        );
        assert_eq!(
            parse_since("2026-11-02T09:30:00+01:00", now, &Utc).unwrap(),
            ts("2026-11-02T08:30:00Z")
        );
        assert_eq!(
            parse_since("7d", now, &Utc).unwrap(),
            ts("2026-11-17T12:00:00Z")
        );
        assert_eq!(
            parse_since(" 12h ", now, &Utc).unwrap(),
            ts("2026-11-24T00:00:00Z")
        );
        assert_eq!(
            parse_since("7", now, &Utc).unwrap(),
            parse_since("7d", now, &Utc).unwrap(),
            "a bare number is days"
        );
        for bad in [
            "4294967296",
            "100001",
            "",
            "yesterday",
            "2026-13-01",
            "7 parsecs",
            "-3d",
            "1e20",
            "NaN",
            "-1",
            "18446744073709551615s",
            "99999999999999999999999d",
            "300000y",
        ] {
            let e = parse_since(bad, now, &Utc).unwrap_err();
            assert!(e.contains("7d"), "{bad}: {e}");
        }
    }

    #[test]
    fn daily_series_fills_gaps_and_keeps_the_newest_days() {
        let r = report(&sample(), None, &Utc);
        let series = daily_attempts(&r.by_day, 60);
        let counts: Vec<u64> = series.iter().map(|d| d.1).collect();
        assert_eq!(counts, [2, 0, 0, 1]);
        assert_eq!(series[2].0, NaiveDate::from_ymd_opt(2026, 11, 3).unwrap());
        assert_eq!(daily_attempts(&r.by_day, 2).len(), 2);
        assert!(daily_attempts(&[], 60).is_empty());
    }

    #[test]
    fn sparklines_and_bars() {
        assert_eq!(sparkline(&[2, 0, 0, 1]), "█  ▄");
        assert_eq!(sparkline(&[1, 2, 3, 4, 5, 6, 7, 8]), "▁▂▃▄▅▆▇█");
        assert_eq!(
            sparkline(&[1, 100]),
            "▁█",
            "a small non-zero value still shows"
        );
        assert_eq!(sparkline(&[0, 0]), "  ");
        assert_eq!(bar(1.0, 5), "█████");
        assert_eq!(bar(0.0, 5), "░░░░░");
        assert_eq!(bar(0.67, 5), "███▍░");
        assert_eq!(bar(0.5, 4), "██░░");
        assert_eq!(bar(f64::NAN, 3), "░░░");
        assert_eq!(bar(2.0, 3), "███");
        for f in 0..=100 {
            assert_eq!(bar(f as f64 / 100.0, 5).chars().count(), 5, "{f}");
        }
    }
}
